"""``python -m model``: what the image runs (its ENTRYPOINT): the model server with the
worker's push routes (Pub/Sub pushes jobs to the predict path, dead letters to /dead-letter).
"""

import sys

from model import server, worker
from model.settings import Settings

sys.exit(server.serve(Settings.from_env(), extra_routes=worker.push_routes))

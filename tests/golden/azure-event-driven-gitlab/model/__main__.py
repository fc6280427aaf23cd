"""``python -m model``: what the image runs (its ENTRYPOINT).

The stack starts the same image as the queue worker (model/worker.py decides from the
variables it sets); anywhere else, e.g. on a laptop, it is the model server.
"""

import os
import sys

from model import server, worker

if worker.is_worker(os.environ):
    sys.exit(worker.main([]))
sys.exit(server.main())

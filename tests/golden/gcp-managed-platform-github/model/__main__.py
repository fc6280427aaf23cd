"""``python -m model``: what the image runs (its ENTRYPOINT): the model server.

SageMaker starts the image with the argument ``serve``; the server accepts it.
"""

import sys

from model.server import main

sys.exit(main())

"""``python -m model.healthcheck``: the image's HEALTHCHECK (exit 0 healthy, 1 not).

Docker and local runs use it; the platforms probe the health path themselves (the load
balancer, Container Apps, Cloud Run, SageMaker, Vertex AI, Azure Machine Learning).
"""

from __future__ import annotations

import http.client
import os
import sys

from model.settings import Settings


def healthy(settings: Settings, timeout: float = 2.0) -> bool:
    """True when the server in this container answers its health path with 200."""
    connection = http.client.HTTPConnection("127.0.0.1", settings.port, timeout=timeout)
    try:
        connection.request("GET", settings.health_path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def main() -> int:
    """Exit 0 when healthy. A queue worker serves no HTTP: its running process is its health."""
    try:
        from model import worker

        if getattr(worker, "is_worker", lambda _env: False)(os.environ):
            return 0
    except ImportError:  # only event-driven projects have a worker module
        pass
    return 0 if healthy(Settings.from_env()) else 1


if __name__ == "__main__":
    sys.exit(main())

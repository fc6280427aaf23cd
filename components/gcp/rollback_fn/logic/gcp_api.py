"""The rollback function's credential: its own identity, from the metadata server.

Every call goes through ``release_watch.http_client`` (shipped beside this package), so the
function and the pipeline's watch read the same APIs the same way and fail with the same
``ApiError``.
"""

from __future__ import annotations

import json
import urllib.request

# The metadata server's endpoint that hands the function's identity a short-lived credential.
METADATA_CREDENTIAL_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)


def metadata_token() -> str:
    """A fresh access token of the function's service account."""
    request = urllib.request.Request(METADATA_CREDENTIAL_URL, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 # nosec B310 - fixed URL
        return str(json.load(response)["access_token"])

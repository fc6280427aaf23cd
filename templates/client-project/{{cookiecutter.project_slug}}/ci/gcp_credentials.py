"""Print a GCP external-account credential file for GitLab's OIDC token (no gcloud needed).

Reads GCP_WORKLOAD_IDENTITY_PROVIDER and GCP_SERVICE_ACCOUNT (CI variables of the environment)
and points at the token the job wrote to $CI_PROJECT_DIR/.oidc-token. No secret is printed: the
file only says where the short-lived token is and which service account to impersonate.
"""

from __future__ import annotations

import json
import os


def credential_config() -> dict[str, object]:
    """The external_account configuration Google's client libraries read."""
    provider = os.environ["GCP_WORKLOAD_IDENTITY_PROVIDER"]
    account = os.environ["GCP_SERVICE_ACCOUNT"]
    return {
        "type": "external_account",
        "audience": f"//iam.googleapis.com/{provider}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"file": os.path.join(os.environ["CI_PROJECT_DIR"], ".oidc-token")},
        "service_account_impersonation_url": (
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
            f"{account}:generateAccessToken"
        ),
    }


if __name__ == "__main__":
    print(json.dumps(credential_config(), indent=2))

"""Service account tokens are mounted only where a pod calls the API server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import canonical_type, resource_rule
from policies.rules.kubernetes._common import SERVICE_ACCOUNT, UNKNOWN, WORKLOADS, pod_spec, read
from policies.rules.references import checkov, cis

FIELD = "automountServiceAccountToken"


def _token_mounted(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if canonical_type(args.resource_type) == SERVICE_ACCOUNT:
        value = read(props, FIELD)
        # Unset means true: every pod running as the account gets its API token.
        if value is not False and value is not UNKNOWN:
            shown = "unset (true)" if value is None else str(value).lower()
            yield (
                f"the service account mounts its API token into every pod that runs as it: "
                f"`{FIELD}` is {shown}; set it to false."
            )
        return
    pod = pod_spec(props, args.resource_type)
    if pod is not None and read(pod, FIELD) is True:
        yield (
            f"the pod sets `{FIELD}` = true: a compromised container holds a credential for "
            "the API server; drop it (a pod that calls the API mounts a projected, "
            "short-lived token volume)."
        )


service_account_token = resource_rule(
    "k8s-service-account-token",
    "Service accounts set `automountServiceAccountToken: false`, and no pod turns it back on.",
    types=[SERVICE_ACCOUNT, *WORKLOADS],
    check=_token_mounted,
    severity=Severity.MEDIUM,
    tags=["least-privilege", "authentication"],
    references=[cis("kubernetes", "5.1.6"), checkov("CKV_K8S_38")],
    remediation=(
        "Create every ServiceAccount with `automount_service_account_token=False` and leave "
        "the pod's field unset. A workload that must call the API server mounts a projected "
        "`service_account_token` volume (its own audience, a short expiry) instead, or is "
        "waived with the reason."
    ),
    since=3,
)

"""Service account tokens are mounted only where a pod calls the API server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import canonical_type, resource_rule
from policies.rules.kubernetes._common import SERVICE_ACCOUNT, UNKNOWN, WORKLOADS, pod_spec, read
from policies.rules.references import checkov, cis

FIELD = "automountServiceAccountToken"
# The account every namespace holds and a pod runs as when it names none: created by the
# cluster, not by the stack, so nothing here turns its automounting off.
DEFAULT_ACCOUNT = "default"


def _account(pod: Mapping[str, Any]) -> Any:
    """The service account the pod runs as: ``serviceAccountName``, else the deprecated
    ``serviceAccount`` alias, else the namespace's ``default``."""
    for field in ("serviceAccountName", "serviceAccount"):
        name = read(pod, field)
        if name is not None and name != "":
            return name
    return DEFAULT_ACCOUNT


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
    if pod is None:
        return
    mounted = read(pod, FIELD)
    if mounted is True:
        yield (
            f"the pod sets `{FIELD}` = true: a compromised container holds a credential for "
            "the API server; drop it (a pod that calls the API mounts a projected, "
            "short-lived token volume)."
        )
    elif mounted is None and _account(pod) == DEFAULT_ACCOUNT:
        # A named account of the stack is judged above; the namespace's default account is
        # the cluster's, and mounts its token unless the pod says otherwise.
        yield (
            f'the pod runs as the namespace\'s "{DEFAULT_ACCOUNT}" service account and leaves '
            f"`{FIELD}` unset, so that account's API token is mounted into it; set "
            f"`{FIELD}` = false on the pod (or run it as an account of its own that turns it "
            "off)."
        )


service_account_token = resource_rule(
    "k8s-service-account-token",
    "Service accounts set `automountServiceAccountToken: false`, no pod turns it back on, and a "
    "pod running as the namespace's `default` account (named, or by naming none) sets it to "
    "false itself.",
    types=[SERVICE_ACCOUNT, *WORKLOADS],
    check=_token_mounted,
    severity=Severity.MEDIUM,
    tags=["least-privilege", "authentication"],
    references=[cis("kubernetes", "5.1.6"), checkov("CKV_K8S_38")],
    remediation=(
        "Create every ServiceAccount with `automount_service_account_token=False`, run each pod "
        "as one of them (`service_account_name`) and leave the pod's field unset; a pod that "
        "runs as the namespace's `default` account sets `automount_service_account_token="
        "False` itself. A workload that must call the API server mounts a projected "
        "`service_account_token` volume (its own audience, a short expiry) instead, or is "
        "waived with the reason."
    ),
    since=3,
)

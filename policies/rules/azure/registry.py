"""Azure container registries (rule 22)."""

from __future__ import annotations

from pulumi_policy import Severity

from policies.rules.base import resource_rule
from policies.rules.settings import Setting, settings_check

REGISTRY = "azure-native:containerregistry:Registry"

# Both default to off; only an explicit true opens the registry.
_ACCESS = {
    REGISTRY: (
        Setting("adminUserEnabled", (False,), unset_ok=True),
        Setting("anonymousPullEnabled", (False,), unset_ok=True),
    ),
}

acr_disable_admin_and_anonymous_pull = resource_rule(
    "azure-acr-disable-admin-and-anonymous-pull",
    "Container registries have the admin user and anonymous pull off.",
    types=_ACCESS,
    check=settings_check(_ACCESS, "registry must be reached with Entra identities only"),
    severity=Severity.HIGH,
    tags=["iam"],
    remediation=(
        "Set `admin_user_enabled=False` and `anonymous_pull_enabled=False`; grant AcrPull to the "
        "workload's managed identity."
    ),
)

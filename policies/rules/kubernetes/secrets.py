"""No secret values in the stack: a Secret's data comes from the client's secret store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from policies.rules.base import resource_rule
from policies.rules.kubernetes._common import SECRET, read
from policies.rules.references import cis

DATA_FIELDS: tuple[str, ...] = ("data", "stringData")


def _revealed(value: Any) -> Any:
    """A secret-wrapped wire value's content (pulumi_kubernetes marks both fields secret; the
    pack unwraps them, a raw capture keeps the wrapper)."""
    if isinstance(value, Mapping) and value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
        return value.get("value")
    return value


def _holds_values(value: Any) -> bool:
    """Anything but absent or an empty mapping: a value unknown at preview (a generated
    password) is a value all the same."""
    value = _revealed(value)
    return value is not None and not (isinstance(value, Mapping) and len(value) == 0)


def _plain_secret(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for field in DATA_FIELDS:
        if _holds_values(read(props, field)):
            yield (
                f"the Secret carries its values in the program (`{field}`): they sit in the "
                "Pulumi state and in every preview's inputs; let an External Secrets "
                "`ExternalSecret` (or the client's vault injector) create it from the "
                "secret store instead."
            )


no_plain_secrets = resource_rule(
    "k8s-no-plain-secrets",
    "The stack creates no Secret with `data` or `stringData`: secret values come from the "
    "client's secret store through External Secrets or the vault's injector.",
    types=[SECRET],
    check=_plain_secret,
    severity=Severity.HIGH,
    tags=["encryption", "key-management", "secrets"],
    references=[cis("kubernetes", "5.4.2")],
    remediation=(
        "Store the value in the client's secret store (Vault, a cloud secret manager) and "
        "declare an `ExternalSecret` (external-secrets.io) that names the store's key and the "
        "target Secret; the operator writes the Secret in the cluster, so the value never "
        "passes through the program or its state. Where the client runs a vault injector, "
        "annotate the pod for it instead."
    ),
    since=3,
)

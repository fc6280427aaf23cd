"""k8s-no-plain-secrets: a Secret that carries values in the program fails; one whose values
come from the secret store (an ExternalSecret writes it in the cluster) is never in the stack."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import pytest

from policies.rules.kubernetes import secrets
from tests.policies.test_kubernetes_common import Program, findings, judge, waiver

RULE = secrets.no_plain_secrets


def from_the_store() -> None:
    """What the kubernetes target does instead: External Secrets writes the Secret."""
    k8s.apiextensions.CustomResource(
        "model-api-key",
        api_version="external-secrets.io/v1",
        kind="ExternalSecret",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace="serving"),
        spec={
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
            "target": {"name": "model-api-key"},
            "data": [{"secretKey": "key", "remoteRef": {"key": "serving/model-api-key"}}],
        },
    )


def secret(**fields: Any) -> Program:
    return lambda: k8s.core.v1.Secret(
        "model-api-key", metadata=k8s.meta.v1.ObjectMetaArgs(namespace="serving"), **fields
    )


def test_an_external_secret_passes() -> None:
    assert judge(RULE, from_the_store) == set()


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"data": {}},
        # A service account token Secret: the cluster fills it in, the program holds nothing.
        {"type": "kubernetes.io/service-account-token"},
    ],
    ids=["empty", "empty-data", "token-placeholder"],
)
def test_a_secret_holding_no_values_passes(fields: dict[str, Any]) -> None:
    assert judge(RULE, secret(**fields)) == set()


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("stringData", {"string_data": {"key": "sk-not-from-the-store"}}),
        ("data", {"data": {"key": "c2stbm90LWZyb20tdGhlLXN0b3Jl"}}),
        ("data", {"type": "kubernetes.io/tls", "data": {"tls.crt": "LS0t", "tls.key": "LS0t"}}),
    ],
    ids=["string-data", "data", "tls"],
)
def test_a_secret_with_values_fails(field: str, fields: dict[str, Any]) -> None:
    (found,) = findings(RULE, secret(**fields))
    assert found[0] == "model-api-key"
    assert f"(`{field}`)" in found[1] and "ExternalSecret" in found[1]


def test_both_fields_are_named_and_a_waiver_skips_the_secret() -> None:
    program = secret(data={"a": "Yg=="}, string_data={"c": "d"})
    assert len(findings(RULE, program)) == 2
    assert judge(RULE, program, waiver("model-api-key")) == set()

"""k8s-service-account-token: service accounts turn token automounting off and no pod turns it
back on."""

from __future__ import annotations

import pulumi_kubernetes as k8s
import pytest

from policies.rules.kubernetes import service_accounts
from tests.policies.test_kubernetes_common import (
    DEPLOYMENT,
    POD_AT,
    Program,
    at,
    captured,
    changed,
    findings,
    judge,
    waiver,
)

RULE = service_accounts.service_account_token


def account(automount: bool | None) -> Program:
    return lambda: k8s.core.v1.ServiceAccount(
        "scorer",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace="serving"),
        automount_service_account_token=automount,
    )


def test_an_account_that_mounts_no_token_passes() -> None:
    assert judge(RULE, account(False)) == set()


@pytest.mark.parametrize(("automount", "shown"), [(None, "unset (true)"), (True, "true")])
def test_an_account_that_mounts_its_token_fails(automount: bool | None, shown: str) -> None:
    assert findings(RULE, account(automount)) == [
        (
            "scorer",
            "the service account mounts its API token into every pod that runs as it: "
            f"`automountServiceAccountToken` is {shown}; set it to false.",
        )
    ]


@pytest.mark.parametrize("kind", sorted(POD_AT))
def test_a_pod_that_turns_automounting_on_fails(kind: str) -> None:
    assert judge(RULE, [captured(kind)]) == set()  # the hardened pod leaves it unset
    pod = changed(captured(kind), **{at(kind, "automountServiceAccountToken"): True})
    assert judge(RULE, [pod]) == {"scorer"}


def test_a_pod_that_turns_it_off_passes() -> None:
    """(Unset passes too: the hardened pod leaves it unset, above.)"""
    pod = changed(captured(DEPLOYMENT), **{at(DEPLOYMENT, "automountServiceAccountToken"): False})
    assert judge(RULE, [pod]) == set()


def test_a_waived_operator_is_skipped() -> None:
    pod = changed(captured(DEPLOYMENT), **{at(DEPLOYMENT, "automountServiceAccountToken"): True})
    assert judge(RULE, [pod], waiver("scorer")) == set()

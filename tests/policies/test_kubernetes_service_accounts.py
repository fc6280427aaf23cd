"""k8s-service-account-token: service accounts turn token automounting off, no pod turns it
back on, and a pod running as the namespace's default account turns it off itself."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.rules.kubernetes import service_accounts
from tests.policies.test_kubernetes_common import (
    DEPLOYMENT,
    POD_AT,
    REMOVE,
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


# ---------------------------------------------------------------------------- the default account
# One change to the hardened pod (which runs as "scorer" and leaves the field unset) per case.
ON_DEFAULT: dict[str, dict[str, Any]] = {
    "no-account": {"serviceAccountName": REMOVE},
    "default-account": {"serviceAccountName": "default"},
    "empty-account": {"serviceAccountName": ""},
}
DEFAULT_MOUNTED = (
    'the pod runs as the namespace\'s "default" service account and leaves '
    "`automountServiceAccountToken` unset, so that account's API token is mounted into it; set "
    "`automountServiceAccountToken` = false on the pod (or run it as an account of its own that "
    "turns it off)."
)


def _pod(kind: str, **change: Any) -> Any:
    return changed(captured(kind), **{at(kind, k): v for k, v in change.items()})


@pytest.mark.parametrize("change", ON_DEFAULT.values(), ids=ON_DEFAULT.keys())
@pytest.mark.parametrize("kind", sorted(POD_AT))
def test_a_pod_on_the_default_account_with_its_token_mounted_fails(
    kind: str, change: dict[str, Any]
) -> None:
    assert findings(RULE, [_pod(kind, **change)]) == [("scorer", DEFAULT_MOUNTED)]


@pytest.mark.parametrize("change", ON_DEFAULT.values(), ids=ON_DEFAULT.keys())
def test_a_pod_on_the_default_account_that_turns_it_off_passes(change: dict[str, Any]) -> None:
    pod = _pod(DEPLOYMENT, automountServiceAccountToken=False, **change)
    assert judge(RULE, [pod]) == set()


def test_the_deprecated_service_account_field_names_the_account_too() -> None:
    """``serviceAccount`` (the old alias) names an account of the stack: not the default."""
    pod = _pod(DEPLOYMENT, serviceAccountName=REMOVE, serviceAccount="scorer")
    assert judge(RULE, [pod]) == set()


def test_an_account_name_unknown_at_preview_is_left_to_the_update_run() -> None:
    pod = _pod(DEPLOYMENT, serviceAccountName=UNKNOWN_STRING_VALUE)
    assert judge(RULE, [pod]) == set()


def test_a_waived_pod_on_the_default_account_is_skipped() -> None:
    pod = _pod(DEPLOYMENT, serviceAccountName="default")
    assert judge(RULE, [pod], waiver("scorer")) == set()

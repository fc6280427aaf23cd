"""The rollback webhook's Entra application reaches the stack, or `pulumi up` stops (review B1).

A stack that wires the Azure rollback webhook reads the application's object id from its config
(``rollbackWebhookAppObjectId``) or, unset, from the CI variable bootstrap's ``ci_variables``
names (``ROLLBACK_WEBHOOK_APP_OBJECT_ID``). Without either, a preview (and every offline check,
which runs as one) warns; a real `pulumi up` stops with one error naming the key and the
bootstrap README's section, before any part of the rollback path is declared.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from components.azure import rollout
from components.registry import component_for
from components.spec import Cloud, Environment, Pattern
from offline import capture as capture_module
from offline.capture import Capture, CapturedResource, ProgramError, capture
from tests.conftest import make_spec, of_type

OBJECT_ID = "0a0a0a0a-1111-4222-8333-444444444444"
CLIENT_ID = "0b0b0b0b-1111-4222-8333-444444444444"
CONFIG_OBJECT_ID = "0c0c0c0c-1111-4222-8333-444444444444"
WEBHOOK_PATTERNS = sorted(rollout.WEBHOOK_PATTERNS)


# A real `pulumi up` knows what Azure computes; the shared mocks synthesize it for previews only
# (unknown there), so an up run gets the host names the programs concatenate into URLs.
COMPUTED_HOSTS = {
    "defaultDomain": "mock.westeurope.azurecontainerapps.io",
    "hostName": "mock.z01.azurefd.net",
}


def _with_hosts(type_: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    out = SYNTHESIZED(type_, *args, **kwargs)
    if type_.startswith("azure-native:"):
        out.update(COMPUTED_HOSTS)
    return out


SYNTHESIZED = capture_module._synthesized_outputs


def run(
    pattern: Pattern,
    *,
    preview: bool,
    config: dict[str, str] | None = None,
    seen: list[CapturedResource] | None = None,
) -> Capture:
    spec = make_spec(Cloud.AZURE, pattern, Environment.PROD)

    def program() -> None:
        component_for(spec.cloud, spec.pattern)(spec.project, spec)

    with mock.patch.object(capture_module, "_synthesized_outputs", _with_hosts):
        return capture(
            program,
            project=spec.project,
            stack=spec.environment.value,
            region=spec.region,
            config={f"{spec.project}:{k}": v for k, v in (config or {}).items()},
            preview=preview,
            on_resource=seen.append if seen is not None else None,
        )


def receiver(cap: Capture) -> dict[str, Any]:
    (action,) = [
        g for g in of_type(cap.resources, "azure-native:monitor:ActionGroup")
        if g.name.endswith("-rollback-action")
    ]  # fmt: skip
    found: dict[str, Any] = action.inputs["webhookReceivers"][0]
    return found


@pytest.fixture(autouse=True)
def no_ci_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rollout.WEBHOOK_APP_OBJECT_ID_ENV, raising=False)
    monkeypatch.delenv(rollout.WEBHOOK_APP_CLIENT_ID_ENV, raising=False)


@pytest.mark.parametrize("pattern", WEBHOOK_PATTERNS)
def test_up_without_the_object_id_stops_before_anything_is_declared(
    pattern: Pattern,
) -> None:
    seen: list[CapturedResource] = []
    with pytest.raises(ProgramError) as raised:
        run(pattern, preview=False, seen=seen)
    message = str(raised.value)
    assert rollout.missing_webhook_app_message() in message
    # One clear error: the config key, the CI variable, and where the README explains it.
    assert f"`{rollout.WEBHOOK_APP_OBJECT_ID_CONFIG}` is not set" in message
    assert rollout.WEBHOOK_APP_OBJECT_ID_ENV in message
    assert "bootstrap/README.md" in message
    assert "The rollback webhook's Entra application" in message
    # Nothing was declared: an up that cannot finish creates nothing (API Management alone
    # takes most of an hour), not even the component's resource group.
    assert [r for r in seen if r.custom] == []


@pytest.mark.parametrize("pattern", WEBHOOK_PATTERNS)
def test_a_preview_without_the_object_id_still_runs_and_keeps_aad_auth(pattern: Pattern) -> None:
    # What `pulumi preview`, the tests and `aideploy check` see: a warning, not an error.
    found = receiver(run(pattern, preview=True))
    assert found["useAadAuth"] is True
    assert found.get("objectId") is None


def test_up_takes_the_ids_from_the_ci_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rollout.WEBHOOK_APP_OBJECT_ID_ENV, OBJECT_ID)
    monkeypatch.setenv(rollout.WEBHOOK_APP_CLIENT_ID_ENV, CLIENT_ID)
    cap = run(Pattern.API_FIRST, preview=False)
    found = receiver(cap)
    assert found["useAadAuth"] is True
    assert found["objectId"] == OBJECT_ID
    # The service accepts the identifier URI and the client id as audiences.
    (service,) = [
        a for a in of_type(cap.resources, "azure-native:app:ContainerApp")
        if a.name.endswith("-rollback")
    ]  # fmt: skip
    env = {e["name"]: e.get("value") for e in service.inputs["template"]["containers"][0]["env"]}
    assert env["ROLLBACK_WEBHOOK_AUDIENCES"] == f"{found['identifierUri']},{CLIENT_ID}"


def test_the_stack_config_wins_over_the_ci_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rollout.WEBHOOK_APP_OBJECT_ID_ENV, OBJECT_ID)
    config = {rollout.WEBHOOK_APP_OBJECT_ID_CONFIG: CONFIG_OBJECT_ID}
    found = receiver(run(Pattern.MANAGED_PLATFORM, preview=False, config=config))
    assert found["objectId"] == CONFIG_OBJECT_ID


def test_each_environment_has_its_own_identifier_uri() -> None:
    tenant = "44444444-4444-4444-4444-444444444444"
    uris = {rollout.webhook_identifier_uri(tenant, "acme", e.value) for e in Environment}
    assert len(uris) == len(Environment)
    assert all(u.startswith(f"api://{tenant}/") for u in uris)

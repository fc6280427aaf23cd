"""The embedded pattern's Azure blocks: the release channel (version-level immutability), the
signing key, and the device service's code (channel reads, user-delegation SAS, the two
routes) with fakes. Azure constraints the mocks would accept are encoded here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from typing import Any

import pytest

from components.azure import release_channel
from components.azure.device_fn import channel as ch
from components.azure.device_fn import server
from components.azure.embedded import AzureEmbedded
from components.spec import Cloud, Environment, Pattern
from offline.capture import CapturedResource, capture
from tests.conftest import make_spec, of_type

NS = "azure-native"


def run(settings: release_channel.ChannelSettings, env: Environment = Environment.PROD) -> Any:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, env).model_copy(
        update={"pattern": Pattern.EMBEDDED}
    )
    return capture(
        lambda: AzureEmbedded(spec.project, spec, channel=settings),
        project=spec.project,
        stack=env.value,
        region=spec.region,
    )


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    (found,) = of_type(resources, token)
    return found


# -- the channel ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        release_channel.ChannelSettings(),
        release_channel.ChannelSettings(release_channel.LockMode.COMPLIANCE, 365),
    ],
    ids=["governance-default", "compliance-on-request"],
)
def test_every_version_is_retained_for_the_chosen_days(
    settings: release_channel.ChannelSettings,
) -> None:
    resources = run(settings).resources
    container = one(resources, f"{NS}:storage:BlobContainer")
    assert container.inputs["immutableStorageWithVersioning"] == {"enabled": True}
    assert container.inputs["publicAccess"] == "None"
    assert container.inputs["metadata"][release_channel.LOCK_MODE_METADATA] == (
        settings.mode.value.lower()
    )
    policy = one(resources, f"{NS}:storage:BlobContainerImmutabilityPolicy")
    assert policy.inputs["immutabilityPeriodSinceCreationInDays"] == settings.retention_days
    assert policy.inputs["immutabilityPolicyName"] == "default"  # the only name Azure takes
    assert policy.inputs.get("allowProtectedAppendWrites") is False
    # Azure cannot create a locked policy: compliance is the same unlocked policy plus the
    # request recorded on the container (locked out of band; release_channel docstring).
    assert "isLocked" not in policy.inputs and "state" not in policy.inputs


def test_immutability_waits_for_versioning_on_the_account() -> None:
    """Azure refuses version-level immutability on a container of an unversioned account."""
    resources = run(release_channel.ChannelSettings()).resources
    (versioning,) = [
        r for r in of_type(resources, f"{NS}:storage:BlobServiceProperties")
        if r.name.endswith("-releases-versioning")
    ]  # fmt: skip
    assert versioning.inputs["isVersioningEnabled"] is True
    assert versioning.inputs["deleteRetentionPolicy"]["enabled"] is True
    container = one(resources, f"{NS}:storage:BlobContainer")
    assert versioning.urn in container.dependencies


def test_the_channel_account_is_private_entra_only_and_cmk_encrypted() -> None:
    resources = run(release_channel.ChannelSettings()).resources
    account = one(resources, f"{NS}:storage:StorageAccount").inputs
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["enableHttpsTrafficOnly"] is True
    assert account["encryption"]["keySource"] == "Microsoft.Keyvault"


def test_retention_days_are_what_azure_accepts() -> None:
    with pytest.raises(ValueError, match="146000"):
        release_channel.ChannelSettings(retention_days=0)
    with pytest.raises(ValueError):
        release_channel.ChannelSettings(retention_days=146_001)


# -- the signing key -----------------------------------------------------------------------
def test_the_signing_key_is_an_hsm_p256_key_for_signing_only_in_a_premium_rbac_vault() -> None:
    resources = run(release_channel.ChannelSettings()).resources
    (key,) = [r for r in of_type(resources, f"{NS}:keyvault:Key") if r.name.endswith("signing-key")]
    props = key.inputs["properties"]
    assert props["kty"] == "EC-HSM" and props["curveName"] == "P-256"
    assert sorted(props["keyOps"]) == ["sign", "verify"]
    assert "rotationPolicy" not in props  # devices pin the public key: no silent new version
    (vault,) = [r for r in of_type(resources, f"{NS}:keyvault:Vault") if r.name.endswith("sign-kv")]
    vp = vault.inputs["properties"]
    assert vp["sku"]["name"] == "premium"  # EC-HSM needs a Premium vault
    assert vp["enableRbacAuthorization"] is True and vp["enablePurgeProtection"] is True
    # The key is created after the deployer's key-creator grant has propagated.
    wait = next(r for r in resources if r.name.endswith("sign-kv-deployer-wait"))
    assert wait.urn in key.dependencies


def test_key_names_are_per_stack_for_soft_delete() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.DEV)
    name = release_channel.signing_key_name(spec)
    assert spec.environment.value in name
    if spec.suffix is not None:
        assert name.endswith(spec.suffix)


# -- the device service --------------------------------------------------------------------
KEY_VALUE = base64.b64encode(b"k" * 32).decode()
DELEGATION_XML = (
    "<?xml version='1.0' encoding='utf-8'?><UserDelegationKey>"
    "<SignedOid>oid</SignedOid><SignedTid>tid</SignedTid>"
    "<SignedStart>2026-01-01T00:00:00Z</SignedStart><SignedExpiry>2026-01-01T06:00:00Z"
    "</SignedExpiry><SignedService>b</SignedService><SignedVersion>2022-11-02</SignedVersion>"
    f"<Value>{KEY_VALUE}</Value></UserDelegationKey>"
).encode()
NOW = 1767225600.0  # 2026-01-01T00:00:00Z
POINTER = {"version": "1.2.0", "sequence": 7, "prefix": "releases/1.2.0/abc/", "files": ["m.onnx"]}


class FakeStorage:
    """Answers Get Blob and Get User Delegation Key; records the calls."""

    def __init__(self, pointer_status: int = 200, key_status: int = 200) -> None:
        self.pointer_status, self.key_status = pointer_status, key_status
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def __call__(
        self, method: str, url: str, headers: Any, body: bytes | None
    ) -> tuple[int, bytes]:
        self.calls.append((method, url, dict(headers)))
        if "comp=userdelegationkey" in url:
            assert method == "POST" and body is not None and b"<KeyInfo>" in body
            return self.key_status, DELEGATION_XML
        assert url.endswith("/models/releases/LATEST.json")
        return self.pointer_status, json.dumps(POINTER).encode()


def channel(storage: FakeStorage) -> ch.Channel:
    return ch.Channel("acct", "models", lambda: "token", storage, clock=lambda: NOW)


def test_latest_release_answers_with_signed_urls_of_the_bundle_and_each_file() -> None:
    storage = FakeStorage()
    status, body = server.release_answer(channel(storage), 300)
    assert status == 200
    assert body["version"] == "1.2.0" and body["sequence"] == 7 and body["expires_in"] == 300
    bundle = urllib.parse.urlsplit(body["bundle"])
    assert bundle.netloc == "acct.blob.core.windows.net"
    assert bundle.path == "/models/releases/1.2.0/abc/bundle.json"
    assert set(body["files"]) == {"m.onnx"}
    query = dict(urllib.parse.parse_qsl(bundle.query))
    assert query["sp"] == "r" and query["spr"] == "https" and query["sr"] == "b"
    assert query["se"] == "2026-01-01T00:05:00Z"
    assert query["skoid"] == "oid" and query["sktid"] == "tid"
    # Every call carries the identity's bearer token and the storage version.
    assert all(c[2]["Authorization"] == "Bearer token" for c in storage.calls)
    # One delegation key serves every URL of the answer.
    assert sum("userdelegationkey" in c[1] for c in storage.calls) == 1


def test_the_sas_signature_is_over_the_documented_string_to_sign() -> None:
    """Service version 2020-12-06+: permissions, start, expiry, canonical resource, the six
    key fields, three empty user/correlation fields, IP, protocol, version, resource,
    snapshot time, encryption scope and the five response headers."""
    key = ch.parse_delegation_key(DELEGATION_XML)
    url = ch.sas_url("acct", "models", "releases/x/bundle.json", key, "S", "E")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    expected = "\n".join(
        ["r", "S", "E", "/blob/acct/models/releases/x/bundle.json", "oid", "tid",
         "2026-01-01T00:00:00Z", "2026-01-01T06:00:00Z", "b", "2022-11-02", "", "", "", "",
         "https", "2022-11-02", "b", "", "", "", "", "", "", ""]
    )  # fmt: skip
    digest = hmac.new(base64.b64decode(KEY_VALUE), expected.encode(), hashlib.sha256).digest()
    assert query["sig"] == base64.b64encode(digest).decode()


def test_urls_never_outlive_an_hour_and_the_key_outlives_the_url() -> None:
    storage = FakeStorage()
    c = channel(storage)
    url = c.url("releases/x", 10 * 3600)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["se"] == "2026-01-01T01:00:00Z"
    assert ch.parse_delegation_key(DELEGATION_XML).expires_at >= NOW + 3600


def test_before_the_first_release_the_answer_is_404() -> None:
    assert server.release_answer(channel(FakeStorage(pointer_status=404)), 300)[0] == 404


@pytest.mark.parametrize("storage", [FakeStorage(pointer_status=403), FakeStorage(key_status=403)])
def test_an_unreadable_channel_is_502_without_internals(storage: FakeStorage) -> None:
    status, body = server.release_answer(channel(storage), 300)
    assert status == 502 and "403" not in json.dumps(body)


REPORT = {"device": "install-1", "model_version": "1.2.0", "sequence": 3, "app_version": "3.0",
          "signature_failures": 1, "drift": 0.5}  # fmt: skip


def test_a_valid_report_becomes_one_line_of_metrics() -> None:
    lines: list[str] = []
    status, _ = server.telemetry_answer(
        json.dumps(REPORT).encode(), lambda: 7, "prod", lines.append
    )
    assert status == 202
    (line,) = lines
    record = json.loads(line)
    assert record["event"] == "device-report" and record["environment"] == "prod"
    assert record["SignatureFailures"] == 1.0 and record["Drift"] == 0.5
    assert record["StaleDevices"] == 1.0  # 3 + 2 <= 7
    assert "install-1" not in line  # the install id is stored hashed only


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", json.dumps({**REPORT, "drift": 2}).encode(), b"\xff\xfe"],
    ids=["not-json", "not-object", "out-of-range", "not-utf8"],
)
def test_an_invalid_report_is_400_and_writes_nothing(raw: bytes) -> None:
    lines: list[str] = []
    status, body = server.telemetry_answer(raw, lambda: None, "prod", lines.append)
    assert status == 400 and body["error"] and lines == []


def test_an_oversized_report_is_413() -> None:
    raw = json.dumps({**REPORT, "app_version": "x" * 5000}).encode()
    assert server.telemetry_answer(raw, lambda: None, "prod", print)[0] == 413


def test_the_sequence_is_read_at_most_once_a_minute_and_missing_means_none() -> None:
    storage = FakeStorage()
    clock = iter([0.0, 30.0, 61.0])
    latest = server.SequenceCache(channel(storage), clock=lambda: next(clock))
    assert [latest(), latest(), latest()] == [7, 7, 7]
    assert len(storage.calls) == 2
    assert server.SequenceCache(channel(FakeStorage(pointer_status=404)))() is None


def test_the_identity_token_comes_from_the_platform_endpoint_for_the_service_identity() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def send(method: str, url: str, headers: Any, body: Any) -> tuple[int, bytes]:
        seen.append((url, dict(headers)))
        return 200, json.dumps({"access_token": "tok", "expires_on": str(NOW + 3600)}).encode()

    token = ch.IdentityToken("client-1", "http://localhost:42356/msi/token", "h", send, lambda: NOW)
    assert token() == "tok" and token() == "tok"
    assert len(seen) == 1
    url, headers = seen[0]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query == {"resource": "https://storage.azure.com/", "api-version": "2019-08-01",
                     "client_id": "client-1"}  # fmt: skip
    assert headers == {"X-IDENTITY-HEADER": "h"}


def test_only_https_leaves_the_replica() -> None:
    with pytest.raises(ch.ChannelError):
        ch.urllib_send("GET", "http://acct.blob.core.windows.net/x", {}, None)

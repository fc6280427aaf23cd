"""The GCP embedded component composed from its blocks, under mocks, in every environment: the
whole pack passes at the environment's levels with the component's declared waivers, the seams
between the component and its functions hold (settings, identities, grants, the gateway's
document), the alarms reach their tiers, the names fit GCP's limits, and the two handlers
answer as the AWS ones do."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from components import embedded_telemetry
from components import release_manifest as rm
from components.alarms import Tier
from components.bootstrap import DEPLOYERS
from components.gcp import delivery, prerequisites
from components.gcp.embedded import POLICY_WAIVERS, GcpEmbedded, policy_waivers
from components.release_channels import GcsChannel
from components.release_signers import GcpKmsSigner
from components.spec import RELEASE_OUTPUTS, Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import GCP_PROJECT, Capture, CapturedResource, capture
from policies import pack
from policies.rules import all_policies
from tests.components.test_gcp_bootstrap import _bootstrap, bootstrap_specs, member_of
from tests.conftest import make_spec, of_type
from tests.policies.harness import evaluate
from tests.unit.test_release_channels import BUCKET as FAKE_BUCKET
from tests.unit.test_release_channels import FakeGcs

# The telemetry function imports the neutral module by the name it is shipped under.
sys.modules.setdefault("embedded_telemetry", embedded_telemetry)
from components.gcp.release_fn import main as release_fn  # noqa: E402
from components.gcp.telemetry_fn import main as telemetry_fn  # noqa: E402

POLICIES = all_policies()
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
BUCKET_GRANT = "gcp:storage/bucketIAMMember:BucketIAMMember"


def embedded_spec(environment: Environment, project: str | None = None) -> DeploymentSpec:
    """The sample project's spec for the embedded pattern (the api-first sample with its
    pattern changed and no domain: the device API has the gateway's own host name)."""
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, environment)
    update: dict[str, Any] = {
        "pattern": Pattern.EMBEDDED,
        "api": spec.api.model_copy(update={"domain": None}),
    }
    if project is not None:
        update["project"] = project
    return spec.model_copy(update=update)


_CACHE: dict[tuple[Environment, str | None], Capture] = {}


def run(environment: Environment, project: str | None = None) -> Capture:
    if (environment, project) not in _CACHE:
        spec = embedded_spec(environment, project)
        _CACHE[(environment, project)] = capture(
            lambda: GcpEmbedded(spec.project, spec),
            project=spec.project,
            stack=environment.value,
            region=spec.region,
        )
    return _CACHE[(environment, project)]


def named(resources: list[CapturedResource], name: str) -> CapturedResource:
    (found,) = [r for r in resources if r.name == name]
    return found


def pack_config(environment: Environment, waivers: bool = True) -> dict[str, Any]:
    spec = embedded_spec(environment)
    levels = json.loads(pack.config_path(environment.value).read_text())
    config: dict[str, Any] = {name: {"waivers": []} for name in levels}
    if waivers:
        config.update(policy_waivers(spec.project))
    for p in POLICIES:
        schema = (p.config_schema and p.config_schema.properties) or {}
        if "minimumRetentionDays" in schema:
            config[p.name]["minimumRetentionDays"] = spec.retention.log_days
    return config


def mandatory(environment: Environment, waivers: bool = True) -> list[tuple[str, str]]:
    levels = json.loads(pack.config_path(environment.value).read_text())
    findings = evaluate(POLICIES, run(environment).resources, pack_config(environment, waivers))
    return sorted(
        (f.policy, f.resource_name) for f in findings
        if levels.get(f.policy, {}).get("enforcementLevel") == "mandatory"
    )  # fmt: skip


# -- the pack ------------------------------------------------------------------------------------
@pytest.mark.parametrize("environment", list(Environment), ids=lambda e: e.value)
def test_embedded_stack_passes_the_whole_pack(environment: Environment) -> None:
    assert mandatory(environment) == []


def test_without_its_waivers_prod_fails_exactly_where_the_waivers_say() -> None:
    """Each waiver is needed and names a resource that exists: nothing more is waived."""
    found = mandatory(Environment.PROD, waivers=False)
    waived = {
        (rule, f"acme-support-{role}") for rule, entries in POLICY_WAIVERS.items()
        for role, _ in entries
    }  # fmt: skip
    audit = {(r, w["resource"]) for r, e in policy_waivers("acme-support").items()
             for w in e["waivers"]} - waived  # fmt: skip
    assert waived <= set(found)
    assert set(found) <= waived | audit
    names = {r.name for r in run(Environment.PROD).resources}
    assert {resource for _, resource in waived | audit} <= names


# -- outputs -------------------------------------------------------------------------------------
def test_outputs_are_registered_exactly() -> None:
    cap = run(Environment.STAGING)
    (component,) = [r for r in cap.resources if r.type == "aideploy:gcp:Embedded"]
    outputs = cap.outputs[component.urn]
    declared = set(embedded_spec(Environment.STAGING).outputs)
    assert set(outputs) == declared and set(RELEASE_OUTPUTS) <= declared
    # Under mocks a bucket's name is its logical name (GCP would add a random suffix).
    assert outputs["artifact_bucket"] == "acme-support-releases"
    assert outputs["model_package_uri"] == "gs://acme-support-releases/releases/"
    # Exactly what the CI signer takes (`gcpkms:` and a key version) and its channel.
    scheme, _, key = outputs["signing_key"].partition(":")
    assert scheme == "gcpkms"
    GcpKmsSigner(key)
    assert key.startswith(f"projects/{GCP_PROJECT}/locations/europe-west1/")
    assert key.endswith("/cryptoKeys/acme-support-signing/cryptoKeyVersions/1")
    assert outputs["release_channel"] == "gs://acme-support-releases"
    reader = prerequisites.runtime_account_id("acme-support", Environment.STAGING, "release-reader")
    assert outputs["release_reader"] == f"{reader}@{GCP_PROJECT}.iam.gserviceaccount.com"
    # device_api_url is https://<the gateway's default host name>, which only GCP knows.


# -- seams ---------------------------------------------------------------------------------------
def test_each_device_function_is_given_exactly_the_settings_its_code_reads() -> None:
    sources = {
        "acme-support-dl-fn": (delivery.HANDLER_DIR / "main.py").read_text(),
        "acme-support-telemetry-fn": (delivery.TELEMETRY_DIR / "main.py").read_text(),
    }
    functions = {r.name: r for r in of_type(run(Environment.PROD).resources, FUNCTION)}
    for name, source in sources.items():
        read = set(re.findall(r"os\.environ(?:\.get\()?\[?\(?\"([A-Z_]+)\"", source))
        given = set(functions[name].inputs["serviceConfig"]["environmentVariables"])
        assert read and read == given, (name, read, given)


# Roles that sign as a service account (iam.serviceAccounts.signBlob), or that may set a service
# account's IAM policy and so grant that: none may appear but the signer's grant on itself.
SIGNING_OR_GRANTING = {
    prerequisites.SELF_SIGNING_ROLE,
    "roles/owner",
    "roles/editor",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.securityAdmin",
}
SERVICE_ACCOUNT_IAM = (
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:serviceaccount/iAMBinding:IAMBinding",
    "gcp:serviceaccount/iAMPolicy:IAMPolicy",
)


def test_urls_are_signed_by_the_functions_own_account_which_alone_may_sign_as_itself() -> None:
    """The download function signs V4 URLs with signBlob as its own account. The stack grants
    nothing on any service account (its deployer may not set a service account's IAM policy);
    the project's bootstrap, which creates the account, grants it Token Creator on itself, per
    environment, and nothing else anywhere holds Token Creator (or a role that could grant it)."""
    for environment in Environment:
        resources = run(environment).resources
        dl = named(resources, "acme-support-dl-fn").inputs
        email = dl["serviceConfig"]["serviceAccountEmail"]
        assert dl["serviceConfig"]["environmentVariables"]["SIGNER"] == email
        account = prerequisites.runtime_account_id(
            "acme-support", environment, delivery.DOWNLOAD_ROLE
        )
        assert email == f"{account}@{GCP_PROJECT}.iam.gserviceaccount.com"
        assert dl["serviceConfig"]["ingressSettings"] == "ALLOW_ALL"  # the gateway's public call
        assert of_type(resources, *SERVICE_ACCOUNT_IAM) == []
        assert not [r.name for r in resources if r.inputs.get("role") in SIGNING_OR_GRANTING]
    assert prerequisites.SELF_SIGNERS[Pattern.EMBEDDED] == (delivery.DOWNLOAD_ROLE,)
    for spec, cap in zip(
        bootstrap_specs(Pattern.EMBEDDED), _bootstrap(Pattern.EMBEDDED), strict=True
    ):
        accounts = {a.urn: a for a in of_type(cap.resources, "gcp:serviceaccount/account:Account")}
        signers = set()
        for grant in (r for r in cap.resources if r.inputs.get("role") in SIGNING_OR_GRANTING):
            assert grant.type == "gcp:serviceaccount/iAMMember:IAMMember", grant.name
            assert grant.inputs["role"] == prerequisites.SELF_SIGNING_ROLE
            (target,) = grant.property_dependencies["serviceAccountId"]
            inputs = accounts[target].inputs
            itself = f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"
            assert grant.inputs["member"] == f"serviceAccount:{itself}"  # on itself only
            signers.add(inputs["accountId"])
        assert signers == {
            prerequisites.runtime_account_id(spec.project, env, delivery.DOWNLOAD_ROLE)
            for env in spec.environments
        }


# -- the release tool, run by the deployer in CI ----------------------------------------------
# What each Cloud Storage JSON API call of the publisher (components/release_channels.py
# GcsChannel) and each Cloud KMS call of the signer (components/release_signers.py GcpKmsSigner)
# needs, from Google's method references: buckets.get needs storage.buckets.get; objects.get
# storage.objects.get; objects.insert storage.objects.create, plus storage.objects.delete when it
# replaces an object and storage.objects.setRetention when its metadata sets a retention;
# cryptoKeyVersions.getPublicKey cloudkms.cryptoKeyVersions.viewPublicKey and asymmetricSign
# cloudkms.cryptoKeyVersions.useToSign.
# The permissions of the deployer's roles among those (Google's predefined-role reference);
# a role not listed here counts as holding none of them.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/storage.admin": frozenset(
        {
            "storage.buckets.get",
            "storage.objects.create",
            "storage.objects.delete",
            "storage.objects.get",
            "storage.objects.list",
            "storage.objects.overrideUnlockedRetention",
            "storage.objects.setRetention",
            "storage.objects.update",
        }
    ),
    "roles/cloudkms.signer": frozenset({"cloudkms.cryptoKeyVersions.useToSign"}),
    "roles/cloudkms.publicKeyViewer": frozenset({"cloudkms.cryptoKeyVersions.viewPublicKey"}),
}
# bootstrap.deployer_condition's form for the service admin roles.
OUTSIDE = re.compile(r'resource\.name != "([^"]+)" && !resource\.name\.startsWith\("([^"]+)/"\)')


class RecordedKms:
    """Cloud KMS for one asymmetric signing key version, recording each call's permission."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.needed: list[tuple[str, str]] = []

    def send(self, method: str, url: str, token: str, body: Any) -> tuple[int, Any]:
        base = f"https://cloudkms.googleapis.com/v1/{self.name}"
        if (method, url) == ("GET", f"{base}/publicKey"):
            self.needed.append(("cloudkms.cryptoKeyVersions.viewPublicKey", self.name))
            pem = self.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return 200, {"name": self.name, "algorithm": "EC_SIGN_P256_SHA256", "pem": pem.decode()}
        if (method, url) == ("POST", f"{base}:asymmetricSign"):
            self.needed.append(("cloudkms.cryptoKeyVersions.useToSign", self.name))
            digest = base64.b64decode(body["digest"]["sha256"])
            signature = self.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
            return 200, {"name": self.name, "signature": base64.b64encode(signature).decode()}
        raise AssertionError(f"a Cloud KMS call the table does not know: {method} {url}")


class RecordedGcs(FakeGcs):
    """The Cloud Storage double of the publisher's tests (its bucket is ``FAKE_BUCKET``),
    recording each call's permissions on the resource IAM checks them on, in ``channel``
    (``projects/_/buckets/<channel>[/objects/<name>]``)."""

    def __init__(self, channel: str, labels: dict[str, str]) -> None:
        super().__init__(labels)
        self.channel = channel
        self.needed: list[tuple[str, str]] = []

    def send(
        self, method: str, url: str, token: str, body: bytes | None, content_type: str
    ) -> tuple[int, bytes]:
        path = urllib.parse.urlparse(url).path
        bucket = f"projects/_/buckets/{self.channel}"
        if method == "GET" and path == f"/storage/v1/b/{FAKE_BUCKET}":
            self.needed.append(("storage.buckets.get", bucket))
        elif method == "GET" and path.startswith(f"/storage/v1/b/{FAKE_BUCKET}/o/"):
            name = urllib.parse.unquote(path.rsplit("/o/", 1)[1])
            self.needed.append(("storage.objects.get", f"{bucket}/objects/{name}"))
        elif method == "POST" and path == f"/upload/storage/v1/b/{FAKE_BUCKET}/o":
            assert body is not None and "uploadType=multipart" in url
            boundary = re.search(r"boundary=(\S+)", content_type).group(1)  # type: ignore[union-attr]
            metadata = json.loads(body.split(f"--{boundary}".encode())[1].split(b"\r\n\r\n", 1)[1])
            target = f"{bucket}/objects/{metadata['name']}"
            self.needed.append(("storage.objects.create", target))
            if metadata["name"] in self.objects:
                self.needed.append(("storage.objects.delete", target))
            if "retention" in metadata:
                self.needed.append(("storage.objects.setRetention", target))
        else:
            raise AssertionError(f"a Cloud Storage call the table does not know: {method} {url}")
        return super().send(method, url, token, body, content_type)


def _release_tool_calls(
    tmp_path: Path, channel: CapturedResource, key_version: str
) -> list[tuple[str, str]]:
    """Every (permission, resource) CI's `python -m ci.release public-key / sign / promote /
    publish` needs against the captured channel (its retention labels) and key: two releases
    (the second moves the pointer) and a re-run of the second (a no-op)."""
    model = tmp_path / "model"
    model.mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"\x01" * 2048)
    (model / "labels.json").write_text("[]")
    kms = RecordedKms(key_version)
    signer = GcpKmsSigner(key_version, send=kms.send, token=lambda: "token")
    pem = signer.public_pem()
    gcs = RecordedGcs(channel.name, dict(channel.inputs["labels"]))
    publisher = GcsChannel(FAKE_BUCKET, send=gcs.send, token=lambda: "token")
    for sequence in (1, 2, 2):
        bundle = rm.sign(model, signer, name="m", version=f"1.{sequence}", sequence=sequence,
                         expires_in=datetime.timedelta(days=9))  # fmt: skip
        publisher.publish(model, bundle, pem)
    assert "retention" not in gcs.objects["releases/LATEST.json"][1]
    return [*kms.needed, *gcs.needed]


def _held(roles: list[tuple[str, dict[str, Any] | None]], permission: str, resource: str) -> bool:
    """Whether one of ``roles`` (each with its IAM condition) grants ``permission`` on
    ``resource``."""
    for role, condition in roles:
        if permission not in ROLE_PERMISSIONS.get(role, frozenset()):
            continue
        if condition is None:
            return True
        outside = OUTSIDE.fullmatch(condition["expression"])
        assert outside and outside[1] == outside[2], condition
        if resource != outside[1] and not resource.startswith(outside[1] + "/"):
            return True
    return False


def test_the_deployer_may_sign_and_publish_a_release_on_its_channel_and_key(
    tmp_path: Path,
) -> None:
    """CI's release steps run as the environment's deployer: the permissions they need, derived
    from the calls the publisher and the signer make, are what its roles hold on its channel and
    its signing key (the bootstrap's conditioned project roles, the stack's grants on the key);
    nothing beyond reading, creating, replacing and retaining objects, and signing."""
    for spec, cap in zip(
        bootstrap_specs(Pattern.EMBEDDED), _bootstrap(Pattern.EMBEDDED), strict=True
    ):
        for environment in spec.environments:
            resources = run(environment).resources
            outputs = cap_outputs(environment)
            channel = named(resources, "acme-support-releases")  # its name under mocks
            assert outputs["release_channel"] == f"gs://{channel.name}"
            key_version = outputs["signing_key"].removeprefix("gcpkms:")
            needed = _release_tool_calls(tmp_path / environment.value, channel, key_version)
            assert {p for p, _ in needed} == {
                "storage.buckets.get",
                "storage.objects.get",
                "storage.objects.create",
                "storage.objects.delete",  # the pointer is replaced
                "storage.objects.setRetention",  # every release object is retained
                "cloudkms.cryptoKeyVersions.viewPublicKey",
                "cloudkms.cryptoKeyVersions.useToSign",
            }
            deployer = member_of(cap, f"-ci-{DEPLOYERS[environment].value}")
            project: list[tuple[str, dict[str, Any] | None]] = [
                (g.inputs["role"], g.inputs.get("condition"))
                for g in of_type(cap.resources, "gcp:projects/iAMMember:IAMMember")
                if g.inputs["member"] == deployer
            ]
            signing_key = named(resources, "acme-support-signing-key")
            on_key: list[tuple[str, dict[str, Any] | None]] = [
                (g.inputs["role"], None)
                for g in of_type(resources, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
                if signing_key.urn in g.property_dependencies["cryptoKeyId"]
                and g.inputs["member"] == deployer
            ]
            key_name = key_version.rsplit("/cryptoKeyVersions/", 1)[0]
            for permission, resource in needed:
                # IAM on a key holds for its versions.
                roles = project + on_key if resource.startswith(key_name) else project
                assert _held(roles, permission, resource), (environment, permission, resource)
            # The same calls on the bootstrap's state bucket are out of the deployer's reach.
            state = f"projects/_/buckets/{spec.state_name}"
            assert not _held(project, "storage.objects.create", f"{state}/objects/releases/x")
            # Signing is the stack's grant on its key, never a project role.
            assert not _held(project, "cloudkms.cryptoKeyVersions.useToSign", key_version)


def cap_outputs(environment: Environment) -> dict[str, Any]:
    """The component's registered outputs in ``environment``."""
    cap = run(environment)
    (component,) = [r for r in cap.resources if r.type == "aideploy:gcp:Embedded"]
    return dict(cap.outputs[component.urn])


def test_channel_readers_read_releases_only_and_telemetry_the_pointer_only() -> None:
    resources = run(Environment.STAGING).resources
    bucket = named(resources, "acme-support-releases").name  # its name under mocks
    prefix = f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/releases/")'
    pointer = f'resource.name == "projects/_/buckets/{bucket}/objects/releases/LATEST.json"'
    channel_grants = {
        r.name: r for r in of_type(resources, BUCKET_GRANT) if r.inputs["bucket"] == bucket
    }
    assert set(channel_grants) == {
        "acme-support-release-reader",
        "acme-support-dl-reads-releases",
        "acme-support-telemetry-reads-pointer",
    }
    expected = {
        "acme-support-release-reader": ("release-reader", prefix),
        "acme-support-dl-reads-releases": ("device-dl", prefix),
        "acme-support-telemetry-reads-pointer": ("device-telemetry", pointer),
    }
    for name, (role, expression) in expected.items():
        inputs = channel_grants[name].inputs
        account = prerequisites.runtime_account_id("acme-support", Environment.STAGING, role)
        assert inputs["role"] == "roles/storage.objectViewer"
        assert inputs["member"] == f"serviceAccount:{account}@{GCP_PROJECT}.iam.gserviceaccount.com"
        assert inputs["condition"]["expression"] == expression


def _document(resources: list[CapturedResource]) -> dict[str, Any]:
    (config,) = of_type(resources, "gcp:apigateway/apiConfig:ApiConfig")
    (entry,) = config.inputs["openapiDocuments"]
    return dict(json.loads(base64.b64decode(entry["document"]["contents"])))


def test_the_gateway_checks_the_specs_jwt_and_routes_both_paths_to_their_functions() -> None:
    spec = embedded_spec(Environment.PROD)
    resources = run(Environment.PROD).resources
    document = _document(resources)
    jwt = document["securityDefinitions"]["jwt"]
    assert (jwt["x-google-issuer"], jwt["x-google-audiences"]) == spec.api.jwt()
    functions = {r.name: r.inputs["name"] for r in of_type(resources, FUNCTION)}
    base = f"https://{spec.region}-{GCP_PROJECT}.cloudfunctions.net/"
    routes = {
        (path, method): op["x-google-backend"]["address"]
        for path, item in document["paths"].items() for method, op in item.items()
    }  # fmt: skip
    assert routes == {
        ("/releases/latest", "get"): base + functions["acme-support-dl-fn"],
        ("/telemetry", "post"): base + functions["acme-support-telemetry-fn"],
    }
    for item in document["paths"].values():
        for operation in item.values():
            assert operation["security"] == [{"jwt": []}]
    # The gateway calls as its own account, the only invoker of each function's service.
    (config,) = of_type(resources, "gcp:apigateway/apiConfig:ApiConfig")
    gateway = prerequisites.runtime_account_id("acme-support", Environment.PROD, "device-gateway")
    email = f"{gateway}@{GCP_PROJECT}.iam.gserviceaccount.com"
    assert config.inputs["gatewayConfig"]["backendConfig"]["googleServiceAccount"] == email
    invokers = of_type(resources, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert sorted((i.inputs["name"], i.inputs["member"], i.inputs["role"]) for i in invokers) == [
        (functions[n], f"serviceAccount:{email}", "roles/run.invoker")
        for n in ("acme-support-dl-fn", "acme-support-telemetry-fn")
    ]
    # No public grant anywhere: the functions never take unauthenticated calls.
    assert not [
        r for r in resources if r.inputs.get("member") in ("allUsers", "allAuthenticatedUsers")
    ]


def test_alarms_reach_their_tiers() -> None:
    resources = run(Environment.PROD).resources
    channels: dict[str, str] = {}
    for c in of_type(resources, "gcp:monitoring/notificationChannel:NotificationChannel"):
        channels[c.name] = c.inputs["userLabels"]["tier"]  # a channel's name under mocks
    policies = {
        p.inputs["displayName"]: p
        for p in of_type(resources, "gcp:monitoring/alertPolicy:AlertPolicy")
    }
    for rule in embedded_telemetry.ALARMS:
        policy = policies[f"acme-support-prod-{rule.key}"]
        tiers = {channels[c] for c in policy.inputs["notificationChannels"]}
        assert tiers == {rule.tier}, rule.key
        query = policy.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
        assert delivery.promql_metric(embedded_spec(Environment.PROD), rule) in query
    for key in ("latency-p99", "error-rate-5xx", "availability"):
        policy = policies[f"acme-support-prod-{key}"]
        condition = policy.inputs["conditions"][0]["conditionThreshold"]
        assert 'resource.type = "apigateway.googleapis.com/Gateway"' in condition["filter"]
        assert 'resource.label.gateway_id = "acme-support-prod-devices"' in condition["filter"]
        assert {channels[c] for c in policy.inputs["notificationChannels"]} == {Tier.PAGE.value}
    # Each telemetry metric reads the telemetry function's report lines.
    fn = named(resources, "acme-support-telemetry-fn").inputs["name"]
    for metric in of_type(resources, "gcp:logging/metric:Metric"):
        assert f'resource.labels.service_name="{fn}"' in metric.inputs["filter"]
        assert f'jsonPayload.event="{telemetry_fn.EVENT}"' in metric.inputs["filter"]


# -- GCP's limits (mocks accept any name) ---------------------------------------------------------
LONG = "a-very-long-client-project-name-for-devices"
ID_RULE = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")


@pytest.mark.parametrize("project", ["acme-support", LONG])
def test_names_fit_gcps_limits(project: str) -> None:
    for environment in Environment:
        for role in prerequisites.PATTERN_IDENTITIES[Pattern.EMBEDDED]:
            account = prerequisites.runtime_account_id(project, environment, role)
            assert 6 <= len(account) <= 30 and ID_RULE.match(account), account
    resources = run(Environment.STAGING, project).resources
    for fn in of_type(resources, FUNCTION):
        name = fn.inputs["name"]
        assert len(name) <= delivery.FUNCTION_NAME_LIMIT and ID_RULE.match(name), name
    (api,) = of_type(resources, "gcp:apigateway/api:Api")
    (gateway,) = of_type(resources, "gcp:apigateway/gateway:Gateway")
    for identifier in (api.inputs["apiId"], gateway.inputs["gatewayId"]):
        assert len(identifier) <= 63 and ID_RULE.match(identifier), identifier
    (config,) = of_type(resources, "gcp:apigateway/apiConfig:ApiConfig")
    # The provider appends a 26-character unique suffix to the prefix; ids stop at 63.
    assert len(config.inputs["apiConfigIdPrefix"]) + 26 <= 63
    for metric in of_type(resources, "gcp:logging/metric:Metric"):
        assert re.fullmatch(r"[a-z0-9_]{1,100}", metric.inputs["name"])
    (repo,) = of_type(resources, "gcp:artifactregistry/repository:Repository")
    assert len(repo.inputs["repositoryId"]) <= 63 and ID_RULE.match(repo.inputs["repositoryId"])


def test_a_region_without_api_gateway_is_refused_with_the_reason() -> None:
    spec = embedded_spec(Environment.DEV).model_copy(update={"region": "europe-west4"})
    with pytest.raises(Exception, match="API Gateway runs in"):
        capture(lambda: GcpEmbedded(spec.project, spec), project=spec.project, stack="dev",
                region=spec.region)  # fmt: skip


# -- the download handler ------------------------------------------------------------------------
POINTER = {"version": "1.4.0", "sequence": 12, "prefix": "releases/1.4.0-12/",
           "files": ["model.onnx", "labels.txt"]}  # fmt: skip
NOW = datetime.datetime(2026, 12, 1, 10, 30, tzinfo=datetime.timezone.utc)
SIGNER = "dl@p.iam.gserviceaccount.com"


class Request:
    """The part of a Flask request the handlers use."""

    def __init__(self, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.headers = headers or {}

    def get_data(self, cache: bool = True) -> bytes:
        return self.body


@pytest.fixture
def release_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNEL_BUCKET", "chan")
    monkeypatch.setenv("SIGNER", SIGNER)
    monkeypatch.setenv("URL_SECONDS", "300")


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _string_to_sign(url: str) -> bytes:
    """Cloud Storage's V4 string-to-sign, rebuilt from a signed URL independently."""
    parts = urllib.parse.urlsplit(url)
    query = [q for q in parts.query.split("&") if not q.startswith("X-Goog-Signature=")]
    params = dict(urllib.parse.parse_qsl(parts.query))
    canonical = (
        f"GET\n{parts.path}\n{'&'.join(query)}\nhost:{parts.netloc}\n\nhost\nUNSIGNED-PAYLOAD"
    )
    date = params["X-Goog-Date"]
    scope = params["X-Goog-Credential"].split("/", 1)[1]
    return "\n".join(
        ["GOOG4-RSA-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    ).encode()


@pytest.mark.usefixtures("release_env")
def test_download_answers_with_v4_urls_signed_as_the_functions_account() -> None:
    key = _key()
    signed: list[bytes] = []

    def sign(data: bytes) -> bytes:
        signed.append(data)
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def read(bucket: str, name: str) -> bytes | None:
        assert (bucket, name) == ("chan", "releases/LATEST.json")
        return json.dumps(POINTER).encode()

    body, status, headers = release_fn.latest(Request(), read=read, sign=sign, now=NOW)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    answer = json.loads(body)
    assert (answer["version"], answer["sequence"], answer["expires_in"]) == ("1.4.0", 12, 300)
    assert set(answer["files"]) == {"model.onnx", "labels.txt"}
    urls = [answer["bundle"], *answer["files"].values()]
    assert len(signed) == len(urls)
    public = key.public_key()
    for url in urls:
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert url.startswith("https://storage.googleapis.com/chan/releases/1.4.0-12/")
        assert params["X-Goog-Credential"].startswith(f"{SIGNER}/20261201/auto/storage/")
        assert params["X-Goog-Expires"] == "300"
        public.verify(
            bytes.fromhex(params["X-Goog-Signature"]), _string_to_sign(url),
            padding.PKCS1v15(), hashes.SHA256(),
        )  # fmt: skip
    assert public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)


@pytest.mark.usefixtures("release_env")
def test_download_caps_urls_at_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URL_SECONDS", "86400")
    body, status, _ = release_fn.latest(
        Request(), read=lambda b, k: json.dumps(POINTER).encode(), sign=lambda d: b"s", now=NOW
    )
    assert status == 200 and json.loads(body)["expires_in"] == 3600


@pytest.mark.usefixtures("release_env")
def test_download_says_404_before_the_first_release_and_502_when_it_cannot_read() -> None:
    _, status, _ = release_fn.latest(Request(), read=lambda b, k: None, sign=lambda d: b"", now=NOW)
    assert status == 404

    def broken(bucket: str, key: str) -> bytes | None:
        raise release_fn.ChannelUnreadableError("Cloud Storage GET: HTTP 403")

    body, status, _ = release_fn.latest(Request(), read=broken, sign=lambda d: b"", now=NOW)
    assert status == 502 and "403" not in body

    def no_signer(data: bytes) -> bytes:
        raise release_fn.ChannelUnreadableError("IAM signBlob: HTTP 403")

    _, status, _ = release_fn.latest(
        Request(), read=lambda b, k: json.dumps(POINTER).encode(), sign=no_signer, now=NOW
    )
    assert status == 502


# -- the telemetry handler -----------------------------------------------------------------------
REPORT = {"device": "install-1", "model_version": "1.4.0", "sequence": 9, "app_version": "3.2.1",
          "inferences": 140, "latency_ms_p50": 12.5, "latency_ms_p95": 40.1,
          "mean_confidence": 0.87, "drift": 0.04, "download_failures": 0,
          "signature_failures": 1}  # fmt: skip


@pytest.fixture
def telemetry_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNEL_BUCKET", "chan")
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setattr(telemetry_fn, "_cache", {"at": float("-inf"), "sequence": None})


@pytest.mark.usefixtures("telemetry_env")
def test_telemetry_accepts_a_report_as_one_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    body, status, _ = telemetry_fn.report(
        Request(json.dumps(REPORT).encode()), read=lambda b, k: json.dumps(POINTER).encode()
    )
    assert status == 202 and json.loads(body) == {"accepted": True}
    (line,) = capsys.readouterr().out.splitlines()
    entry = json.loads(line)
    assert entry["event"] == telemetry_fn.EVENT == delivery.REPORT_EVENT
    assert entry["environment"] == "prod"
    assert entry["device"] != "install-1"  # hashed, never the install id
    assert entry["metrics"]["SignatureFailures"] == 1.0
    assert entry["metrics"]["StaleDevices"] == 1.0  # 9 + 2 <= 12
    # The log-based metrics read exactly these fields.
    for rule in embedded_telemetry.ALARMS:
        assert rule.metric in entry["metrics"]


@pytest.mark.usefixtures("telemetry_env")
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (json.dumps([REPORT]).encode(), 400),
        (json.dumps({**REPORT, "drift": 2}).encode(), 400),
        (json.dumps({**REPORT, "device": ""}).encode(), 400),
        (b"x" * (embedded_telemetry.MAX_REPORT_BYTES + 1), 413),
    ],
)
def test_telemetry_refuses_what_is_not_a_report(
    raw: bytes, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    body, answered, _ = telemetry_fn.report(Request(raw), read=lambda b, k: None)
    assert answered == status and json.loads(body)["error"]
    assert capsys.readouterr().out == ""  # nothing reaches the metrics

"""Run a Pulumi Python program under Pulumi's own mocks and capture every resource it registers.

The capture keeps what the Pulumi engine would hand a policy pack: type, name, URN, parent,
dependencies, property dependencies and the serialized inputs. It is self-contained (pulumi only)
because generated client projects vendor it.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

ACCOUNT_ID = "123456789012"
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
TENANT_ID = "44444444-4444-4444-4444-444444444444"
GCP_PROJECT = "mock-project"


@dataclass(frozen=True)
class MockIdentity:
    """Who the mocks say is deploying: the account, subscription or project a stack pins in
    its config (``aws:allowedAccountIds``, ``azure-native:subscriptionId``, ``gcp:project``),
    so a program's own lookups agree with its stack file, as they would in the real cloud."""

    aws_account: str = ACCOUNT_ID
    azure_subscription: str = SUBSCRIPTION_ID
    azure_tenant: str = TENANT_ID
    gcp_project: str = GCP_PROJECT

    @classmethod
    def from_config(cls, config: Mapping[str, str] | None) -> MockIdentity:
        """The identity a stack's config pins; the defaults where it pins none."""
        config = config or {}
        aws_account = ACCOUNT_ID
        allowed = config.get("aws:allowedAccountIds")
        if allowed:
            try:
                parsed = json.loads(allowed)
            except ValueError:
                parsed = [allowed]
            if isinstance(parsed, list) and parsed:
                aws_account = str(parsed[0])
        return cls(
            aws_account=aws_account,
            azure_subscription=config.get("azure-native:subscriptionId", SUBSCRIPTION_ID),
            azure_tenant=config.get("azure-native:tenantId", TENANT_ID),
            gcp_project=config.get("gcp:project", GCP_PROJECT),
        )


@dataclass
class Capture:
    """Everything one run registered: resources in order, and outputs by URN."""

    resources: list[CapturedResource]
    outputs: dict[str, dict[str, Any]]

    def stack_outputs(self) -> dict[str, Any]:
        """The program's exports (outputs of the root stack resource)."""
        for urn, values in self.outputs.items():
            if urn.split("::")[2] == "pulumi:pulumi:Stack":
                return values
        return {}


@dataclass(frozen=True)
class CapturedResource:
    """One RegisterResource request as the engine would see it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: Mapping[str, Any]
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    protect: bool = False
    provider: str = ""
    request: Any = None  # the raw RegisterResourceRequest (its `object` Struct is the wire form)


def _fake_id(type_: str, name: str) -> str:
    return hashlib.sha256(f"{type_}/{name}".encode()).hexdigest()[:12]


# AWS types whose identifiers have their own shape (the ARN ends in a generated id, a version
# number is computed): without them dependent inputs (IAM conditions, env vars) stay unknown.
_AWS_TYPE_OUTPUTS: dict[str, Callable[[str, str, MockIdentity], dict[str, Any]]] = {
    "aws:bedrock/guardrail:Guardrail": lambda rid, region, who: {
        "guardrailArn": f"arn:aws:bedrock:{region}:{who.aws_account}:guardrail/{rid}",
        "guardrailId": rid,
        "version": "DRAFT",
    },
    "aws:bedrock/guardrailVersion:GuardrailVersion": lambda *_: {"version": "1"},
}


def _synthesized_outputs(
    type_: str, name: str, resource_id: str, region: str, who: MockIdentity = MockIdentity()
) -> dict[str, Any]:
    """Outputs a real provider would compute and that programs feed into other resources.

    Outputs a mock does not return resolve to None and silently drop dependent inputs, so every
    resource gets an id, a name, and its cloud's identifier shape (ARN, Azure ID, GCP self link).
    """
    package = type_.split(":", 1)[0]
    out: dict[str, Any] = {"id": resource_id}
    if package == "aws":
        service = type_.split(":")[1].split("/")[0].lower()
        out["arn"] = f"arn:aws:{service}:{region}:{who.aws_account}:{name}"
        out["keyId"] = resource_id
        out["url"] = f"https://{name}.mock.amazonaws.com"
        out["invokeUrl"] = f"https://{resource_id}.execute-api.{region}.amazonaws.com/{name}"
        out["executionArn"] = f"arn:aws:execute-api:{region}:{who.aws_account}:{resource_id}"
        out["dnsName"] = f"{name}.{region}.elb.amazonaws.com"
        out["rootResourceId"] = f"{resource_id}root"
        special = _AWS_TYPE_OUTPUTS.get(type_)
        if special is not None:
            out.update(special(resource_id, region, who))
    elif package == "azure-native":
        out["id"] = (
            f"/subscriptions/{who.azure_subscription}/resourceGroups/mock-rg/providers/"
            f"{type_.split(':')[1]}/{name}"
        )
        out["principalId"] = "11111111-1111-1111-1111-111111111111"
    elif package == "azuread":
        # Entra objects are named by GUIDs the directory assigns; stable ones per name.
        out["objectId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"entra-object/{name}"))
        out["clientId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"entra-client/{name}"))
    elif package == "gcp":
        out["selfLink"] = f"https://www.googleapis.com/mock/{who.gcp_project}/{name}"
        out["email"] = f"{name[:30]}@{who.gcp_project}.iam.gserviceaccount.com"
        out["uri"] = f"https://{name}.run.app"
    return out


# Provider functions (invokes) a program may call; each returns what the real function would.
def _invoke_results(who: MockIdentity) -> dict[str, dict[str, Any]]:
    return {
        "aws:index/getCallerIdentity:getCallerIdentity": {
            "accountId": who.aws_account,
            "arn": f"arn:aws:iam::{who.aws_account}:user/mock",
            "userId": "MOCK",
            "id": who.aws_account,
        },
        "aws:index/getPartition:getPartition": {
            "partition": "aws",
            "dnsSuffix": "amazonaws.com",
            "id": "aws",
        },
        # A client's existing VPC (spec.network.existing_id): its range and a subnet's routes.
        "aws:ec2/getVpc:getVpc": {
            "id": "vpc-mock",
            "cidrBlock": "10.90.0.0/16",
            "arn": f"arn:aws:ec2:eu-west-1:{who.aws_account}:vpc/vpc-mock",
        },
        "aws:ec2/getRouteTable:getRouteTable": {
            "id": "rtb-mock",
            "routeTableId": "rtb-mock",
            "vpcId": "vpc-mock",
        },
        "azure-native:authorization:getClientConfig": {
            "clientId": "22222222-2222-2222-2222-222222222222",
            "objectId": "33333333-3333-3333-3333-333333333333",
            "subscriptionId": who.azure_subscription,
            "tenantId": who.azure_tenant,
        },
        # A managed identity read by name (a bootstrap reading another account's identity).
        "azure-native:managedidentity:getUserAssignedIdentity": {
            "principalId": "55555555-5555-5555-5555-555555555555",
            "clientId": "66666666-6666-6666-6666-666666666666",
            "tenantId": who.azure_tenant,
        },
        "gcp:organizations/getProject:getProject": {
            "projectId": who.gcp_project,
            "number": "123456789",
            "name": who.gcp_project,
            "id": f"projects/{who.gcp_project}",
        },
        "gcp:organizations/getClientConfig:getClientConfig": {
            "project": who.gcp_project,
            "region": "europe-west1",
            "id": who.gcp_project,
        },
        # Google service agents a GCP program reads instead of spelling them out (they exist
        # only once the lookup has run). The logging CMEK account has the older projects' shape
        # (cmek-p<number>), so a program that guessed the template would be caught.
        "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": {
            "emailAddress": f"service-{_GCP_NUMBER}@gs-project-accounts.iam.gserviceaccount.com",
            "member": (
                f"serviceAccount:service-{_GCP_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
            ),
            "project": who.gcp_project,
            "id": who.gcp_project,
        },
        "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount": {
            "email": f"bq-{_GCP_NUMBER}@bigquery-encryption.iam.gserviceaccount.com",
            "member": (
                f"serviceAccount:bq-{_GCP_NUMBER}@bigquery-encryption.iam.gserviceaccount.com"
            ),
            "project": who.gcp_project,
            "id": who.gcp_project,
        },
        "gcp:logging/getProjectSettings:getProjectSettings": {
            "kmsServiceAccountId": f"cmek-p{_GCP_NUMBER}@gcp-sa-logging.iam.gserviceaccount.com",
            "loggingServiceAccountId": (
                f"service-{_GCP_NUMBER}@gcp-sa-logging.iam.gserviceaccount.com"
            ),
            "name": f"projects/{who.gcp_project}/settings",
            "project": who.gcp_project,
            "id": f"projects/{who.gcp_project}/settings",
        },
    }


_GCP_NUMBER = "123456789"  # the project number getProject answers with


def _gcp_service_account(args: Mapping[str, Any], who: MockIdentity) -> dict[str, Any]:
    """gcp.serviceaccount.getAccount: the account an id (or email) names in the project."""
    account = str(args.get("accountId") or "")
    project = str(args.get("project") or who.gcp_project)
    email = account if "@" in account else f"{account}@{project}.iam.gserviceaccount.com"
    return {
        "accountId": account.split("@", 1)[0],
        "email": email,
        "member": f"serviceAccount:{email}",
        "name": f"projects/{project}/serviceAccounts/{email}",
        "id": f"projects/{project}/serviceAccounts/{email}",
        "uniqueId": _fake_id("gcp:serviceaccount/account:Account", email),
        "project": project,
        "displayName": account,
        "disabled": False,
    }


def _azure_identity_as_output(state: dict[str, Any]) -> None:
    """azure-native takes user-assigned identities as a list of ids but returns a map keyed by
    id (as ARM does); echoing the list back would crash the SDK's output translation."""
    identity = state.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
        ids = identity["userAssignedIdentities"]
        state["identity"] = {**identity, "userAssignedIdentities": {i: {} for i in ids}}


def _azure_computed_outputs(type_: str, state: dict[str, Any]) -> None:
    """Outputs ARM computes that programs read (added after the echoed inputs, which replace
    ``properties`` whole): a vault's URI, an identity's client id, a registry's login server."""
    module, kind = type_.split(":")[1].split("/")[0], type_.split(":")[-1]
    if (module, kind) == ("keyvault", "Vault"):
        props = state.get("properties")
        if isinstance(props, dict) and "vaultUri" not in props:
            vault = state.get("vaultName") or state.get("name")
            state["properties"] = {**props, "vaultUri": f"https://{vault}.vault.azure.net/"}
    elif (module, kind) == ("managedidentity", "UserAssignedIdentity"):
        state.setdefault("clientId", "77777777-7777-7777-7777-777777777777")
    elif (module, kind) == ("containerregistry", "Registry"):
        state.setdefault("loginServer", f"{state.get('registryName')}.azurecr.io")


class CloudMocks(pulumi.runtime.Mocks):
    """Mocks that echo inputs and synthesize the outputs real providers compute."""

    def __init__(self, region: str = "eu-west-1", identity: MockIdentity | None = None) -> None:
        self.region = region
        self.identity = identity or MockIdentity()
        self.invokes = _invoke_results(self.identity)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id = args.resource_id or _fake_id(args.typ, args.name)
        state = dict(
            _synthesized_outputs(args.typ, args.name, resource_id, self.region, self.identity)
        )
        state.setdefault("name", args.name)
        state.update(args.inputs)
        if args.typ.startswith("azure-native:"):
            _azure_identity_as_output(state)
            _azure_computed_outputs(args.typ, state)
        if args.typ == "gcp:serviceaccount/account:Account" and args.inputs.get("accountId"):
            # GCP derives the email from the account id, as getAccount finds it.
            found = _gcp_service_account(args.inputs, self.identity)
            state.update(email=found["email"], member=found["member"], name=found["name"])
        return resource_id, state

    # A plain dict is what the mock monitor accepts; a (dict, None) tuple crashes it.
    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "aws:index/getRegion:getRegion":  # noqa: S105 - a function token
            return {"name": self.region, "region": self.region, "id": self.region}
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":  # noqa: S105
            zones = [f"{self.region}{suffix}" for suffix in "abc"]
            return {"names": zones, "zoneIds": ["az1", "az2", "az3"], "id": self.region}
        if args.token == "gcp:serviceaccount/getAccount:getAccount":  # noqa: S105
            return _gcp_service_account(args.args, self.identity)
        if (
            args.token == "azuread:index/getServicePrincipal:getServicePrincipal"  # noqa: S105
            and args.token not in self.invokes
        ):
            client = str(args.args.get("clientId") or args.args.get("displayName") or "sp")
            object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"entra-sp/{client}"))
            return {**dict(args.args), "objectId": object_id, "id": object_id, "clientId": client}
        result = self.invokes.get(args.token)
        # A mock call must return a dict; unknown functions echo their arguments.
        return dict(result) if result is not None else dict(args.args)


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, keeping every RegisterResource request in order."""

    def __init__(
        self,
        mocks: pulumi.runtime.Mocks,
        on_resource: Callable[[CapturedResource], None] | None = None,
    ) -> None:
        super().__init__(mocks)
        self.captured: list[CapturedResource] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        # Called with each resource as it registers (the runner streams them to the pack).
        self.on_resource = on_resource

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        # Keeps what a component or the stack registered as outputs (stack exports included).
        self.outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object)
            self.captured.append(
                CapturedResource(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=bool(request.custom),
                    inputs=inputs,
                    dependencies=tuple(request.dependencies),
                    property_dependencies={
                        key: tuple(deps.urns) for key, deps in request.propertyDependencies.items()
                    },
                    protect=bool(request.protect),
                    provider=request.provider,
                    request=request,
                )
            )
            if self.on_resource is not None:
                self.on_resource(self.captured[-1])
        return response


class ProgramError(Exception):
    """The program under test raised; carries the program's own message."""


def capture(
    program: Callable[[], Any],
    *,
    project: str,
    stack: str,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    region: str = "eu-west-1",
    preview: bool = True,
    on_resource: Callable[[CapturedResource], None] | None = None,
) -> Capture:
    """Run ``program`` under mocks and return every resource it registered, in order.

    ``on_resource`` is called with each resource as soon as it registers.

    Each call runs in a fresh context and event loop, so runs are independent of each other and
    of whatever the caller's Pulumi runtime state was.
    """

    def _run() -> Capture:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))
            identity = MockIdentity.from_config(config)
            monitor = CapturingMonitor(CloudMocks(region, identity), on_resource)
            pulumi.runtime.set_mocks(
                monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor
            )
            from pulumi.runtime.settings import SETTINGS, get_root_resource
            from pulumi.runtime.stack import Stack, massage, run_pulumi_func

            def program_with_exports() -> None:
                program()
                # set_mocks registered the root stack's (then empty) outputs before the program
                # ran, so `pulumi.export` values would never reach the monitor: register them.
                root = get_root_resource()
                if isinstance(root, Stack) and root.outputs:
                    root.register_outputs(massage(root.outputs, []))

            SETTINGS.rpc_manager.clear()
            SETTINGS.outputs.clear()
            _sync_await(run_pulumi_func(program_with_exports))
            return Capture(monitor.captured, monitor.outputs)
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    try:
        return contextvars.Context().run(_run)
    except pulumi.RunError as exc:
        raise ProgramError(str(exc)) from exc

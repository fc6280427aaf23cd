"""S2's rollback paths: from an alarm to the code that rolls back, and what that code may do.

An alarm counts as an automatic rollback (review D-4) only when all of this holds in the stack:

1. **It reaches a consumer.** Followed along the cloud's path (:data:`LINKS`), e.g. a CloudWatch
   alarm to a Lambda function directly, through an SNS subscription or an EventBridge rule; an
   Azure alert to an action group whose webhook or function receiver is a container app or
   function app; a GCP alert policy to a Pub/Sub channel whose topic triggers a function, or
   whose push subscription calls a Cloud Run service; on Kubernetes, a PrometheusRule to the
   AlertmanagerConfig it names, whose webhook is a Service, to the Deployment whose pods that
   Service selects. The path never passes through another
   alarm (alarms sharing a topic do not share consumers) nor through anything switched off (a
   disabled EventBridge rule, action group, channel or alert), and a Lambda consumer needs a
   permission for the service that delivers the alarm.
2. **The consumer is the component's rollback.** It carries the marker :data:`MARKER_KEYS` =
   ``rollback`` (the tag ``aideploy-role``; on GCP also aideploy's label ``role``; on
   Kubernetes the Deployment's label ``aideploy-role``). A notifier,
   a ticketing bridge or any other function that happens to receive the alarm is not a rollback.
3. **Its identity can read the alarm.** A grant to the consumer's identity whose scope covers
   the alarm: the alarm itself, what it is raised on (an Azure log alert's workspace), its
   resource group, or a whole account / subscription / project; and, where the stack shows what
   the grant allows, a permission in :data:`READ_ACTIONS` (what the rollback calls to verify the
   alarm before it moves traffic: review E2's failure mode). On Kubernetes the rollback reads
   Alertmanager's API, which no RBAC guards: what lets it is a NetworkPolicy whose pods are the
   consumer's (its selector read from the Deployment) with egress to Alertmanager's port
   (:data:`NETWORK_READS`).
4. **Its identity can change the guarded target.** A grant whose scope is a resource that
   carries the endpoint's traffic (:data:`TARGET_TYPES`, in the endpoint's deployment), with a
   write action that changes it (:data:`TARGET_TYPES`: ``apigateway:PATCH``,
   ``ecs:UpdateService``, ``Microsoft.App/containerApps/write``, ``compute.urlMaps.update``...;
   invoking, tagging or publishing is not rolling back), where the grant's content is visible.
   On Kubernetes: a RoleBinding of the consumer's ServiceAccount to a Role whose rule allows
   ``patch`` (or ``update``) on ``httproutes``, naming the route (``resourceNames``) or all of
   the namespace's.
   An IAM policy document's statements share the document's dependencies, so on AWS the
   statement's action, not its resource, ties it to the target.

Links, identities and scopes are read from property dependencies, which a preview knows even
when the ids behind them are not yet known (an alarm's ARN at the first preview). A grant's
content is read from the stack (an IAM policy document, an Azure role definition, a GCP custom
role) or from the built-in role tables below; a role defined outside the stack (aideploy's
bootstrap roles) is judged by where it applies, and bootstrap's tests hold what it allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import canonical_type, parse_document

_AWS_ALARMS = (
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:cloudwatch/compositeAlarm:CompositeAlarm",
)
_AZURE_ALERTS = tuple(
    f"azure-native:{ns}:{kind}"
    for ns in ("monitor", "insights")
    for kind in ("MetricAlert", "ScheduledQueryRule")
)
_ACTION_GROUPS = ("azure-native:monitor:ActionGroup", "azure-native:insights:ActionGroup")
_GCP_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
_GCP_CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
_LAMBDA = "aws:lambda/function:Function"
_SNS_TOPIC = "aws:sns/topic:Topic"
_SNS_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
_EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
_EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
_CONTAINER_APP = "azure-native:app:ContainerApp"
_WEB_APP = "azure-native:web:WebApp"
_PUBSUB_TOPIC = "gcp:pubsub/topic:Topic"
_PUBSUB_SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
_GCP_FUNCTION = "gcp:cloudfunctionsv2/function:Function"
_RUN_SERVICE = "gcp:cloudrunv2/service:Service"
_SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"
_PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
_ALERTMANAGER_CONFIG = "kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig"
_K8S_SERVICE = "kubernetes:core/v1:Service"
_K8S_DEPLOYMENT = "kubernetes:apps/v1:Deployment"
_HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
_K8S_ROLES = (
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
)
_NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


@dataclass(frozen=True)
class Link:
    """``holder``'s input ``prop`` depends on a ``target``: an alarm's path may cross it either
    way (an alarm names its topic; a subscription names the topic it reads)."""

    holder: str
    prop: str
    target: str
    settings: tuple[tuple[str, Any], ...] = ()  # holder settings that must hold to carry alarms


LINKS: tuple[Link, ...] = (
    # AWS: the alarm's action, an SNS subscription of protocol lambda, an EventBridge rule on the
    # alarm's state change and its target.
    *(Link(alarm, "alarmActions", _LAMBDA) for alarm in _AWS_ALARMS),
    *(Link(alarm, "alarmActions", _SNS_TOPIC) for alarm in _AWS_ALARMS),
    Link(_SNS_SUBSCRIPTION, "topic", _SNS_TOPIC, (("protocol", "lambda"),)),
    Link(_SNS_SUBSCRIPTION, "endpoint", _LAMBDA, (("protocol", "lambda"),)),
    *(Link(_EVENT_RULE, "eventPattern", alarm) for alarm in _AWS_ALARMS),
    Link(_EVENT_TARGET, "rule", _EVENT_RULE),
    Link(_EVENT_TARGET, "arn", _LAMBDA),
    # Azure: the alert's action group, and its webhook or function receiver.
    *(Link(alert, "actions", group) for alert in _AZURE_ALERTS for group in _ACTION_GROUPS),
    *(Link(group, "webhookReceivers", _CONTAINER_APP) for group in _ACTION_GROUPS),
    *(Link(group, "webhookReceivers", _WEB_APP) for group in _ACTION_GROUPS),
    *(Link(group, "azureFunctionReceivers", _WEB_APP) for group in _ACTION_GROUPS),
    # GCP: the policy's channel, the channel's topic (or webhook URL), what the topic triggers.
    Link(_GCP_POLICY, "notificationChannels", _GCP_CHANNEL),
    Link(_GCP_CHANNEL, "labels", _PUBSUB_TOPIC),
    Link(_GCP_CHANNEL, "labels", _RUN_SERVICE),
    Link(_GCP_CHANNEL, "labels", _GCP_FUNCTION),
    Link(_GCP_FUNCTION, "eventTrigger", _PUBSUB_TOPIC),
    Link(_PUBSUB_SUBSCRIPTION, "topic", _PUBSUB_TOPIC),
    Link(_PUBSUB_SUBSCRIPTION, "pushConfig", _RUN_SERVICE),
    # Kubernetes: the rule's annotation names its AlertmanagerConfig, whose webhook URL is a
    # Service's, which selects the Deployment's pods (each an Output of the next).
    Link(_PROMETHEUS_RULE, "metadata", _ALERTMANAGER_CONFIG),
    Link(_ALERTMANAGER_CONFIG, "spec", _K8S_SERVICE),
    Link(_K8S_SERVICE, "spec", _K8S_DEPLOYMENT),
)


@dataclass(frozen=True)
class Consumer:
    """Code an alarm can run, and where its identity is named."""

    identity_deps: tuple[str, ...] = ()  # inputs whose dependencies are its identity resources
    email: str = ""  # wire path of its service account's e-mail (GCP)
    email_deps: str = ""  # the input holding that e-mail, for a dependency on the account
    self_principal: bool = False  # a system-assigned identity: the resource is its own principal


CONSUMERS: dict[str, Consumer] = {
    _LAMBDA: Consumer(identity_deps=("role",)),
    _CONTAINER_APP: Consumer(identity_deps=("identity",), self_principal=True),
    _WEB_APP: Consumer(identity_deps=("identity",), self_principal=True),
    _GCP_FUNCTION: Consumer(email="serviceConfig.serviceAccountEmail", email_deps="serviceConfig"),
    _RUN_SERVICE: Consumer(email="template.serviceAccount", email_deps="template"),
    # Its ServiceAccount is named in the pod template; NetworkPolicies select it by its pods.
    _K8S_DEPLOYMENT: Consumer(identity_deps=("spec",), self_principal=True),
}

# The rollback marker: tag or label key -> value (GCP's aideploy labels use ``role``).
MARKER_KEYS: tuple[str, ...] = (
    "tags.aideploy-role",
    "labels.aideploy-role",
    "labels.role",
    "metadata.labels.aideploy-role",
)
MARKER_VALUE = "rollback"

# What verifying an alarm calls, per alarm type (any one suffices; patterns in grants match).
READ_ACTIONS: dict[str, tuple[str, ...]] = {
    **{alarm: ("cloudwatch:DescribeAlarms",) for alarm in _AWS_ALARMS},
    **{
        alert: (
            "Microsoft.AlertsManagement/alerts/read",
            "Microsoft.Insights/scheduledQueryRules/read"
            if alert.endswith("ScheduledQueryRule")
            else "Microsoft.Insights/metricAlerts/read",
        )
        for alert in _AZURE_ALERTS
    },
    _GCP_POLICY: (
        "monitoring.alerts.list",
        "monitoring.alerts.get",
        "monitoring.alertPolicies.get",
    ),
    _PROMETHEUS_RULE: ("alertmanager-api-alerts-read",),
}

# Kubernetes: what egress to a TCP port lets a pod read (no RBAC guards Alertmanager's API; the
# NetworkPolicy is the permission). The action has no "/" nor ":", so no RBAC rule matches it.
NETWORK_READS: dict[int, tuple[str, ...]] = {9093: READ_ACTIONS[_PROMETHEUS_RULE]}

# Resources whose change moves a deployment's traffic, with the actions that change them: a
# grant counts only with one of these (a role that may invoke, tag or publish cannot roll back).
TARGET_TYPES: dict[str, tuple[str, ...]] = {
    "aws:apigateway/restApi:RestApi": ("apigateway:PATCH", "apigateway:PUT"),
    "aws:apigateway/stage:Stage": ("apigateway:PATCH", "apigateway:PUT"),
    "aws:apigatewayv2/stage:Stage": ("apigateway:PATCH", "apigateway:PUT"),
    "aws:ecs/service:Service": ("ecs:UpdateService",),
    "aws:lambda/alias:Alias": ("lambda:UpdateAlias",),
    "aws:lb/listener:Listener": ("elasticloadbalancing:ModifyListener",),
    "aws:lb/listenerRule:ListenerRule": ("elasticloadbalancing:ModifyRule",),
    "aws:sagemaker/endpoint:Endpoint": (
        "sagemaker:UpdateEndpoint",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
    ),
    "azure-native:apimanagement:ApiManagementService": (
        "Microsoft.ApiManagement/service/write",
        "Microsoft.ApiManagement/service/apis/write",
    ),
    _CONTAINER_APP: ("Microsoft.App/containerApps/write",),
    "azure-native:machinelearningservices:OnlineEndpoint": (
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
    ),
    _WEB_APP: ("Microsoft.Web/sites/write", "Microsoft.Web/sites/slots/write"),
    "gcp:compute/backendService:BackendService": ("compute.backendServices.update",),
    "gcp:compute/uRLMap:URLMap": ("compute.urlMaps.update",),
    _RUN_SERVICE: ("run.services.update",),
    "gcp:vertex/aiEndpoint:AiEndpoint": ("aiplatform.endpoints.update",),
    # RBAC rules read as ``<apiGroup>/<resource>:<verb>`` (see _k8s_role_binding).
    _HTTP_ROUTE: (
        "gateway.networking.k8s.io/httproutes:patch",
        "gateway.networking.k8s.io/httproutes:update",
    ),
}

# Nodes on an alarm's path that can be switched off: (wire path, value meaning off).
DISABLED: dict[str, tuple[tuple[str, Any], ...]] = {
    # (An AWS alarm's actionsEnabled switches its actions only: EventBridge still sees it.)
    **{alert: (("enabled", False),) for alert in _AZURE_ALERTS},
    _GCP_POLICY: (("enabled", False),),
    _EVENT_RULE: (("state", "DISABLED"), ("isEnabled", False)),
    **{group: (("enabled", False),) for group in _ACTION_GROUPS},
    _GCP_CHANNEL: (("enabled", False),),
}

# A Lambda runs for an alarm only if its resource policy lets the delivering service invoke it.
_LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
LAMBDA_INVOKERS = frozenset(
    {"events.amazonaws.com", "sns.amazonaws.com", "lambda.alarms.cloudwatch.amazonaws.com"}
)

# Built-in roles by id (Azure role definition GUID, GCP role name, AWS managed policy ARN tail)
# -> the actions they allow, as patterns. Only roles whose reach is certain are listed; a role
# not listed and not defined in the stack is judged by its scope alone.
BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    # Azure (the built-in roles reference): Owner, Contributor, Reader, Monitoring Reader,
    # Monitoring Contributor, and the narrow roles aideploy's components grant. Only the
    # actions that bear on S2 (reading alerts, writing a traffic target) need be complete.
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": ("*",),
    "b24988ac-6180-42a0-ab88-20f7382dd24c": ("*",),
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": ("*/read",),
    "43d0d8ad-25c7-4714-9337-8ba259a9fe05": ("*/read",),
    "749f88d5-cbae-40b8-bcfc-e573ddc772fa": ("*/read", "Microsoft.Insights/*"),
    "3913510d-42f4-4e42-8a64-420c390055eb": (  # Monitoring Metrics Publisher
        "Microsoft.Insights/Register/Action",
        "Microsoft.Support/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Insights/Metrics/Write",
        "Microsoft.Insights/Telemetry/Write",
    ),
    "e147488a-f6f5-4113-8e2d-b22465e65bf6": (  # Key Vault Crypto Service Encryption User
        "Microsoft.EventGrid/eventSubscriptions/*",
        "Microsoft.KeyVault/vaults/keys/read",
        "Microsoft.KeyVault/vaults/keys/wrapKey/action",
        "Microsoft.KeyVault/vaults/keys/unwrapKey/action",
    ),
    "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd": (  # Cognitive Services OpenAI User (LLM stacks)
        "Microsoft.CognitiveServices/*/read",
        "Microsoft.Authorization/roleAssignments/read",
        "Microsoft.Authorization/roleDefinitions/read",
    ),
    "a97b65f3-24c7-4388-baec-2e87135dc908": (  # Cognitive Services User (Content Safety)
        "Microsoft.CognitiveServices/*/read",
        "Microsoft.CognitiveServices/accounts/listkeys/action",
        "Microsoft.Insights/alertRules/read",
        "Microsoft.Insights/diagnosticSettings/read",
        "Microsoft.Insights/logDefinitions/read",
        "Microsoft.Insights/metricdefinitions/read",
        "Microsoft.Insights/metrics/read",
        "Microsoft.ResourceHealth/availabilityStatuses/read",
        "Microsoft.Resources/deployments/operations/read",
        "Microsoft.Resources/subscriptions/operationresults/read",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*",
    ),
    "12338af0-0e69-4776-bea7-57ae8d297424": (  # Key Vault Crypto User
        "Microsoft.KeyVault/vaults/keys/*/action",
        "Microsoft.KeyVault/vaults/keys/read",
    ),
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603": (  # Key Vault Crypto Officer
        "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*",
        "Microsoft.KeyVault/*/read",
        "Microsoft.KeyVault/vaults/keys/*",
        "Microsoft.KeyVault/vaults/keyrotationpolicies/*",
    ),
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": (  # Key Vault Secrets Officer
        "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*",
        "Microsoft.KeyVault/*/read",
        "Microsoft.KeyVault/vaults/secrets/*",
    ),
    "4633458b-17de-408a-b874-0445c86b69e6": (  # Key Vault Secrets User
        "Microsoft.KeyVault/vaults/secrets/getSecret/action",
        "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    ),
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": (  # Storage Blob Data Owner
        "Microsoft.Storage/storageAccounts/blobServices/containers/*",
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ),
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": (  # Storage Blob Data Contributor
        "Microsoft.Storage/storageAccounts/blobServices/containers/*",
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ),
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": (  # Storage Blob Data Reader
        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ),
    "db58b8e5-c6ad-4a2a-8342-4190687cbf4a": (  # Storage Blob Delegator
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ),
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": (  # AcrPull
        "Microsoft.ContainerRegistry/registries/pull/read",
    ),
    "8311e382-0749-4cb8-b61a-304f252e45ec": (  # AcrPush
        "Microsoft.ContainerRegistry/registries/pull/read",
        "Microsoft.ContainerRegistry/registries/push/write",
    ),
    "ae349356-3a1b-4a5e-921d-050484c6347e": (  # Application Insights Component Contributor
        "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.Insights/generateLiveToken/read",
        "Microsoft.Insights/metricAlerts/*",
        "Microsoft.Insights/components/*",
        "Microsoft.Insights/scheduledqueryrules/*",
        "Microsoft.Insights/topology/read",
        "Microsoft.Insights/transactions/read",
        "Microsoft.Insights/webtests/*",
        "Microsoft.ResourceHealth/availabilityStatuses/read",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*",
    ),
    # GCP basic and Monitoring roles.
    "roles/owner": ("*",),
    "roles/editor": ("*",),
    "roles/viewer": ("*.get", "*.list"),
    "roles/monitoring.viewer": ("monitoring.*.get", "monitoring.*.list"),
    "roles/monitoring.editor": ("monitoring.*",),
    "roles/monitoring.admin": ("monitoring.*",),
    "roles/compute.loadBalancerAdmin": ("compute.*",),
    "roles/compute.networkAdmin": ("compute.*",),
    "roles/run.admin": ("run.*",),
    "roles/run.developer": ("run.*",),
    "roles/aiplatform.admin": ("aiplatform.*",),
    "roles/aiplatform.user": ("aiplatform.*",),
    # AWS managed policies.
    "AdministratorAccess": ("*",),
    "ReadOnlyAccess": ("*:Describe*", "*:Get*", "*:List*"),
    "CloudWatchReadOnlyAccess": ("cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"),
    "CloudWatchFullAccess": ("cloudwatch:*",),
}

_WIDE_SCOPE = re.compile(r"^/subscriptions/[^/]+/?$", re.IGNORECASE)
_RESOURCE_GROUP = "azure-native:resources:ResourceGroup"


def allows_any(granted: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether a granted action pattern (``cloudwatch:Describe*``, ``*/read``) covers one of
    ``wanted`` (case-insensitive, as IAM and Azure RBAC compare actions)."""
    patterns = [g.lower() for g in granted]
    return any(fnmatchcase(w.lower(), p) for w in wanted for p in patterns)


def writes(granted: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether a grant holds one of the ``wanted`` write actions (patterns in the grant count:
    ``apigateway:*``, ``Microsoft.App/*``, ``*``)."""
    return allows_any(granted, wanted)


def _item(container: Any, key: Any) -> Any:
    """``container[key]``, or None when absent or unknown during a preview (the pack's proxy
    raises on reading a value the cloud has not computed yet)."""
    try:
        return container[key]
    except (UnknownValueError, KeyError, IndexError):
        return None


def _at(props: Mapping[str, Any], path: str) -> Any:
    value: Any = props
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = _item(value, key)
    return value


def _deps(resource: PolicyResource, *props: str) -> list[PolicyResource]:
    return [d for p in props for d in resource.property_dependencies.get(p, [])]


def _seq(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_item(value, i) for i in range(len(value))]
    return [value]


@dataclass(frozen=True)
class Grant:
    """Permissions given to an identity over a scope."""

    principals: frozenset[str]  # URNs of the identity resources it is given to
    members: frozenset[str]  # literal members (GCP ``serviceAccount:<e-mail>``)
    scope: frozenset[str]  # URNs of the resources its scope names
    wide: bool  # a whole account, subscription, resource group or project
    actions: tuple[str, ...] | None  # what it allows; None when defined outside the stack
    literal: str = ""  # a scope given as an id (Azure), compared with ids the alarm names
    role: str = ""  # the role granted (Azure role definition GUID, GCP role name)


def _aws_documents(
    doc: Any, owner: PolicyResource, scope_prop: str
) -> Iterator[tuple[tuple[str, ...] | None, frozenset[str], bool]]:
    """(actions, scope URNs, wide) per Allow statement of a policy document."""
    scope = frozenset(d.urn for d in _deps(owner, scope_prop))
    if doc is None:
        yield None, scope, False
        return
    statements = parse_document(doc).get("Statement") or []
    for s in _seq(statements):
        if not isinstance(s, Mapping) or s.get("Effect") != "Allow":
            continue
        actions = tuple(str(a) for a in _seq(s.get("Action")) if isinstance(a, str))
        wide = "*" in [r for r in _seq(s.get("Resource")) if isinstance(r, str)]
        yield actions, scope, wide


def _aws_role_policy(r: PolicyResource, stack: Stack) -> Iterator[Grant]:
    principals = frozenset(d.urn for d in _deps(r, "role"))
    for actions, scope, wide in _aws_documents(_at(r.props, "policy"), r, "policy"):
        yield Grant(principals, frozenset(), scope, wide, actions)


def _aws_attachment(r: PolicyResource, stack: Stack) -> Iterator[Grant]:
    principals = frozenset(d.urn for d in _deps(r, "role"))
    policies = [d for d in _deps(r, "policyArn") if canonical_type(d.resource_type) == _IAM_POLICY]
    for policy in policies:
        for actions, scope, wide in _aws_documents(_at(policy.props, "policy"), policy, "policy"):
            yield Grant(principals, frozenset(), scope, wide, actions)
    arn = _at(r.props, "policyArn")
    if not policies and isinstance(arn, str) and ":iam::aws:policy/" in arn:
        tail = arn.rsplit("/", 1)[-1]
        if tail in BUILTIN_ROLES:
            yield Grant(principals, frozenset(), frozenset(), True, BUILTIN_ROLES[tail])


def _aws_role_inline(r: PolicyResource, stack: Stack) -> Iterator[Grant]:
    for inline in _seq(_at(r.props, "inlinePolicies")):
        if isinstance(inline, Mapping):
            for actions, scope, wide in _aws_documents(
                _item(inline, "policy"), r, "inlinePolicies"
            ):
                yield Grant(frozenset({r.urn}), frozenset(), scope, wide, actions)


def _azure_role_assignment(r: PolicyResource, stack: Stack) -> Iterator[Grant]:
    principals = frozenset(d.urn for d in _deps(r, "principalId"))
    scope_deps = _deps(r, "scope")
    literal = _at(r.props, "scope")
    wide = isinstance(literal, str) and not scope_deps and bool(_WIDE_SCOPE.match(literal))
    scope = frozenset(d.urn for d in scope_deps)
    definitions = [
        d
        for d in _deps(r, "roleDefinitionId")
        if canonical_type(d.resource_type) == "azure-native:authorization:RoleDefinition"
    ]
    actions: tuple[str, ...] | None = None
    role_id = _at(r.props, "roleDefinitionId")
    guid = role_id.rstrip("/").rsplit("/", 1)[-1].lower() if isinstance(role_id, str) else ""
    if definitions:
        actions = tuple(
            str(a)
            for d in definitions
            for p in _seq(_at(d.props, "permissions"))
            if isinstance(p, Mapping)
            for a in [*_seq(_item(p, "actions")), *_seq(_item(p, "dataActions"))]
            if isinstance(a, str)
        )
    elif guid:
        actions = BUILTIN_ROLES.get(guid)
    text = literal.lower().rstrip("/") if isinstance(literal, str) and not scope_deps else ""
    yield Grant(principals, frozenset(), scope, wide, actions, text, guid)


def _gcp_role_actions(r: PolicyResource) -> tuple[str, ...] | None:
    custom = [
        d
        for d in _deps(r, "role")
        if canonical_type(d.resource_type) in ("gcp:projects/iAMCustomRole:IAMCustomRole",)
    ]
    if custom:
        return tuple(str(p) for d in custom for p in _seq(_at(d.props, "permissions")))
    role = _at(r.props, "role")
    if not isinstance(role, str):
        return None
    if role.startswith("roles/"):  # predefined: known, and those not listed grant none of it
        return BUILTIN_ROLES.get(role, ())
    return None


def _gcp_role(r: PolicyResource) -> str:
    role = _at(r.props, "role")
    return role if isinstance(role, str) else ""


def _gcp_members(r: PolicyResource) -> frozenset[str]:
    found = [_at(r.props, "member"), *_seq(_at(r.props, "members"))]
    return frozenset(m for m in found if isinstance(m, str))


def _gcp_project_member(r: PolicyResource, stack: Stack) -> Iterator[Grant]:
    principals = frozenset(d.urn for d in _deps(r, "member", "members"))
    condition = _deps(r, "condition")
    has_condition = bool(_at(r.props, "condition")) or bool(condition)
    yield Grant(
        principals,
        _gcp_members(r),
        frozenset(d.urn for d in condition),
        not has_condition,
        _gcp_role_actions(r),
        role=_gcp_role(r),
    )


def _gcp_resource_member(r: PolicyResource, stack: Stack) -> Iterator[Grant]:
    principals = frozenset(d.urn for d in _deps(r, "member", "members"))
    scope = frozenset(
        d.urn
        for prop, deps in r.property_dependencies.items()
        if prop not in ("member", "members", "role")
        for d in deps
    )
    yield Grant(principals, _gcp_members(r), scope, False, _gcp_role_actions(r), role=_gcp_role(r))


def _k8s_named(stack: Stack, names: Iterable[Any], namespace: Any) -> frozenset[str]:
    """The stack's traffic targets of these literal names in ``namespace``."""
    wanted = {n for n in names if isinstance(n, str)}
    return frozenset(
        t.urn
        for t in stack.resources
        if canonical_type(t.resource_type) in TARGET_TYPES
        and _at(t.props, "metadata.name") in wanted
        and _at(t.props, "metadata.namespace") == namespace
    )


def _k8s_role_binding(r: PolicyResource, stack: Stack) -> Iterator[Grant]:
    """One grant per rule of the bound Role: to the subjects, actions
    ``<apiGroup>/<resource>:<verb>``, over the objects its ``resourceNames`` name (Outputs of
    them, or literal names of the stack's targets), or the whole namespace without them."""
    principals = frozenset(d.urn for d in _deps(r, "subjects"))
    namespace = _at(r.props, "metadata.namespace")
    for role in _deps(r, "roleRef"):
        if canonical_type(role.resource_type) not in _K8S_ROLES:
            continue
        named = frozenset(d.urn for d in _deps(role, "rules"))
        for rule in _seq(_at(role.props, "rules")):
            if not isinstance(rule, Mapping):
                continue
            actions = tuple(
                f"{group}/{resource}:{verb}"
                for group in _seq(_item(rule, "apiGroups"))
                for resource in _seq(_item(rule, "resources"))
                for verb in _seq(_item(rule, "verbs"))
            )
            names = _seq(_item(rule, "resourceNames"))
            scope = named | _k8s_named(stack, names, namespace) if names else frozenset()
            yield Grant(principals, frozenset(), scope, not names, actions)


def _k8s_network_reach(r: PolicyResource, stack: Stack) -> Iterator[Grant]:
    """An egress NetworkPolicy to a port of :data:`NETWORK_READS`: a read for the pods it
    selects, named by the workload its selector was read from (a dependency)."""
    if "Egress" not in _seq(_at(r.props, "spec.policyTypes")):
        return
    actions = tuple(
        action
        for rule in _seq(_at(r.props, "spec.egress"))
        if isinstance(rule, Mapping)
        for port in _seq(_item(rule, "ports"))
        if isinstance(port, Mapping)
        for action in NETWORK_READS.get(_item(port, "port"), ())
    )
    if actions:
        principals = frozenset(d.urn for d in _deps(r, "spec"))
        yield Grant(principals, frozenset(), frozenset(), True, actions)


_IAM_POLICY = "aws:iam/policy:Policy"
GRANT_READERS: dict[str, Callable[[PolicyResource, Stack], Iterator[Grant]]] = {
    "aws:iam/rolePolicy:RolePolicy": _aws_role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _aws_attachment,
    "aws:iam/role:Role": _aws_role_inline,
    "azure-native:authorization:RoleAssignment": _azure_role_assignment,
    "gcp:projects/iAMMember:IAMMember": _gcp_project_member,
    "gcp:projects/iAMBinding:IAMBinding": _gcp_project_member,
    _ROLE_BINDING: _k8s_role_binding,
    _NETWORK_POLICY: _k8s_network_reach,
}
# Resource-level IAM on GCP: every ``...IamMember`` / ``...IamBinding`` type outside projects.
_GCP_RESOURCE_IAM = re.compile(r"^gcp:(?!projects/)[^:]+:\w+Iam(Member|Binding)$", re.IGNORECASE)


def _grant_reader(token: str) -> Callable[[PolicyResource, Stack], Iterator[Grant]] | None:
    if token in GRANT_READERS:
        return GRANT_READERS[token]
    if _GCP_RESOURCE_IAM.match(token):
        return _gcp_resource_member
    return None


@dataclass
class Stack:
    """The resources of one stack, with the reverse links and grants S2 follows (built once)."""

    resources: list[PolicyResource]
    _holders: dict[str, list[tuple[PolicyResource, str]]] = field(default_factory=dict)
    _grants: list[Grant] = field(default_factory=list)
    _steps: dict[str, list[PolicyResource]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.resources:
            for prop, deps in r.property_dependencies.items():
                for d in deps:
                    self._holders.setdefault(d.urn, []).append((r, prop))
        for r in self.resources:
            reader = _grant_reader(canonical_type(r.resource_type))
            if reader is not None:
                self._grants.extend(reader(r, self))

    def consumers(self, alarm: PolicyResource) -> list[PolicyResource]:
        """The code ``alarm`` can run, along the cloud's links (breadth first, no loops). The
        path never passes through another alarm (two alarms sharing a topic do not share
        each other's consumers) nor through a node that is switched off."""
        if _disabled(alarm):
            return []
        seen, frontier, found = {alarm.urn}, [alarm], []
        while frontier:
            step = []
            for node in frontier:
                for nxt in self._neighbours(node):
                    token = canonical_type(nxt.resource_type)
                    if nxt.urn in seen or _disabled(nxt):
                        continue
                    seen.add(nxt.urn)
                    if token in CONSUMERS:
                        found.append(nxt)
                    else:
                        step.append(nxt)
            frontier = step
        return found

    def invocable(self, consumer: PolicyResource) -> bool:
        """Whether the delivering service may run the consumer: a Lambda needs a permission
        for one of :data:`LAMBDA_INVOKERS`; the other consumers are called by the path itself
        (an event trigger, a push subscription, an action group with its own credentials)."""
        if canonical_type(consumer.resource_type) != _LAMBDA:
            return True
        for holder, prop in self._holders.get(consumer.urn, []):
            if canonical_type(holder.resource_type) != _LAMBDA_PERMISSION or prop != "function":
                continue
            if _at(holder.props, "principal") in LAMBDA_INVOKERS:
                return True
        return False

    def _neighbours(self, node: PolicyResource) -> list[PolicyResource]:
        """The node's next steps that are not alarms, computed once per node: many alarms
        sharing one topic would otherwise walk the topic's holders once per alarm."""
        if node.urn not in self._steps:
            self._steps[node.urn] = [
                n for n in self._next(node) if canonical_type(n.resource_type) not in READ_ACTIONS
            ]
        return self._steps[node.urn]

    def _next(self, node: PolicyResource) -> Iterator[PolicyResource]:
        token = canonical_type(node.resource_type)
        for link in LINKS:
            if link.holder == token and _holds(node, link.settings):
                for d in node.property_dependencies.get(link.prop, []):
                    if canonical_type(d.resource_type) == link.target:
                        yield d
            if link.target == token:
                for holder, prop in self._holders.get(node.urn, []):
                    if (
                        prop == link.prop
                        and canonical_type(holder.resource_type) == link.holder
                        and _holds(holder, link.settings)
                    ):
                        yield holder

    def grants_of(self, consumer: PolicyResource) -> list[Grant]:
        """Every grant to the consumer's identity."""
        spec = CONSUMERS[canonical_type(consumer.resource_type)]
        identities = {d.urn for d in _deps(consumer, *spec.identity_deps)}
        if spec.self_principal:
            identities.add(consumer.urn)
        members: set[str] = set()
        if spec.email:
            email = _at(consumer.props, spec.email)
            if isinstance(email, str) and email:
                members.add(f"serviceAccount:{email}")
            # The input holding the e-mail also names the function's settings' dependencies
            # (alarms, the URL map): only a service account there is the identity.
            identities.update(
                d.urn
                for d in _deps(consumer, spec.email_deps)
                if canonical_type(d.resource_type) == _SERVICE_ACCOUNT
            )
        return [g for g in self._grants if g.principals & identities or g.members & members]


def _disabled(resource: PolicyResource) -> bool:
    return any(
        _at(resource.props, path) == value
        for path, value in DISABLED.get(canonical_type(resource.resource_type), ())
    )


def _holds(resource: PolicyResource, settings: tuple[tuple[str, Any], ...]) -> bool:
    return all(_at(resource.props, path) == value for path, value in settings)


def marked(consumer: PolicyResource) -> bool:
    """The consumer carries the rollback marker."""
    return any(_at(consumer.props, path) == MARKER_VALUE for path in MARKER_KEYS)


def alarm_scope(alarm: PolicyResource) -> set[str]:
    """The alarm and what it is raised on or kept in (an Azure alert's workspace and group)."""
    return {alarm.urn, *(d.urn for d in _deps(alarm, "scopes", "resourceGroupName"))}


def _named_scopes(alarm: PolicyResource) -> list[str]:
    """The ids an alarm names as what it watches (Azure ``scopes`` given as literal ids)."""
    return [s.lower().rstrip("/") for s in _seq(_at(alarm.props, "scopes")) if isinstance(s, str)]


def _contains(outer: str, inner: str) -> bool:
    return bool(outer) and (inner == outer or inner.startswith(outer + "/"))


def can_read(grants: Iterable[Grant], alarm: PolicyResource) -> bool:
    """A grant covers the alarm's scope and (where visible) allows reading it."""
    scope = alarm_scope(alarm)
    named = _named_scopes(alarm)
    wanted = READ_ACTIONS.get(canonical_type(alarm.resource_type), ())
    for g in grants:
        covers = g.wide or g.scope & scope or any(_contains(g.literal, n) for n in named)
        if not covers:
            continue
        if g.actions is None or allows_any(g.actions, wanted):
            return True
    return False


def changes(grants: Sequence[Grant], targets: Iterable[PolicyResource]) -> bool:
    """A grant's scope is one of ``targets`` (or its resource group) and, where its content is
    visible, it holds an action that changes that target."""
    for t in targets:
        wanted = TARGET_TYPES.get(canonical_type(t.resource_type), ())
        urns = {t.urn, *(d.urn for d in _deps(t, "resourceGroupName") if _is_group(d))}
        for g in grants:
            if g.scope & urns and (g.actions is None or writes(g.actions, wanted)):
                return True
            # A grant over a whole account or project counts only when the stack shows that it
            # writes: any project-level grant of unknown content (a log writer's) would pass.
            if g.wide and g.actions is not None and writes(g.actions, wanted):
                return True
    return False


def _is_group(resource: PolicyResource) -> bool:
    return canonical_type(resource.resource_type) == _RESOURCE_GROUP

"""Stack rules (S1, S2): serving endpoints are watched and alerts reach someone; prod rolls back.

Both rules look at the whole stack, for AWS, Azure and GCP alike; what differs between clouds is
data in the lookup tables below (which types serve traffic, which are alarms, where an alarm
sends its notifications, what counts as an automated rollback), never branches in the checks.

Scope: an alarm belongs to the same deployment as an endpoint when it references the endpoint or
shares its outermost component (an aideploy pattern component, or the stack itself for a flat
program). Azure log alerts watch the Log Analytics workspace rather than the endpoint, and
CloudWatch alarms watch the API stage rather than the model, so the deployment, not the single
resource, is the unit that must be watched.

What an alarm watches is read from, in order: its explicit marker (tag ``aideploy-signal``, GCP
user label ``signal``, Azure action custom property ``aideploy-signal``); its logical name ending
in ``-<signal>`` (aideploy components name alarms ``<name>-alarm-<signal>``); the metric it
queries, looked up by exact name in :data:`METRIC_SIGNALS`.

S2 (review D-4) counts a rollback only when it can work: native rollback wired to the alarms, or
an alarm that reaches a rollback function in the stack carrying the rollback marker, whose
identity can read the alarm where it is raised and change what carries the endpoint's traffic
(policies/rules/rollback_paths.py holds the per-cloud paths and grants). Its level is set per
environment in policies/config: mandatory in prod, advisory elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Policy, PolicyResource, Severity, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies.rules import rollback_paths
from policies.rules.base import OPERATIONAL, canonical_type, prop_at, stack_rule
from policies.rules.references import guardrail

LATENCY, ERRORS, AVAILABILITY = "latency", "error-rate", "availability"
REQUIRED_CATEGORIES = (LATENCY, ERRORS, AVAILABILITY)

# components.alarms.Signal values (kept here as data: the pack imports no component code).
SIGNAL_CATEGORIES: dict[str, str] = {
    "latency-p50": LATENCY,
    "latency-p95": LATENCY,
    "latency-p99": LATENCY,
    "error-rate-4xx": ERRORS,
    "error-rate-5xx": ERRORS,
    "availability": AVAILABILITY,
    "canary-error-rate": ERRORS,
    "canary-latency-p99": LATENCY,
}

# Metrics of the serving platforms, for programs that carry no marker (exact names).
METRIC_SIGNALS: dict[str, str] = {
    # AWS CloudWatch metric names
    "Latency": LATENCY,
    "IntegrationLatency": LATENCY,
    "ModelLatency": LATENCY,
    "OverheadLatency": LATENCY,
    "TargetResponseTime": LATENCY,
    "4XXError": ERRORS,
    "5XXError": ERRORS,
    "4xx": ERRORS,
    "5xx": ERRORS,
    "Invocation4XXErrors": ERRORS,
    "Invocation5XXErrors": ERRORS,
    "HTTPCode_Target_5XX_Count": ERRORS,
    "HTTPCode_ELB_5XX_Count": ERRORS,
    "HealthyHostCount": AVAILABILITY,
    "UnHealthyHostCount": AVAILABILITY,
    # Azure Monitor metric names
    "RequestLatency": LATENCY,
    "RequestLatency_P99": LATENCY,
    "ResponseTime": LATENCY,
    "HttpResponseTime": LATENCY,
    "Http5xx": ERRORS,
    "Http4xx": ERRORS,
    "HealthCheckStatus": AVAILABILITY,
    "Availability": AVAILABILITY,
    # GCP Cloud Monitoring metric types
    "loadbalancing.googleapis.com/https/total_latencies": LATENCY,
    "loadbalancing.googleapis.com/https/backend_latencies": LATENCY,
    "aiplatform.googleapis.com/prediction/online/prediction_latencies": LATENCY,
    "run.googleapis.com/request_latencies": LATENCY,
    "aiplatform.googleapis.com/prediction/online/error_count": ERRORS,
    "monitoring.googleapis.com/uptime_check/check_passed": AVAILABILITY,
}


@dataclass(frozen=True)
class ServingType:
    """A resource type that serves requests, unless ``private`` says this one does not."""

    token: str
    private: tuple[tuple[str, Any], ...] = ()  # (wire path, value) pairs meaning "not serving"

    def serves(self, props: Mapping[str, Any]) -> bool:
        """Whether this resource takes requests from outside its deployment."""
        for path, value in self.private:
            found = _prop(props, path)
            if found == value or (isinstance(found, str) and value in found.split(",")):
                return False
        return True


SERVING_TYPES: tuple[ServingType, ...] = (
    ServingType("aws:apigateway/stage:Stage"),
    ServingType("aws:apigatewayv2/stage:Stage"),
    ServingType("aws:sagemaker/endpoint:Endpoint"),
    ServingType("aws:lambda/functionUrl:FunctionUrl"),
    ServingType("aws:lb/loadBalancer:LoadBalancer", (("internal", True),)),
    ServingType("aws:alb/loadBalancer:LoadBalancer", (("internal", True),)),
    ServingType("azure-native:machinelearningservices:OnlineEndpoint"),
    ServingType("azure-native:apimanagement:ApiManagementService"),
    ServingType("azure-native:app:ContainerApp", (("configuration.ingress.external", False),)),
    ServingType("azure-native:web:WebApp", (("kind", "functionapp"),)),
    ServingType("gcp:vertex/aiEndpoint:AiEndpoint"),
    ServingType("gcp:compute/uRLMap:URLMap"),
    ServingType("gcp:apigateway/gateway:Gateway"),
    ServingType("gcp:cloudrunv2/service:Service", (("ingress", "INGRESS_TRAFFIC_INTERNAL_ONLY"),)),
    ServingType("gcp:cloudrun/service:Service"),
    # Kubernetes: the Gateway API route that carries the model's traffic (and its weights).
    ServingType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"),
)
_SERVING = {s.token: s for s in SERVING_TYPES}


@dataclass(frozen=True)
class AlarmType:
    """An alarm type: the input holding its notification targets and the target types."""

    token: str
    actions: str  # wire path of the targets (a list, or a list of objects)
    target_types: tuple[str, ...]
    literal_target: str  # regex a target given as a literal id/ARN must match
    enabled: str = ""  # wire path of an on/off switch, if the type has one


# An AWS alarm may also act (scale, invoke a function) instead of notifying; such an alarm has a
# target, but only notification targets (NOTIFICATION_TYPES) count as routing an alert.
_SNS = (
    "aws:sns/topic:Topic",
    "aws:lambda/function:Function",
    "aws:appautoscaling/policy:Policy",
    "aws:autoscaling/policy:Policy",
)
_AWS_ACTION_ARN = r"^arn:aws[a-z-]*:(sns|lambda|autoscaling|application-autoscaling|ssm):"
_ACTION_GROUPS = ("azure-native:monitor:ActionGroup", "azure-native:insights:ActionGroup")
_ALERTMANAGER_CONFIG = "kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig"
ALARM_TYPES: tuple[AlarmType, ...] = (
    AlarmType(
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "alarmActions",
        _SNS,
        _AWS_ACTION_ARN,
        "actionsEnabled",
    ),
    AlarmType(
        "aws:cloudwatch/compositeAlarm:CompositeAlarm",
        "alarmActions",
        _SNS,
        _AWS_ACTION_ARN,
        "actionsEnabled",
    ),
    *(
        AlarmType(
            f"azure-native:{ns}:MetricAlert",
            "actions",
            _ACTION_GROUPS,
            r"(?i)/providers/microsoft\.insights/actiongroups/",
            "enabled",
        )
        for ns in ("monitor", "insights")
    ),
    *(
        AlarmType(
            f"azure-native:{ns}:ScheduledQueryRule",
            "actions.actionGroups",
            _ACTION_GROUPS,
            r"(?i)/providers/microsoft\.insights/actiongroups/",
            "enabled",
        )
        for ns in ("monitor", "insights")
    ),
    AlarmType(
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "notificationChannels",
        ("gcp:monitoring/notificationChannel:NotificationChannel",),
        r"^projects/[^/]+/notificationChannels/[^/]+$",
        "enabled",
    ),
    # A PrometheusRule names the AlertmanagerConfig that routes its alerts in an annotation
    # (an Output of it); Alertmanager matches by labels, so no literal id names a target.
    AlarmType(
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
        "metadata.annotations",
        (_ALERTMANAGER_CONFIG,),
        r"(?!)",
    ),
)
_ALARMS = {a.token: a for a in ALARM_TYPES}

# Targets that tell people; a literal id/ARN notifies when it matches _NOTIFICATION_LITERAL.
NOTIFICATION_TYPES = frozenset(
    {
        "aws:sns/topic:Topic",
        *_ACTION_GROUPS,
        "gcp:monitoring/notificationChannel:NotificationChannel",
        _ALERTMANAGER_CONFIG,
    }
)
_NOTIFICATION_LITERAL = re.compile(
    r"^arn:aws[a-z-]*:sns:|(?i:/providers/microsoft\.insights/actiongroups/)"
    r"|^projects/[^/]+/notificationChannels/[^/]+$"
)

# Where an explicit signal marker lives on each alarm type's wire form.
# A PrometheusRule holds many alerts: one annotation per signal (aideploy-signal-<signal>).
_MARKER_PATHS = (
    "tags.aideploy-signal",
    "userLabels.signal",
    "actions.customProperties",
    *(f"metadata.annotations.aideploy-signal-{signal}" for signal in SIGNAL_CATEGORIES),
)

# Native rollback wired to alarms: (type, wire path of the alarm list, settings that must hold).
NATIVE_ROLLBACK: tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...] = (
    ("aws:sagemaker/endpoint:Endpoint", "deploymentConfig.autoRollbackConfiguration.alarms", ()),
    (
        "aws:ecs/service:Service",
        "alarms.alarmNames",
        (("alarms.enable", True), ("alarms.rollback", True)),
    ),
    (
        "aws:codedeploy/deploymentGroup:DeploymentGroup",
        "alarmConfiguration.alarms",
        (("alarmConfiguration.enabled", True), ("autoRollbackConfiguration.enabled", True)),
    ),
)

_GCP_METRIC_TYPE = re.compile(r'metric\.type\s*=\s*"([^"]+)"')
_STACK_TYPE = "::pulumi:pulumi:Stack::"


def _strings(value: Any) -> Iterator[str]:
    """Every known string inside a wire value (the pack hands lists over as read-only
    Sequences; a value unknown during preview, such as a topic's ARN at the first preview, is
    skipped rather than aborting the stack rule)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for _, item in _known_items(value):
            yield from _strings(item)
    elif isinstance(value, Sequence):
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                continue
            yield from _strings(item)


def _prop(props: Mapping[str, Any], path: str) -> Any:
    """``prop_at`` that reads a value unknown during preview as absent."""
    try:
        return prop_at(props, path)
    except UnknownValueError:
        return None


def _known_items(value: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The mapping's items whose values are known. During a preview a value computed by the
    cloud (an uptime check's id in a filter) is unknown and the pack's proxy raises on reading
    it; one such value must not stop the whole stack rule ("can't run policy during preview")."""
    for k in value:
        try:
            yield k, value[k]
        except UnknownValueError:
            continue


def _metric_names(value: Any, key: str = "") -> Iterator[str]:
    """Metric names (``metricName`` anywhere) and GCP metric types (in filter strings)."""
    if isinstance(value, Mapping):
        for k, item in _known_items(value):
            yield from _metric_names(item, k)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                continue
            yield from _metric_names(item, key)
    elif isinstance(value, str):
        if key == "metricName":
            yield value
        yield from _GCP_METRIC_TYPE.findall(value)


def signal_categories(alarm: PolicyResource) -> set[str]:
    """What an alarm watches: latency, error-rate and/or availability."""
    props = alarm.props
    found: set[str] = set()
    for path in _MARKER_PATHS:
        marker = _prop(props, path)
        if isinstance(marker, Mapping):
            marker = marker.get("aideploy-signal")
        if isinstance(marker, str) and marker in SIGNAL_CATEGORIES:
            found.add(SIGNAL_CATEGORIES[marker])
    for signal, category in SIGNAL_CATEGORIES.items():
        if alarm.name == signal or alarm.name.endswith(f"-{signal}"):
            found.add(category)
    for metric in _metric_names(props):
        if metric in METRIC_SIGNALS:
            found.add(METRIC_SIGNALS[metric])
    return found


def _false(value: Any) -> bool:
    return value is False


@dataclass
class _Stack:
    """The resources of one stack, indexed for the rules."""

    resources: list[PolicyResource]

    def __post_init__(self) -> None:
        self.by_urn = {r.urn: r for r in self.resources}
        self.parents = {r.urn: (r.opts.parent or "") for r in self.resources}
        self._scopes: dict[str, str] = {}

    def scope(self, resource: PolicyResource) -> str:
        """The outermost component holding ``resource`` ("" for the stack itself)."""
        if resource.urn not in self._scopes:
            self._scopes[resource.urn] = self._outermost(resource)
        return self._scopes[resource.urn]

    def _outermost(self, resource: PolicyResource) -> str:
        top, parent = "", self.parents.get(resource.urn, "")
        seen: set[str] = set()
        while parent and _STACK_TYPE not in parent and parent not in seen:
            seen.add(parent)
            top, parent = parent, self.parents.get(parent, "")
        return top

    def of_types(self, tokens: Iterable[str]) -> list[PolicyResource]:
        wanted = set(tokens)
        return [r for r in self.resources if canonical_type(r.resource_type) in wanted]

    def endpoints(self) -> list[PolicyResource]:
        return [
            r
            for r in self.resources
            if canonical_type(r.resource_type) in _SERVING
            and _SERVING[canonical_type(r.resource_type)].serves(r.props)
        ]

    def alarms(self) -> list[PolicyResource]:
        return self.of_types(_ALARMS)

    def related(self, alarm: PolicyResource, endpoint: PolicyResource) -> bool:
        """The alarm watches the endpoint or belongs to the same deployment."""
        deps = {d.urn for d in alarm.dependencies}
        for values in alarm.property_dependencies.values():
            deps.update(d.urn for d in values)
        return endpoint.urn in deps or self.scope(alarm) == self.scope(endpoint)

    def targets(self, alarm: PolicyResource) -> tuple[list[PolicyResource], list[str]]:
        """(target resources of the stack, literal target ids) an alarm notifies."""
        spec = _ALARMS[canonical_type(alarm.resource_type)]
        if spec.enabled and _false(_prop(alarm.props, spec.enabled)):
            return [], []
        top = spec.actions.split(".")[0]
        resources = [
            d
            for d in alarm.property_dependencies.get(top, [])
            if canonical_type(d.resource_type) in spec.target_types
        ]
        given = _strings(_prop(alarm.props, spec.actions))
        literals = [s for s in given if re.search(spec.literal_target, s)]
        return resources, literals

    def routed(self, alarm: PolicyResource) -> bool:
        """The alarm has at least one action (notify, scale, run code)."""
        resources, literals = self.targets(alarm)
        return bool(resources or literals)

    def notifies(self, alarm: PolicyResource) -> bool:
        """The alarm tells people: a topic, action group or channel among its targets."""
        resources, literals = self.targets(alarm)
        return any(canonical_type(r.resource_type) in NOTIFICATION_TYPES for r in resources) or any(
            _NOTIFICATION_LITERAL.search(s) for s in literals
        )


def _describe(r: PolicyResource) -> str:
    return f"{r.resource_type.split(':')[-1]} {r.name!r}"


def _check_monitoring(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    stack = _Stack(list(args.resources))
    alarms = stack.alarms()
    for alarm in alarms:
        if not stack.routed(alarm):
            yield (
                f"alarm {alarm.name!r} has no action: route it to a notification target (SNS "
                "topic, action group, notification channel) and keep its actions enabled",
                alarm.urn,
            )
    routed = [a for a in alarms if stack.notifies(a)]
    for endpoint in stack.endpoints():
        covered: set[str] = set()
        for alarm in routed:
            if stack.related(alarm, endpoint):
                covered |= signal_categories(alarm)
        missing = [c for c in REQUIRED_CATEGORIES if c not in covered]
        if missing:
            yield (
                f"serving endpoint {_describe(endpoint)} has no routed {', '.join(missing)} alarm",
                endpoint.urn,
            )


def _native_rollback(stack: _Stack, endpoint: PolicyResource) -> bool:
    for token, alarms_path, settings in NATIVE_ROLLBACK:
        for r in stack.of_types([token]):
            if r.urn != endpoint.urn and stack.scope(r) != stack.scope(endpoint):
                continue
            alarms = _prop(r.props, alarms_path)
            if not alarms or not any(_strings(alarms)):
                continue
            if all(_prop(r.props, path) == value for path, value in settings):
                return True
    return False


# How far an alarm got towards a working rollback: the message names the furthest miss.
_NO_MARKER, _NOT_INVOCABLE, _NO_READ, _NO_WRITE = 1, 2, 3, 4


def _rollback_problem(
    paths: rollback_paths.Stack,
    alarm: PolicyResource,
    consumer: PolicyResource,
    targets: Sequence[PolicyResource],
) -> tuple[int, str] | None:
    """Why ``consumer`` is no rollback for ``alarm``, ranked (None when it is one)."""
    what = f"alarm {alarm.name!r} reaches {_describe(consumer)}"
    if not rollback_paths.marked(consumer):
        return _NO_MARKER, (
            f"{what}, which does not carry the rollback marker (tag or label "
            f"aideploy-role={rollback_paths.MARKER_VALUE})"
        )
    if not paths.invocable(consumer):
        return _NOT_INVOCABLE, (
            f"{what}, which no permission lets the alarm's delivering service invoke "
            "(a lambda Permission for events, sns or CloudWatch alarms)"
        )
    grants = paths.grants_of(consumer)
    if not rollback_paths.can_read(grants, alarm):
        return _NO_READ, f"{what}, whose identity has no grant to read the alarm where it is raised"
    if not rollback_paths.changes(grants, targets):
        return _NO_WRITE, (
            f"{what}, whose identity may change nothing that carries the endpoint's traffic"
        )
    return None


def _check_rollback(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    stack = _Stack(list(args.resources))
    unguarded = [e for e in stack.endpoints() if not _native_rollback(stack, e)]
    if not unguarded:  # most programs: no endpoint, or native rollback; skip the path index
        return
    paths = rollback_paths.Stack(stack.resources)
    alarms = [a for a in stack.alarms() if stack.routed(a)]
    consumers = {a.urn: paths.consumers(a) for a in alarms}
    for endpoint in unguarded:
        scope = stack.scope(endpoint)
        targets = [
            r
            for r in stack.of_types(rollback_paths.TARGET_TYPES)
            if r.urn == endpoint.urn or stack.scope(r) == scope
        ]
        problems: list[tuple[int, str]] = []
        wired = False
        for alarm in alarms:
            if wired or not stack.related(alarm, endpoint):
                continue
            for consumer in consumers[alarm.urn]:
                own = [t for t in targets if t.urn != consumer.urn]
                problem = _rollback_problem(paths, alarm, consumer, own)
                if problem is None:
                    wired = True
                    break
                problems.append(problem)
        if wired:
            continue
        why = (
            max(problems, key=lambda p: p[0])[1]
            if problems
            else "no alarm of its deployment reaches a rollback function"
        )
        yield (
            f"serving endpoint {_describe(endpoint)} has no automatic rollback wired to alarms: "
            f"{why}",
            endpoint.urn,
        )


MONITORING = stack_rule(
    "aideploy-stack-require-routed-serving-alarms",
    "Every serving endpoint has latency, error-rate and availability alarms, and every alarm "
    "notifies a target (SNS topic, Azure action group, GCP notification channel).",
    check=_check_monitoring,
    severity=Severity.HIGH,
    tags=["monitoring", "alerting"],
    references=[guardrail("S1")],
    remediation=(
        "Create the serving alarms with the pattern component (components/<cloud>/monitoring.py "
        "does it from components.alarms.serving_alarms), or add a latency, an error-rate and an "
        "availability alarm in the endpoint's deployment, each with an action to an SNS topic / "
        "action group / notification channel that has a subscriber."
    ),
    category=OPERATIONAL,
)

ROLLBACK = stack_rule(
    "aideploy-stack-require-rollback-wired-to-alarms",
    "A production serving endpoint rolls a bad release back automatically when its rollback "
    "alarms fire.",
    check=_check_rollback,
    severity=Severity.HIGH,
    tags=["rollout", "resilience"],
    references=[guardrail("S2")],
    remediation=(
        "Wire the rollback alarms to a rollback: SageMaker deploymentConfig."
        "autoRollbackConfiguration.alarms, ECS service alarms with rollback=true, a CodeDeploy "
        "deployment group with alarm-based auto rollback, or an alarm routed to a rollback "
        "function in the stack (AWS Lambda through the alarm action, SNS or EventBridge; Azure "
        "action group webhook/function receiver; GCP Pub/Sub channel to a function or push "
        "subscription) that carries the tag or label aideploy-role=rollback, whose identity may "
        "read the alarm where it is raised and change what carries the endpoint's traffic "
        "(policies/rules/rollback_paths.py)."
    ),
    category=OPERATIONAL,
)

POLICIES: list[Policy] = [MONITORING, ROLLBACK]

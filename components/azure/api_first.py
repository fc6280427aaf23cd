"""The API-first pattern on Azure.

Request path: client -> Front Door Premium (WAF: DRS + bot manager + per-IP rate limit, TLS 1.2)
-> API Management (only Front Door's traffic; JWT and/or subscription key; per-consumer rate
limit and quota; request size and JSON validation) -> Container Apps (HTTPS ingress accepting
only API Management's addresses; two revisions, stable and candidate, weighted).
Everything logs to one Log Analytics workspace with the profile's retention; alarms are log
search alerts per components.alarms rule, routed per tier; the candidate's rollback alarms call
the rollback function (rollout.py), which puts all traffic back on the stable revision.

Composed from blocks: the stack's group, key, identities and logs (security.py), the hardened
gateway, its backend, APIs and policy fragments (api_management.py), the Container Apps
environment (hosting.py) and the model's app (container_apps.py), the rollback path
(rollout.py) and the alarm set (monitoring.py); the edge (Front Door and its WAF) is this
pattern's own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import pulumi
import pulumi_azure_native.apimanagement as apim
import pulumi_azure_native.app as app
import pulumi_azure_native.cdn as cdn
import pulumi_azure_native.frontdoor as frontdoor

from components.alarms import Tier, rollback_alarms, serving_alarms
from components.azure import (
    api_management,
    container_apps,
    guardrail,
    hosting,
    monitoring,
    roles,
    rollout,
    security,
    waivers,
)
from components.base import PatternComponent
from components.naming import resource_name
from components.spec import AuthMode, DeploymentSpec, Pattern

# The gateway's tiers and TLS settings live with the gateway block (api_management.py); kept
# here under their old names for the callers that read them from this module.
APIM_SKU = api_management.APIM_SKU
APIM_HTTP2_PROPERTY = api_management.APIM_HTTP2_PROPERTY
APIM_TLS_PROPERTIES = api_management.APIM_TLS_PROPERTIES
size_limit_policy = api_management.size_limit_policy

# Subscription keys travel in this header only (review C5). APIM has no "header only" switch:
# the query parameter name is set to a per-service value nobody guesses, and the inbound policy
# answers 400 to any request that carries APIM's default query name or this one.
SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
DEFAULT_QUERY_KEY = "subscription-key"


def subscription_key_query_name(apim_name: str) -> str:
    """The API's subscription-key query parameter name: a hash of the (suffixed, globally
    unique) gateway name, refused by the policy anyway."""
    return "k" + hashlib.sha256(f"{apim_name}/subscription-key-query".encode()).hexdigest()[:31]


def query_key_policy(query_names: tuple[str, ...]) -> list[str]:
    """Inbound policy lines refusing a subscription key in the query string."""
    checks = " || ".join(f'context.Request.Url.Query.ContainsKey("{n}")' for n in query_names)
    return [
        "    <choose>",
        f"      <when condition={quoteattr('@(' + checks + ')')}>",
        '        <return-response><set-status code="400" reason="Bad Request" />'
        '<set-body>{"error": "send the subscription key in the '
        f'{SUBSCRIPTION_KEY_HEADER} header"}}</set-body></return-response>',
        "      </when>",
        "    </choose>",
    ]


@dataclass(frozen=True)
class AuthPlan:
    """What the gateway demands for one AuthMode, and who a rate limit counts against."""

    subscription_key: bool
    jwt: bool
    counter_key: str  # APIM policy expression naming the consumer


_JWT_SUBJECT = (
    '@(context.Request.Headers.GetValueOrDefault("Authorization","")'
    ".AsJwt()?.Subject ?? context.Request.IpAddress)"
)
AUTH_PLANS: dict[AuthMode, AuthPlan] = {
    AuthMode.JWT: AuthPlan(subscription_key=False, jwt=True, counter_key=_JWT_SUBJECT),
    AuthMode.API_KEY: AuthPlan(True, False, "@(context.Subscription.Id)"),
    AuthMode.JWT_AND_API_KEY: AuthPlan(True, True, "@(context.Subscription.Id)"),
}

FRONT_DOOR_ID_VALUE = "front-door-id"

# APIM's built-in health endpoint: Front Door probes the gateway itself, not the model.
APIM_HEALTH_PATH = "/status-0123456789abcdef"

# Managed WAF rule sets on Front Door Premium (rule set type, version).
WAF_MANAGED_RULES: tuple[tuple[str, str], ...] = (
    ("Microsoft_DefaultRuleSet", "2.1"),
    ("Microsoft_BotManagerRuleSet", "1.1"),
)

# The request body schema API Management validates: JSON object. The model's exact input
# contract belongs to the client; tighten it here when it is known.
REQUEST_SCHEMA = '{"type": "object"}'

# validate-content checks at most this many bytes (the documented maximum of its max-size,
# 100 KB; a larger value is rejected when the policy is saved; review #14). The size limit
# itself, api.max_request_bytes, is enforced on the Content-Length header, which any size
# can use; bodies above this cap are still size-limited but not schema-validated.
VALIDATE_CONTENT_MAX_BYTES = 102_400


def validate_content_policy(max_request_bytes: int) -> list[str]:
    """JSON validation of the body, within validate-content's 100 KB ceiling: a larger allowed
    body (Content-Length already checked) passes unvalidated instead of being refused."""
    size = min(max_request_bytes, VALIDATE_CONTENT_MAX_BYTES)
    action = "prevent" if max_request_bytes <= VALIDATE_CONTENT_MAX_BYTES else "ignore"
    return [
        '    <validate-content unspecified-content-type-action="prevent"'
        f' max-size="{size}" size-exceeded-action="{action}"'
        ' errors-variable-name="requestBodyValidation">',
        '      <content type="application/json" validate-as="json" action="prevent" />',
        "    </validate-content>",
    ]


# The health API: GET <health_api_path>/<model.health_path>, no subscription key and no JWT,
# through the same Front Door route and WAF as predict (review E1, contract 1). Its own API, so
# that neither the subscription requirement nor the JWT policy of the model's API applies; its
# own rate limit per caller IP (Front Door's X-Azure-ClientIP: the gateway sees Front Door's
# address, and the Front Door id check guarantees the header was set by our Front Door).
HEALTH_API_ID = "health"
HEALTH_RATE_CALLS = 30
HEALTH_RATE_PERIOD_SECONDS = 60
_CLIENT_IP = (
    '@(context.Request.Headers.GetValueOrDefault("X-Azure-ClientIP", context.Request.IpAddress))'
)


def health_api_path(spec: DeploymentSpec) -> str:
    """The health API's path on the gateway: beside the model's API, never under it."""
    return f"status/{spec.model.name}"


def health_route(spec: DeploymentSpec) -> str:
    """The public path of ``health_url`` (after the host)."""
    return f"/{health_api_path(spec)}{spec.model.health_path}"


def front_door_only_policy(front_door_id: str) -> list[str]:
    """Inbound lines refusing (403) a request our Front Door did not forward: the gateway's
    address is public, the X-Azure-FDID header names the Front Door profile that sent it."""
    return [
        '    <check-header name="X-Azure-FDID" failed-check-httpcode="403"'
        ' failed-check-error-message="Forbidden" ignore-case="true">',
        f"      <value>{escape(front_door_id)}</value>",
        "    </check-header>",
    ]


def health_policy(front_door_id: str, backend_id: str) -> str:
    """The health API's inbound policy: Front Door only, a per-IP rate limit, the model."""
    return api_management.policy_document(
        [
            *front_door_only_policy(front_door_id),
            f'    <rate-limit-by-key calls="{HEALTH_RATE_CALLS}"'
            f' renewal-period="{HEALTH_RATE_PERIOD_SECONDS}"'
            f" counter-key={quoteattr(_CLIENT_IP)} />",
        ],
        backend_id,
    )


def gateway_policy(
    spec: DeploymentSpec,
    front_door_id: str,
    backend_id: str,
    query_key: str = DEFAULT_QUERY_KEY,
) -> str:
    """The API's inbound policy: Front Door only, keys in the header only, auth, per-consumer
    limits, body size and validation.

    The size cap is ``spec.body_cap``: the largest prompt the guardrail reads when the stack
    serves an LLM, else ``api.max_request_bytes`` (the same value for a stack without one)."""
    api = spec.api
    plan = AUTH_PLANS[api.auth]
    issuer, audience = api.jwt() if plan.jwt else ("", "")
    return api_management.policy_document(
        [
            *front_door_only_policy(front_door_id),
            *(query_key_policy(tuple(dict.fromkeys((DEFAULT_QUERY_KEY, query_key))))),
            *(api_management.validate_jwt_policy(issuer, audience) if plan.jwt else []),
            *api_management.consumer_limits_policy(
                api.burst, api.rate_limit_rps, api.quota_per_day, plan.counter_key
            ),
            *size_limit_policy(spec.body_cap),
            *validate_content_policy(spec.body_cap),
        ],
        backend_id,
        removed_headers=("X-Powered-By", "X-AspNet-Version"),
    )


class AzureApiFirst(PatternComponent):
    """API-first serving on Azure: Front Door + WAF, API Management, Container Apps."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        rollout.stop_up_without_webhook_app()  # before anything is declared (review B1)
        super().__init__(name, spec, opts)
        o = self.child_opts()
        base = security.foundation(spec, name, o)
        self.rg, self.keys, self.workspace = base.rg, base.keys, base.workspace
        self.rg_name = security.resource_group_name(spec)
        self.encryption_id, self.insights = base.encryption, base.insights
        self.kms_key_id = self.keys.key_uri
        self.log_group = self.workspace.id
        self._create_identities(name, spec, o)
        self._create_gateway_service(name, spec, o)
        # The LLM's guardrail (none without one): its account, and for a hosted model the
        # content-filter policy and the deployment bound to it (components/azure/guardrail.py).
        self.guardrail = guardrail.create_guardrail(
            spec, name, self.rg, self.serving_id, self.workspace, o
        )
        self._create_serving(name, spec, o)
        self._create_edge(name, spec, o)
        self._create_api(name, spec, o)
        self._create_monitoring(name, spec, o)
        self._finish()

    # -- identities ----------------------------------------------------------------------
    def _create_identities(
        self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions
    ) -> None:
        # One identity per role; each is granted exactly what its role needs, on one resource.
        self.serving_id = security.identity(spec, name, "serving", self.rg, o)
        self.gateway_id = security.identity(spec, name, "gateway", self.rg, o)
        for role, who in (("serving", self.serving_id), ("gateway", self.gateway_id)):
            security.grant(
                f"{name}-{role}-telemetry-grant",
                who,
                "monitoring-metrics-publisher",
                self.insights.id,
                o,
            )

    # -- the gateway service (created first: the model's ingress admits only its addresses) --
    def _create_gateway_service(
        self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions
    ) -> None:
        # *.azure-api.net is global and APIM keeps a deleted service's name (soft delete).
        self.apim_name = security.physical_name(spec, "apim", "gateway")
        self.gateway = api_management.create_gateway(
            f"{name}-apim", spec, self.apim_name, self.rg, self.workspace, o, self.gateway_id
        )
        self.apim = self.gateway.service

    # -- model serving -------------------------------------------------------------------
    def _create_serving(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        self.environment = hosting.container_environment(
            spec, name, "env", self.rg, self.workspace, o
        )
        self.app_name = resource_name(
            "azure", "container-app", spec.project, spec.environment.value, "model"
        )
        # The revision that serves as stable is read from the live app (review A9).
        self.plan = rollout.container_app_plan(
            spec, self.app_name, rollout.live_app(spec, self.rg_name, self.app_name)
        )
        if self.plan.note:
            pulumi.log.warn(self.plan.note, resource=self)
        self.stable_revision = self.plan.stable_revision
        self.candidate_revision = self.plan.candidate_revision
        release = rollout.release(spec)
        # Images in an Azure Container Registry are pulled as bootstrap's pull identity.
        pull = hosting.registry_pull(spec, release.stable_image, release.candidate_image)
        identities: list[pulumi.Input[str]] = [self.serving_id.id]
        if pull is not None:
            identities.append(pull.identity_id)
        cap = spec.capacity
        model = container_apps.Container(
            name="model",
            image=self.plan.template_image,
            cpu=cap.cpu,
            memory=f"{cap.memory_mb / 1024:g}Gi",
            port=spec.model.port,
            health_path=spec.model.health_path,
            env={
                "APPLICATIONINSIGHTS_CONNECTION_STRING": self.insights.connection_string,
                # Application Insights takes Entra-authenticated telemetry only (local auth
                # off): the exporter signs in as the serving identity.
                "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": pulumi.Output.concat(
                    "Authorization=AAD;ClientId=", self.serving_id.client_id
                ),
                "AZURE_CLIENT_ID": self.serving_id.client_id,
                # Telemetry carries the app and the version, so alarms tell candidate from
                # stable (AppRoleName, AppVersion).
                "OTEL_SERVICE_NAME": self.app_name,
                "OTEL_RESOURCE_ATTRIBUTES": f"service.version={self.plan.template_version}",
                "MODEL_VERSION": self.plan.template_version,
                # The hook's configuration and the guardrail's endpoint (components.llm).
                **(self.guardrail.env if self.guardrail is not None else {}),
            },
        )
        cpu_scale = app.ScaleArgs(
            min_replicas=cap.min_instances,
            max_replicas=cap.max_instances,
            rules=[
                app.ScaleRuleArgs(
                    name="cpu",
                    custom=app.CustomScaleRuleArgs(
                        type="cpu",
                        metadata={"type": "Utilization", "value": str(cap.target_cpu_percent)},
                    ),
                )
            ],
        )
        self.container_app = container_apps.create_container_app(
            f"{name}-model",
            spec,
            self.app_name,
            self.rg,
            self.environment,
            identities,
            model,
            # Only API Management may call the model: ingress allows its public addresses alone.
            container_apps.https_ingress(
                spec.model.port,
                allow=api_management.ingress_allow_list(self.apim),
                traffic=list(self.plan.traffic),
            ),
            cpu_scale,
            o,
            revision_suffix=self.candidate_revision.split("--", 1)[1],
            multiple_revisions=True,
            registries=pull.registries() if pull is not None else None,
        )
        self.serving_service = self.container_app.name.apply(lambda _: self.app_name)
        self.canary_service = pulumi.Output.from_input(self.candidate_revision)

    # -- the API on the gateway -----------------------------------------------------------
    def _create_api(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        rg, service = self.rg.name, self.apim.name
        logger = apim.Logger(
            f"{name}-apim-logger",
            resource_group_name=rg,
            service_name=service,
            logger_type=apim.LoggerType.APPLICATION_INSIGHTS,
            resource_id=self.insights.id,
            credentials={
                "connectionString": self.insights.connection_string,
                "identityClientId": self.gateway_id.client_id,
            },
            opts=o,
        )
        backend_url = pulumi.Output.concat(
            "https://", self.app_name, ".", self.environment.default_domain
        )
        backend = api_management.create_backend(
            f"{name}-apim-backend", self.rg, self.apim, "model", backend_url, o
        )
        # The policy reads Front Door's id from a named value: the XML stays static and the id
        # is resolved by the gateway, not spliced into policy text.
        front_door_id = apim.NamedValue(
            f"{name}-apim-fdid",
            resource_group_name=rg,
            service_name=service,
            named_value_id=FRONT_DOOR_ID_VALUE,
            display_name=FRONT_DOOR_ID_VALUE,
            value=self.front_door.front_door_id,
            secret=False,
            opts=o,
        )
        plan = AUTH_PLANS[spec.api.auth]
        self.query_key = subscription_key_query_name(self.apim_name)
        api = api_management.create_api(
            f"{name}-api",
            self.rg,
            self.apim,
            "model",
            f"{spec.model.name} API",
            spec.model.name,
            backend_url,
            o,
            subscription_required=plan.subscription_key,
            key_names=apim.SubscriptionKeyParameterNamesContractArgs(
                header=SUBSCRIPTION_KEY_HEADER, query=self.query_key
            ),
        )
        schema = apim.ApiSchema(
            f"{name}-api-schema",
            resource_group_name=rg,
            service_name=service,
            api_id=api.name,
            schema_id="request",
            content_type="application/vnd.oai.openapi.components+json",
            value=f'{{"schemas": {{"PredictRequest": {REQUEST_SCHEMA}}}}}',
            opts=o,
        )
        apim.ApiOperation(
            f"{name}-api-predict",
            resource_group_name=rg,
            service_name=service,
            api_id=api.name,
            operation_id="predict",
            display_name="Predict",
            method="POST",
            url_template=spec.model.predict_path,
            request=apim.RequestContractArgs(
                representations=[
                    apim.RepresentationContractArgs(
                        content_type="application/json",
                        schema_id=schema.name,
                        type_name="PredictRequest",
                    )
                ]
            ),
            opts=o,
        )
        api_management.create_api_policy(
            f"{name}-api-policy",
            self.rg,
            self.apim,
            api,
            gateway_policy(spec, "{{" + FRONT_DOOR_ID_VALUE + "}}", "model", self.query_key),
            [backend, front_door_id],
            o,
        )
        apim.ApiDiagnostic(
            f"{name}-api-diagnostic",
            resource_group_name=rg,
            service_name=service,
            api_id=api.name,
            diagnostic_id="applicationinsights",
            logger_id=logger.id,
            always_log=apim.AlwaysLog.ALL_ERRORS,
            log_client_ip=True,
            sampling=apim.SamplingSettingsArgs(
                sampling_type=apim.SamplingType.FIXED, percentage=100
            ),
            opts=o,
        )
        product = apim.Product(
            f"{name}-product",
            resource_group_name=rg,
            service_name=service,
            product_id="consumers",
            display_name=f"{spec.project} consumers",
            subscription_required=plan.subscription_key,
            approval_required=plan.subscription_key,
            state=apim.ProductState.PUBLISHED,
            opts=o,
        )
        apim.ProductApi(
            f"{name}-product-api",
            resource_group_name=rg,
            service_name=service,
            product_id=product.name,
            api_id=api.name,
            opts=o,
        )
        self._create_health_api(name, spec, backend_url, [backend, front_door_id], o)
        self.api = api
        self.api_id = api.id

    def _create_health_api(
        self,
        name: str,
        spec: DeploymentSpec,
        backend_url: pulumi.Input[str],
        policy_deps: list[pulumi.Resource],
        o: pulumi.ResourceOptions,
    ) -> None:
        """GET health, anonymous, rate-limited per caller IP, forwarded to the model's
        ``health_path`` (readiness: 200 only when the model is loaded)."""
        rg, service = self.rg.name, self.apim.name
        health = api_management.create_api(
            f"{name}-health-api",
            self.rg,
            self.apim,
            HEALTH_API_ID,
            f"{spec.model.name} health",
            health_api_path(spec),
            backend_url,
            o,
        )
        apim.ApiOperation(
            f"{name}-health-get",
            resource_group_name=rg,
            service_name=service,
            api_id=health.name,
            operation_id="health",
            display_name="Health",
            method="GET",
            url_template=spec.model.health_path,
            opts=o,
        )
        api_management.create_api_policy(
            f"{name}-health-policy",
            self.rg,
            self.apim,
            health,
            health_policy("{{" + FRONT_DOOR_ID_VALUE + "}}", "model"),
            policy_deps,
            o,
        )
        self.health_api = health

    # -- the edge ------------------------------------------------------------------------
    def _create_edge(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        rg = self.rg.name
        waf = frontdoor.Policy(
            f"{name}-waf",
            policy_name=resource_name("azure", "waf-policy", spec.project, spec.environment.value),
            resource_group_name=rg,
            location="Global",
            sku=frontdoor.SkuArgs(name=frontdoor.SkuName.PREMIUM_AZURE_FRONT_DOOR),
            policy_settings=frontdoor.PolicySettingsArgs(
                enabled_state=frontdoor.PolicyEnabledState.ENABLED,
                mode=frontdoor.PolicyMode.PREVENTION,
                request_body_check=frontdoor.PolicyRequestBodyCheck.ENABLED,
            ),
            managed_rules=frontdoor.ManagedRuleSetListArgs(
                managed_rule_sets=[
                    frontdoor.ManagedRuleSetArgs(
                        rule_set_type=kind,
                        rule_set_version=version,
                        rule_set_action=frontdoor.ManagedRuleSetActionType.BLOCK,
                    )
                    for kind, version in WAF_MANAGED_RULES
                ]
            ),
            custom_rules=frontdoor.CustomRuleListArgs(
                rules=[
                    frontdoor.CustomRuleArgs(
                        name="ratelimitperclient",
                        priority=100,
                        enabled_state=frontdoor.CustomRuleEnabledState.ENABLED,
                        rule_type=frontdoor.RuleType.RATE_LIMIT_RULE,
                        rate_limit_duration_in_minutes=5,
                        rate_limit_threshold=spec.api.waf_rate_limit_per_5min,
                        group_by=[frontdoor.GroupByVariableArgs(variable_name="SocketAddr")],
                        match_conditions=[
                            frontdoor.MatchConditionArgs(
                                match_variable=frontdoor.MatchVariable.REMOTE_ADDR,
                                operator=frontdoor.Operator.IP_MATCH,
                                negate_condition=False,
                                match_value=["0.0.0.0/0", "::/0"],
                            )
                        ],
                        action=frontdoor.ActionType.BLOCK,
                    ),
                    *edge_body_cap_rules(spec),
                ]
            ),
            tags=spec.standard_tags(),
            opts=o,
        )
        self.front_door = cdn.Profile(
            f"{name}-frontdoor",
            resource_group_name=rg,
            location="Global",
            sku=cdn.SkuArgs(name=cdn.SkuName.PREMIUM_AZURE_FRONT_DOOR),
            origin_response_timeout_seconds=60,
            tags=spec.standard_tags(),
            opts=o,
        )
        profile = self.front_door.name
        endpoint = cdn.AFDEndpoint(
            f"{name}-edge",
            # Endpoint names are unique worldwide: suffixed stacks name theirs (the container-app
            # rule's 32 characters fit Front Door's limit); older stacks keep their auto-name.
            endpoint_name=(
                security.physical_name(spec, "container-app", "edge")
                if spec.suffix is not None
                else None
            ),
            resource_group_name=rg,
            profile_name=profile,
            location="Global",
            enabled_state=cdn.EnabledState.ENABLED,
            tags=spec.standard_tags(),
            opts=o,
        )
        origin_group = cdn.AFDOriginGroup(
            f"{name}-edge-origins",
            resource_group_name=rg,
            profile_name=profile,
            session_affinity_state=cdn.EnabledState.DISABLED,
            health_probe_settings=cdn.HealthProbeParametersArgs(
                probe_path=APIM_HEALTH_PATH,
                probe_protocol=cdn.ProbeProtocol.HTTPS,
                probe_request_type=cdn.HealthProbeRequestType.HEAD,
                probe_interval_in_seconds=60,
            ),
            load_balancing_settings=cdn.LoadBalancingSettingsParametersArgs(
                sample_size=4, successful_samples_required=3, additional_latency_in_milliseconds=50
            ),
            opts=o,
        )
        self.custom_domain = custom_domain(spec, name, rg, profile, o)
        domains = [endpoint.id] + ([self.custom_domain.id] if self.custom_domain else [])
        gateway_host = f"{self.apim_name}.azure-api.net"
        origin = cdn.AFDOrigin(
            f"{name}-edge-apim",
            resource_group_name=rg,
            profile_name=profile,
            origin_group_name=origin_group.name,
            host_name=gateway_host,
            origin_host_header=gateway_host,
            https_port=443,
            http_port=80,
            enforce_certificate_name_check=True,
            enabled_state=cdn.EnabledState.ENABLED,
            opts=o,
        )
        cdn.Route(
            f"{name}-edge-route",
            resource_group_name=rg,
            profile_name=profile,
            endpoint_name=endpoint.name,
            origin_group=cdn.ResourceReferenceArgs(id=origin_group.id),
            supported_protocols=[cdn.AFDEndpointProtocols.HTTPS],
            custom_domains=(
                [cdn.ActivatedResourceReferenceArgs(id=self.custom_domain.id)]
                if self.custom_domain
                else None
            ),
            forwarding_protocol=cdn.ForwardingProtocol.HTTPS_ONLY,
            https_redirect=cdn.HttpsRedirect.DISABLED,
            link_to_default_domain=cdn.LinkToDefaultDomain.ENABLED,
            patterns_to_match=["/*"],
            enabled_state=cdn.EnabledState.ENABLED,
            opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=[origin])),
        )
        cdn.SecurityPolicy(
            f"{name}-edge-waf",
            resource_group_name=rg,
            profile_name=profile,
            parameters=cdn.SecurityPolicyWebApplicationFirewallParametersArgs(
                type="WebApplicationFirewall",
                waf_policy=cdn.ResourceReferenceArgs(id=waf.id),
                associations=[
                    cdn.SecurityPolicyWebApplicationFirewallAssociationArgs(
                        domains=[cdn.ActivatedResourceReferenceArgs(id=d) for d in domains],
                        patterns_to_match=["/*"],
                    )
                ],
            ),
            opts=o,
        )
        security.diagnostics(f"{name}-frontdoor-diagnostics", self.front_door.id, self.workspace, o)
        self.waf = waf
        host = (
            pulumi.Output.from_input(spec.api.domain)
            if self.custom_domain is not None and spec.api.domain
            else endpoint.host_name
        )
        self.endpoint_url = pulumi.Output.concat(
            "https://", host, "/", spec.model.name, spec.model.predict_path
        )
        # Same host, same route ("/*"), same WAF association as predict.
        self.health_url = pulumi.Output.concat("https://", host, health_route(spec))

    # -- alarms, rollback, dashboard ---------------------------------------------------------
    def _create_monitoring(
        self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions
    ) -> None:
        rules = serving_alarms(spec)
        log = request_log(spec, self.app_name)
        self.rollback = rollout.rollback_path(
            spec,
            name,
            self.rg,
            self.workspace,
            self.insights,
            [monitoring.alarm_rule_name(spec, r) for r in rollback_alarms(spec)],
            rollout.RollbackTarget(
                kind="container-app",
                resource_id=self.container_app.id,
                stable=self.stable_revision,
                candidate=self.candidate_revision,
                role=roles.ROLLBACK_CONTAINER_APP,
            ),
            log,
            o,
        )
        self.monitoring = monitoring.serving_monitoring(
            spec,
            name,
            rules,
            self.rg,
            self.workspace,
            log,
            self.rollback.action_group,
            o,
            guardrail_app=self.app_name if spec.llm.enabled else None,
        )
        channels = self.monitoring.channels
        monitoring.rollback_reports(
            spec, name, self.rg, self.workspace, self.rollback.app_name, channels, o
        )
        monitoring.uptime_check(
            spec, name, self.rg, self.insights, self.health_url, channels[Tier.PAGE], o
        )
        self.rollback_alarms = pulumi.Output.from_input(list(self.monitoring.rollback_alarm_names))
        self.alert_topic = self.monitoring.alert_topic
        self.dashboard_name = self.monitoring.dashboard.display_name


# A body above the cap is refused at the edge too when the stack serves an LLM (a WAF size
# constraint on the request body, in bytes). Front Door's managed rules read only the start of
# a large body and its policy has no oversize action, so this rule is not what makes the
# guardrail hold: API Management refuses any body above spec.body_cap by its Content-Length
# (411 without one) and the guardrail reads every byte below it (docs/patterns/azure.md).
EDGE_BODY_CAP_RULE = "bodyovercap"
EDGE_BODY_CAP_PRIORITY = 90


def edge_body_cap_rules(spec: DeploymentSpec) -> list[frontdoor.CustomRuleArgs]:
    """The WAF rule refusing request bodies above ``spec.body_cap`` (LLM stacks only: a stack
    without an LLM keeps exactly the WAF it had)."""
    if not spec.llm.enabled:
        return []
    return [
        frontdoor.CustomRuleArgs(
            name=EDGE_BODY_CAP_RULE,
            priority=EDGE_BODY_CAP_PRIORITY,
            enabled_state=frontdoor.CustomRuleEnabledState.ENABLED,
            rule_type=frontdoor.RuleType.MATCH_RULE,
            match_conditions=[
                frontdoor.MatchConditionArgs(
                    match_variable=frontdoor.MatchVariable.REQUEST_BODY,
                    operator=frontdoor.Operator.GREATER_THAN,
                    negate_condition=False,
                    match_value=[str(spec.body_cap)],
                )
            ],
            action=frontdoor.ActionType.BLOCK,
        )
    ]


def custom_domain(
    spec: DeploymentSpec,
    name: str,
    rg: pulumi.Input[str],
    profile: pulumi.Input[str],
    o: pulumi.ResourceOptions,
) -> cdn.AFDCustomDomain | None:
    """The client's own host name (``api.domain``) on Front Door, with a certificate Front Door
    issues and renews, TLS 1.2 or newer.

    The client creates two DNS records (docs/patterns/azure.md): the ``_dnsauth.<domain>`` TXT
    record holding the domain's validation token, and a CNAME from the domain to the endpoint's
    host name. A public wildcard-DNS name (dev only) gives no place for the TXT record, so it
    is not attached: dev then uses the endpoint's own ``*.azurefd.net`` name, which already
    has a certificate.
    """
    domain = spec.api.domain
    if domain is None or spec.api.wildcard_dns:
        return None
    return cdn.AFDCustomDomain(
        f"{name}-edge-domain",
        custom_domain_name=resource_name("azure", "default", domain.replace(".", "-")),
        host_name=domain,
        resource_group_name=rg,
        profile_name=profile,
        tls_settings=cdn.AFDDomainHttpsParametersArgs(
            certificate_type=cdn.AfdCertificateType.MANAGED_CERTIFICATE,
            cipher_suite_set_type=cdn.AfdCipherSuiteSetType.TLS12_2023,
            minimum_tls_version=cdn.AfdMinimumTlsVersion.TLS12,
        ),
        opts=o,
    )


# Failures API Management generated or passed on without the model answering them itself: no
# backend answer (a timeout, a reset: BackendResponseCode 0 or absent) or the Container Apps
# proxy's 502/503/504 (a crashed or unready revision). The gateway cannot tell which revision
# failed, so while a candidate is live they count against it (review E3 and E.10: returning
# traffic to the version that served alone before is cheap); a model that itself answers
# 503 is counted twice, which errs the same way.
GATEWAY_FAILURE = (
    "ResponseCode >= 500 and (isnull(BackendResponseCode)"
    " or BackendResponseCode in (0, 502, 503, 504))"
)


def request_log(spec: DeploymentSpec, app_name: str) -> monitoring.RequestLog:
    """Where API-first requests are logged.

    Customer-facing signals come from API Management's gateway log (what consumers actually
    got, including gateway rejections). The versions' signals come from the model's own
    request telemetry in Application Insights: rows of the predict route (not probes or the
    health route) of this app (AppRoleName = OTEL_SERVICE_NAME) and one version (AppVersion
    = service.version); the split happens inside Container Apps, behind the gateway. The
    gateway's own failures are added to the candidate's.
    """
    release = rollout.release(spec)
    route = f'Name == "POST {spec.model.predict_path}"'

    def version(v: str) -> monitoring.LogView:
        return monitoring.LogView(
            table="AppRequests",
            latency_ms="DurationMs",
            status="toint(ResultCode)",
            where=f'AppRoleName == "{app_name}" and AppVersion == "{v}" and {route}',
        )

    gateway = 'ApiId == "model"'
    return monitoring.RequestLog(
        serving=monitoring.LogView(
            table="ApiManagementGatewayLogs",
            latency_ms="TotalTime",
            status="ResponseCode",
            where=gateway,
        ),
        candidate=version(release.candidate_version),
        stable=version(release.stable_version),
        gateway_failures=(
            monitoring.LogView(
                table="ApiManagementGatewayLogs",
                latency_ms="TotalTime",
                status="ResponseCode",
                where=f"{gateway} and {GATEWAY_FAILURE}",
            )
            if spec.has_candidate
            else None
        ),
    )


def policy_waivers(
    name: str, spec: DeploymentSpec | None = None
) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config for this component: the exceptions components/azure/waivers.py declares,
    each with its reason (and, with a spec, the paging groups that post to third-party URLs)."""
    return waivers.policy_waivers(name, Pattern.API_FIRST, spec)

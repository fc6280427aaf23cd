"""The API-first pattern on GCP.

    client --TLS 1.2+ (SSL policy MODERN)--> global external Application Load Balancer
        Cloud Armor: OWASP rule sets, request size, per-consumer throttle, per-IP rate ban
        weighted split (stable / candidate backend services) from components.alarms.traffic_split
      --> serverless NEG --> Cloud Run v2 service (ingress: internal + load balancer only)
            ESPv2 container: JWT (issuer/audience) and/or API keys, per-consumer quotas
            model container: the image, reachable only through ESPv2 on localhost

Why a load balancer with ESPv2 rather than API Gateway: API Gateway cannot carry Cloud Armor,
an SSL policy or a private Cloud Run ingress (it calls Cloud Run's public URL), and it has no
weighted split between two backends. The load balancer gives WAF, TLS policy, the canary split
and per-backend metrics (which the canary alarms read); ESPv2, driven by the Cloud Endpoints
service config, gives the same JWT/API-key auth and quotas API Gateway would (API Gateway *is*
ESPv2 managed by Google). See docs/patterns/gcp.md.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.alarms import alarm_name, guardrail_alarms, rollback_alarms, serving_alarms
from components.base import PatternComponent
from components.gcp import cloud_run, guardrail, monitoring, rollout, security
from components.gcp.release_watch import Target
from components.gcp.rollout import Release
from components.naming import resource_name
from components.spec import WILDCARD_DNS_DOMAINS, AuthMode, DeploymentSpec, Pattern

ESP_IMAGE = "gcr.io/endpoints-release/endpoints-runtime:2"
ESP_PORTS = (8000, 8001)  # the first one the model does not use
ESP_MEMORY_MIB = 512
ESP_MIN_CPU = 0.5
# The CPU counts Cloud Run allows for one instance (all its containers together).
INSTANCE_CPUS: tuple[int, ...] = (1, 2, 4, 6, 8)
# CPU only while requests are served (request-based billing): the behaviour Cloud Run has
# without `resources`; with `resources` set it must be said explicitly (review A11).
CPU_IDLE = True
KEY_USERS = ("run", "logging", *rollout.ROLLBACK_KEY_USERS)

# OpenAPI security requirements per auth mode: one object means all of its schemes at once.
AUTH_SECURITY: dict[AuthMode, list[dict[str, list[str]]]] = {
    AuthMode.JWT: [{"jwt": []}],
    AuthMode.API_KEY: [{"api_key": []}],
    AuthMode.JWT_AND_API_KEY: [{"jwt": [], "api_key": []}],
}
# The request header that identifies a consumer for Cloud Armor's per-consumer throttle.
CONSUMER_HEADER: dict[AuthMode, str] = {
    AuthMode.JWT: "authorization",
    AuthMode.API_KEY: "x-api-key",
    AuthMode.JWT_AND_API_KEY: "x-api-key",
}
# Cloud Armor's preconfigured OWASP rule sets (ModSecurity CRS 3.3), sensitivity 1.
WAF_RULE_SETS: tuple[str, ...] = (
    "sqli-v33-stable",
    "xss-v33-stable",
    "lfi-v33-stable",
    "rfi-v33-stable",
    "rce-v33-stable",
    "methodenforcement-v33-stable",
    "scannerdetection-v33-stable",
    "protocolattack-v33-stable",
    "sessionfixation-v33-stable",
)
DEFAULT_RULE_PRIORITY = 2147483647
# The health route's own rate limit per client IP, at Cloud Armor (ESPv2 quotas need an API key
# to name a consumer, which an unauthenticated route has not): generous for uptime checkers and
# the pipeline's probes, far below what would load the model.
HEALTH_RATE_PER_MINUTE = 60
HEALTH_RULE_PRIORITY = 1900  # after the size and OWASP rules, before the per-consumer throttle
SIZE_RULE_PRIORITY = 900
# Cloud Armor's preconfigured WAF rules read the first 8 KB of a body by default, 64 KB at most
# (advanced_options_config.request_body_inspection_size). An LLM stack inspects as much as
# Cloud Armor can; what lies beyond it, up to spec.body_cap (the size rule refuses anything
# larger), the guardrail reads whole: the model server's hook sends every chunk to Model Armor,
# Vertex AI screens the whole prompt. Stacks without an LLM keep Cloud Armor's default.
LLM_BODY_INSPECTION_SIZE = "64KB"


class GcpApiFirst(PatternComponent):
    """Model serving behind an authenticated, rate-limited, WAF-protected HTTPS API on GCP."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, spec, opts)
        child = self.child_opts()
        self.project = security.current_project(self)
        self.key = security.create_key(name, spec, self.project, KEY_USERS, child)
        self.serving_account = security.service_account("serving", spec, self.project, self)
        # The LLM's guardrail (None without an LLM): the model container is told its name.
        self.guardrail = guardrail.create_guardrail(
            name, spec, self.project, self.serving_account, child
        )
        self._create_api(name, spec, child)
        stable, candidate = rollout.releases(spec)
        self.stable_service = self._create_service(name, "stable", stable, spec, child)
        self.canary_service_resource = self._create_service(name, "canary", candidate, spec, child)
        self._create_edge(name, spec, stable, candidate, child)
        self._create_logging(name, spec, child)
        self._create_monitoring(name, spec, child)

        self.endpoint_url = pulumi.Output.concat("https://", self.domain)
        # GET, no credentials, through the same load balancer, Cloud Armor policy and ESPv2 as
        # predict, forwarded to the model's readiness path (contract 1, review E1).
        self.health_url = pulumi.Output.concat("https://", self.domain, spec.model.health_path)
        self.rollback_alarms = [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
        self.api_id = self.api.service_name
        self.serving_service = self.stable_service.name
        self.canary_service = self.canary_service_resource.name
        self.kms_key_id = self.key.id
        self.log_group = self.logs.bucket.id
        self.alert_topic = self.routing.page_channel
        self.dashboard_name = monitoring.dashboard_name(self.dashboard, spec)
        self._finish()

    # -- API contract: Cloud Endpoints service config enforced by ESPv2 -----------------------
    def _create_api(self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions) -> None:
        self.api_host = self.project.project_id.apply(lambda p: endpoints_service_name(spec, p))
        self.api = gcp.endpoints.Service(
            f"{name}-api",
            gcp.endpoints.ServiceArgs(
                service_name=self.api_host,
                openapi_config=self.api_host.apply(lambda host: openapi_document(spec, host)),
            ),
            opts=opts,
        )
        self.api_enabled = security.enable_managed_service(
            f"{name}-api-enabled", self.project, self.api.service_name, opts
        )
        # ESPv2 reports checks and quota to Service Control for this one service only.
        gcp.endpoints.ServiceIamMember(
            f"{name}-api-controller",
            gcp.endpoints.ServiceIamMemberArgs(
                service_name=self.api.service_name,
                role="roles/servicemanagement.serviceController",
                member=security.member(self.serving_account),
            ),
            opts=opts,
        )

    # -- Serving: one Cloud Run service per release slot --------------------------------------
    def _create_service(
        self,
        name: str,
        role: str,
        release: Release,
        spec: DeploymentSpec,
        opts: pulumi.ResourceOptions,
    ) -> gcp.cloudrunv2.Service:
        cap = spec.capacity
        # The candidate slot idles at zero instances while it carries no traffic.
        min_instances, max_instances = (
            (cap.min_instances, cap.max_instances)
            if role == "stable" or release.percent
            else (0, 1)
        )
        esp_port = next(p for p in ESP_PORTS if p != spec.model.port)
        model = spec.model
        model_cpu, esp_cpu = container_cpus(cap.cpu)
        return cloud_run.create_service(
            f"{name}-run-{role}",
            spec,
            self.key,
            opts,
            name=resource_name("gcp", "cloud-run", spec.project, spec.environment.value, role),
            account=self.serving_account,
            # Only the load balancer reaches the service; ESPv2 does the authentication, so the
            # Cloud Run invoker check is off instead of granting allUsers (rule 28).
            access=cloud_run.Access(
                ingress=cloud_run.INTERNAL_LOAD_BALANCER, invoker_check=False, default_uri=False
            ),
            service_labels=security.labels(
                spec, role=role, release=rollout.version_label(release.version)
            ),
            revision_labels=security.labels(spec, role=role),
            concurrency=request_concurrency(cap.cpu),
            scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                min_instance_count=min_instances,
                max_instance_count=max_instances,
                cpu_utilization=cap.target_cpu_percent / 100,
            ),
            containers=[
                gcp.cloudrunv2.ServiceTemplateContainerArgs(
                    name="esp",
                    image=ESP_IMAGE,
                    ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(container_port=esp_port),
                    envs=[
                        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                            name="ESPv2_ARGS",
                            value=self.api.service_name.apply(
                                functools.partial(esp_args, spec, port=esp_port)
                            ),
                        )
                    ],
                    depends_ons=["model"],
                    resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                        limits={"cpu": esp_cpu, "memory": f"{ESP_MEMORY_MIB}Mi"},
                        cpu_idle=CPU_IDLE,
                    ),
                ),
                gcp.cloudrunv2.ServiceTemplateContainerArgs(
                    name="model",
                    image=release.image,
                    envs=[
                        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                            name="MODEL_VERSION", value=release.version
                        ),
                        # Cloud Run reserves PORT (it sets it for the ingress container, here
                        # ESPv2), so the model's port has its own name.
                        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                            name="MODEL_PORT", value=str(model.port)
                        ),
                        *(self.guardrail.environment(spec) if self.guardrail else []),
                    ],
                    resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                        limits={"cpu": model_cpu, "memory": f"{cap.memory_mb}Mi"},
                        cpu_idle=CPU_IDLE,
                    ),
                    startup_probe=cloud_run.startup_probe(model.health_path, model.port),
                    liveness_probe=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeArgs(
                        http_get=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs(
                            path=model.health_path, port=model.port
                        ),
                        period_seconds=30,
                    ),
                ),
            ],
            # ESPv2 fetches the managed service's config on start: it must be enabled first.
            # The model server checks its guardrail from the first request: its grants too.
            after=[self.api_enabled, *(self.guardrail.grants if self.guardrail else ())],
        )

    # -- Edge: load balancer, TLS, Cloud Armor, weighted canary split -------------------------
    def _create_edge(
        self,
        name: str,
        spec: DeploymentSpec,
        stable: Release,
        candidate: Release,
        opts: pulumi.ResourceOptions,
    ) -> None:
        self.armor = gcp.compute.SecurityPolicy(
            f"{name}-armor",
            gcp.compute.SecurityPolicyArgs(
                type="CLOUD_ARMOR",
                description=f"WAF and rate limits of {spec.project} {spec.environment.value}",
                rules=armor_rules(spec),
                advanced_options_config=gcp.compute.SecurityPolicyAdvancedOptionsConfigArgs(
                    json_parsing="STANDARD",
                    log_level="VERBOSE",
                    request_body_inspection_size=body_inspection_size(spec),
                ),
                adaptive_protection_config=gcp.compute.SecurityPolicyAdaptiveProtectionConfigArgs(
                    layer7_ddos_defense_config=gcp.compute.SecurityPolicyAdaptiveProtectionConfigLayer7DdosDefenseConfigArgs(
                        enable=True
                    )
                ),
            ),
            opts=opts,
        )
        self.backends = {
            role: self._create_backend(name, role, service, spec, opts)
            for role, service in (
                ("stable", self.stable_service),
                ("canary", self.canary_service_resource),
            )
        }
        self.url_map = gcp.compute.URLMap(
            f"{name}-urlmap",
            gcp.compute.URLMapArgs(
                name=resource_name("gcp", "default", spec.project, spec.environment.value, "api"),
                description="Weighted split between the stable and the candidate release",
                default_route_action=gcp.compute.URLMapDefaultRouteActionArgs(
                    weighted_backend_services=[
                        gcp.compute.URLMapDefaultRouteActionWeightedBackendServiceArgs(
                            backend_service=self.backends["stable"].id, weight=stable.percent
                        ),
                        gcp.compute.URLMapDefaultRouteActionWeightedBackendServiceArgs(
                            backend_service=self.backends["canary"].id, weight=candidate.percent
                        ),
                    ]
                ),
            ),
            opts=opts,
        )
        self.ssl_policy = gcp.compute.SSLPolicy(
            f"{name}-tls",
            gcp.compute.SSLPolicyArgs(profile="MODERN", min_tls_version="TLS_1_2"),
            opts=opts,
        )
        self.address = gcp.compute.GlobalAddress(
            f"{name}-ip",
            gcp.compute.GlobalAddressArgs(labels=security.labels(spec)),
            opts=opts,
        )
        # A Google-managed certificate for the client's host name: Google issues it once the
        # name's DNS A record points at this address (15-60 minutes; docs/patterns/gcp.md). A
        # bare wildcard-DNS domain (dev only, the spec refuses it elsewhere) names the address.
        self.domain = host_of(spec, self.address.address)
        certificate = gcp.compute.ManagedSslCertificate(
            f"{name}-cert",
            gcp.compute.ManagedSslCertificateArgs(
                managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=[self.domain])
            ),
            opts=opts,
        )
        proxy = gcp.compute.TargetHttpsProxy(
            f"{name}-https-proxy",
            gcp.compute.TargetHttpsProxyArgs(
                url_map=self.url_map.id,
                ssl_certificates=[certificate.id],
                ssl_policy=self.ssl_policy.id,
                quic_override="DISABLE",
            ),
            opts=opts,
        )
        # HTTPS only: there is no port-80 rule at all, so nothing is ever served in clear text.
        gcp.compute.GlobalForwardingRule(
            f"{name}-https",
            gcp.compute.GlobalForwardingRuleArgs(
                target=proxy.id,
                ip_address=self.address.id,
                port_range="443",
                ip_protocol="TCP",
                load_balancing_scheme="EXTERNAL_MANAGED",
                labels=security.labels(spec),
            ),
            opts=opts,
        )

    def _create_backend(
        self,
        name: str,
        role: str,
        service: gcp.cloudrunv2.Service,
        spec: DeploymentSpec,
        opts: pulumi.ResourceOptions,
    ) -> gcp.compute.BackendService:
        neg = gcp.compute.RegionNetworkEndpointGroup(
            f"{name}-neg-{role}",
            gcp.compute.RegionNetworkEndpointGroupArgs(
                region=spec.region,
                network_endpoint_type="SERVERLESS",
                cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(service=service.name),
            ),
            opts=opts,
        )
        return gcp.compute.BackendService(
            f"{name}-backend-{role}",
            gcp.compute.BackendServiceArgs(
                name=backend_name(spec, role),
                protocol="HTTPS",
                load_balancing_scheme="EXTERNAL_MANAGED",
                security_policy=self.armor.id,
                backends=[gcp.compute.BackendServiceBackendArgs(group=neg.id)],
                log_config=gcp.compute.BackendServiceLogConfigArgs(enable=True, sample_rate=1.0),
            ),
            opts=opts,
        )

    # -- Logs and audit ------------------------------------------------------------------------
    def _create_logging(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        services = pulumi.Output.all(self.stable_service.name, self.canary_service_resource.name)
        log_filter = pulumi.Output.all(services, self.url_map.name).apply(
            lambda v: log_filter_for(list(v[0]), v[1])
        )
        self.logs = security.create_log_store(name, spec, self.project, self.key, log_filter, opts)

    # -- Alarms, dashboard, automatic rollback -------------------------------------------------
    def _create_monitoring(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        rules = [*serving_alarms(spec), *guardrail_alarms(spec)]
        metrics = monitoring.load_balancer_metrics(
            self.url_map.name, self.backends["stable"].name, self.backends["canary"].name
        )
        if self.guardrail is not None:
            # Blocked calls are counted from both slots' model servers (the canary's too).
            self.guardrail_metric = monitoring.create_guardrail_metric(
                name,
                spec,
                pulumi.Output.all(self.stable_service.name, self.canary_service_resource.name),
                opts,
            )
            metrics = dataclasses.replace(
                metrics, gauges=monitoring.guardrail_metric_filters(self.guardrail_metric)
            )
        self.routing = monitoring.create_routing(name, spec, rules, opts)
        trigger = rollout.create_trigger(name, spec, self.project, self.key, opts)
        target = pulumi.Output.all(
            self.project.project_id,
            self.url_map.name,
            self.backends["stable"].name,
            self.backends["canary"].name,
        ).apply(lambda v: Target("url-map", v[0], v[1], v[2], v[3]))
        self.alarms = monitoring.create_alert_policies(
            name,
            spec,
            rules,
            metrics,
            self.routing,
            opts,
            rollback_channels=[trigger.channel.name],
            target=target,
        )
        self.rollback = rollout.create_rollback(
            name,
            spec,
            self.project,
            self.key,
            trigger,
            target,
            {alarm_name(spec, r.key): self.alarms[r.signal] for r in rollback_alarms(spec)},
            self.routing,
            grant_target=lambda member: self._grant_url_map(name, spec, member, opts),
            opts=opts,
        )
        self.uptime, self.uptime_alarm = monitoring.create_uptime_check(
            name,
            spec,
            self.project.project_id,
            self.domain,
            spec.model.health_path,
            self.routing,
            opts,
        )
        self.dashboard = monitoring.create_dashboard(
            name,
            spec,
            metrics,
            [r.signal for r in rules],
            {
                "cloud armor blocked requests": pulumi.Output.concat(
                    'metric.type = "networksecurity.googleapis.com/https/request_count" AND '
                    'resource.type = "network_security_policy" AND '
                    'metric.label.blocked = true AND resource.label.policy_name = "',
                    self.armor.name,
                    '"',
                ),
                "cloud run instances": pulumi.Output.concat(
                    'metric.type = "run.googleapis.com/container/instance_count" AND '
                    'resource.type = "cloud_run_revision"',
                ),
            },
            opts,
        )

    def _grant_url_map(
        self,
        name: str,
        spec: DeploymentSpec,
        member: pulumi.Output[str],
        opts: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """Compute has no per-URL-map IAM: the bootstrap's custom role, limited by a condition."""
        expression = pulumi.Output.all(self.project.project_id, self.url_map.name).apply(
            lambda v: (
                f'resource.name == "projects/{v[0]}/global/urlMaps/{v[1]}" || '
                f'resource.name.startsWith("projects/{v[0]}/global/backendServices/'
                f'{backend_name(spec, "")}")'
            )
        )
        grant = gcp.projects.IAMMember(
            f"{name}-rollback-role-grant",
            gcp.projects.IAMMemberArgs(
                project=self.project.project_id,
                role=rollout.rollback_role(spec, self.project),
                member=member,
                condition=gcp.projects.IAMMemberConditionArgs(
                    title="only-this-url-map",
                    description="The rollback may change this stack's split only",
                    expression=expression,
                ),
            ),
            opts=opts,
        )
        return [grant]


def backend_name(spec: DeploymentSpec, role: str) -> str:
    """Backend service names share a prefix so one IAM condition can cover both."""
    return resource_name("gcp", "default", spec.project, spec.environment.value, "be", role)


def request_concurrency(cpu: float) -> int:
    """Requests one instance serves at once: Cloud Run allows more than one only from 1 vCPU."""
    return 80 if cpu >= 1 else 1


def container_cpus(model_cpu: float) -> tuple[str, str]:
    """(model, ESPv2) CPU limits whose sum is a CPU count Cloud Run accepts for an instance.

    An instance's containers share its CPUs, and Cloud Run takes 1, 2, 4, 6 or 8 of them (review
    A11: 0.5 + 1 = 1.5 and 2 + 1 = 3 were rejected). The proxy takes what is left of the
    smallest valid total that leaves it at least ESP_MIN_CPU.
    """
    total = next((t for t in INSTANCE_CPUS if t >= model_cpu + ESP_MIN_CPU), None)
    if total is None:
        most = max(INSTANCE_CPUS) - ESP_MIN_CPU
        raise ValueError(
            f"capacity.cpu {model_cpu:g}: a Cloud Run instance has at most {max(INSTANCE_CPUS)} "
            f"vCPU and ESPv2 needs {ESP_MIN_CPU:g}; use at most {most:g} for the model"
        )
    return cloud_run.cpu_limit(model_cpu), cloud_run.cpu_limit(total - model_cpu)


def endpoints_service_name(spec: DeploymentSpec, project_id: str) -> str:
    """The Cloud Endpoints service name. A deleted service's name stays reserved for 30 days,
    so it carries the stack's suffix (review #9); stacks created before suffixes keep theirs."""
    parts = [spec.project, spec.environment.value]
    if spec.suffix is not None:
        parts.append(spec.suffix)
    return f"{resource_name('gcp', 'default', *parts)}.endpoints.{project_id}.cloud.goog"


def host_of(spec: DeploymentSpec, address: pulumi.Output[str]) -> pulumi.Output[str]:
    """The host name clients call, as an Output: known at preview for the client's own domain,
    from the reserved address for a bare wildcard-DNS domain (see :func:`public_host`)."""
    if spec.api.domain is None or spec.api.domain in WILDCARD_DNS_DOMAINS:
        # Validates only (raises without a domain); the address is a placeholder, never bound.
        public_host(spec, "192.0.2.1")  # TEST-NET-1 (RFC 5737)
        return address.apply(functools.partial(public_host, spec))
    return pulumi.Output.from_input(spec.api.domain)


def public_host(spec: DeploymentSpec, address: str) -> str:
    """The host name clients call (review #15, C1): the client's own domain, for which Google
    issues the certificate. A bare public wildcard-DNS domain (``sslip.io``, dev only: the spec
    refuses it in staging and prod) means the load balancer's address under that service."""
    domain = spec.api.domain
    if domain is None:
        raise ValueError(
            f"api.domain: api-first on GCP needs a host name for {spec.environment.value}: the "
            "load balancer has none of its own (a domain you own; in dev `sslip.io` names the "
            "load balancer's address)"
        )
    if domain in WILDCARD_DNS_DOMAINS:
        return f"{address.replace('.', '-')}.{domain}"
    return domain


def esp_args(spec: DeploymentSpec, service: str, *, port: int) -> str:
    """ESPv2 flags: listen on ``port``, proxy to the model on localhost, managed config."""
    return ",".join(
        [
            f"--listener_port={port}",
            f"--backend=http://127.0.0.1:{spec.model.port}",
            f"--service={service}",
            "--rollout_strategy=managed",
            "--healthz=/esp-healthz",
            "--enable_debug=false",
        ]
    )


def openapi_document(spec: DeploymentSpec, host: str) -> str:
    """The Endpoints service config: auth per spec.api, per-consumer quota, two paths.

    Only the predict path (authenticated) and the health path (GET, ``security: []``: no JWT,
    no API key) are declared, so ESPv2 rejects every other path before the model. There is no
    top-level ``security``: each operation says its own, so nothing inherits a requirement.
    """
    api = spec.api
    predict: dict[str, Any] = {
        "operationId": "predict",
        "summary": f"Predict with {spec.model.name}",
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "parameters": [
            {"in": "body", "name": "request", "required": True, "schema": {"type": "object"}}
        ],
        "security": AUTH_SECURITY[api.auth],
        "responses": {"200": {"description": "prediction"}},
    }
    if "api_key" in AUTH_SECURITY[api.auth][0]:
        # Quotas are per consumer project, which only an API key identifies.
        predict["x-google-quota"] = {"metricCosts": {"predict-requests": 1}}
    # Readiness, never inference: ESPv2 forwards GET <health_path> to the model unchanged.
    # Unauthenticated, so its rate limit is Cloud Armor's per-IP rule (armor_rules).
    health: dict[str, Any] = {
        "operationId": "health",
        "summary": f"Readiness of {spec.model.name}: 200 once the model is loaded",
        "produces": ["application/json"],
        "security": [],
        "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
    }
    document = {
        "swagger": "2.0",
        "info": {"title": f"{spec.project}-{spec.environment.value}", "version": "1.0.0"},
        "host": host,
        "schemes": ["https"],
        "x-google-management": {
            "metrics": [
                {
                    "name": "predict-requests",
                    "displayName": "Predict requests",
                    "valueType": "INT64",
                    "metricKind": "DELTA",
                }
            ],
            "quota": {
                "limits": [
                    {
                        "name": "predict-per-minute",
                        "metric": "predict-requests",
                        "unit": "1/min/{project}",
                        "values": {"STANDARD": api.rate_limit_rps * 60},
                    }
                ]
            },
        },
        "securityDefinitions": {
            **(
                {
                    "jwt": {
                        "authorizationUrl": "",
                        "flow": "implicit",
                        "type": "oauth2",
                        "x-google-issuer": api.jwt()[0],
                        # No x-google-jwks_uri: ESPv2 then finds the signing keys by OpenID
                        # Connect discovery (<issuer>/.well-known/openid-configuration), as the
                        # gateways on AWS and Azure do; a guessed path breaks for Entra ID,
                        # Google, Okta and Cognito (review A17).
                        "x-google-audiences": api.jwt()[1],
                    }
                }
                if api.uses_jwt
                else {}
            ),
            "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
        },
        "paths": {
            spec.model.predict_path: {"post": predict},
            spec.model.health_path: {"get": health},
        },
    }
    return json.dumps(document, indent=2, sort_keys=True)


def armor_rules(spec: DeploymentSpec) -> list[gcp.compute.SecurityPolicyRuleArgs]:
    """Cloud Armor rules: size limit, OWASP rule sets, per-consumer throttle, per-IP ban."""
    api = spec.api

    def expr(expression: str) -> gcp.compute.SecurityPolicyRuleMatchArgs:
        return gcp.compute.SecurityPolicyRuleMatchArgs(
            expr=gcp.compute.SecurityPolicyRuleMatchExprArgs(expression=expression)
        )

    cap = spec.body_cap  # the guardrail's max_prompt_bytes with an LLM
    rules = [
        gcp.compute.SecurityPolicyRuleArgs(
            priority=SIZE_RULE_PRIORITY,
            action="deny(403)",
            description=f"request body over {cap} bytes",
            match=expr(
                "has(request.headers['content-length']) && "
                f"int(request.headers['content-length']) > {cap}"
            ),
        ),
        *(
            gcp.compute.SecurityPolicyRuleArgs(
                priority=1000 + index,
                action="deny(403)",
                description=f"OWASP CRS {rule_set}",
                match=expr(f"evaluatePreconfiguredWaf('{rule_set}', {{'sensitivity': 1}})"),
            )
            for index, rule_set in enumerate(WAF_RULE_SETS)
        ),
        # The unauthenticated health route: its own per-IP limit. A conforming request is
        # allowed here, so it never reaches the per-consumer throttle keyed on credentials.
        gcp.compute.SecurityPolicyRuleArgs(
            priority=HEALTH_RULE_PRIORITY,
            action="throttle",
            description="health route rate limit per client IP",
            match=expr(f"request.method == 'GET' && request.path == '{spec.model.health_path}'"),
            rate_limit_options=gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs(
                conform_action="allow",
                exceed_action="deny(429)",
                enforce_on_key="IP",
                rate_limit_threshold=gcp.compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
                    count=HEALTH_RATE_PER_MINUTE, interval_sec=60
                ),
            ),
        ),
        gcp.compute.SecurityPolicyRuleArgs(
            priority=2000,
            action="throttle",
            description="per-consumer rate limit",
            match=_all_sources(),
            rate_limit_options=gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs(
                conform_action="allow",
                exceed_action="deny(429)",
                enforce_on_key="HTTP_HEADER",
                enforce_on_key_name=CONSUMER_HEADER[api.auth],
                # A minute's worth of the steady rate, or the burst if that is larger.
                rate_limit_threshold=gcp.compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
                    count=max(api.rate_limit_rps * 60, api.burst), interval_sec=60
                ),
            ),
        ),
        gcp.compute.SecurityPolicyRuleArgs(
            priority=3000,
            action="rate_based_ban",
            description="per-client-IP rate-based ban",
            match=_all_sources(),
            rate_limit_options=gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs(
                conform_action="allow",
                exceed_action="deny(429)",
                enforce_on_key="IP",
                ban_duration_sec=600,
                rate_limit_threshold=gcp.compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
                    count=api.waf_rate_limit_per_5min, interval_sec=300
                ),
            ),
        ),
        gcp.compute.SecurityPolicyRuleArgs(
            priority=DEFAULT_RULE_PRIORITY,
            action="allow",
            description="default: allow what no rule above blocked",
            match=_all_sources(),
        ),
    ]
    return rules


def body_inspection_size(spec: DeploymentSpec) -> str | None:
    """How much of a body Cloud Armor's WAF rules read: the most it can for an LLM stack
    (see LLM_BODY_INSPECTION_SIZE), its default (unset) otherwise."""
    return LLM_BODY_INSPECTION_SIZE if spec.llm.enabled else None


def _all_sources() -> gcp.compute.SecurityPolicyRuleMatchArgs:
    return gcp.compute.SecurityPolicyRuleMatchArgs(
        versioned_expr="SRC_IPS_V1",
        config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=["*"]),
    )


def log_filter_for(services: list[str], url_map: str) -> str:
    """The stack's logs: its Cloud Run services, its load balancer and the audited services."""
    run = " OR ".join(f'"{s}"' for s in services)
    return (
        f'(resource.type="cloud_run_revision" AND resource.labels.service_name=({run})) OR '
        f'(resource.type="http_load_balancer" AND resource.labels.url_map_name="{url_map}") OR '
        + security.audit_log_filter()
    )


WILDCARD_CERTIFICATE_RULE = "gcp-managed-certificate-disallow-wildcard-dns-domains"


def policy_waivers(
    name: str, spec: DeploymentSpec | None = None
) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config for this component: its audit logs are its project's bootstrap's (A21);
    with ``spec``, a dev stack on a bare wildcard-DNS domain (``api.domain: sslip.io``, which
    the spec refuses outside dev) waives the certificate rule for its certificate (review C1),
    with the reason. Without a spec nothing is waived for it: only the stack's spec says."""
    waivers = security.bootstrap_audit_waivers(name, Pattern.API_FIRST)
    if spec is not None and spec.api.wildcard_dns:
        waivers[WILDCARD_CERTIFICATE_RULE] = {
            "waivers": [
                {
                    "resource": f"{name}-cert",
                    "reason": (
                        f"{spec.environment.value} stack without a client domain: its host is "
                        f"<address>.{spec.api.domain}, a public wildcard-DNS name whose "
                        "operator could obtain a certificate for it; the spec accepts this in "
                        "dev only, staging and prod need api.domain (docs/patterns/gcp.md)"
                    ),
                }
            ]
        }
    return waivers

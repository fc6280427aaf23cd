"""API-first on AWS: API Gateway (REST) + WAFv2 in front of a model served on ECS Fargate.

Request path: client -> (the client's domain, when given: a regional custom domain with an ACM
certificate) -> WAFv2 web ACL -> API Gateway REST stage (JWT authorizer and/or API key, usage-plan
throttle and quota, body validation) -> VPC link (v2) -> internal ALB -> Fargate tasks in private
subnets. The stage's canary setting carries the candidate's share: canary requests get the stage
variable ``variant=canary``, which the integration puts in a header the ALB routes on to the
canary service.

The hop from the VPC link to the internal ALB never leaves the VPC. How it is protected is the
client's choice (:data:`INTERNAL_HOPS`): with ``api.domain``, HTTPS with a public ACM certificate
for a name under that domain, which API Gateway verifies; with ``api.private_ca``, HTTPS with a
certificate from a private CA of the stack (about USD 400 a month, which API Gateway cannot
verify); otherwise plain HTTP inside the VPC under a declared waiver. See docs/patterns/aws.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import Signal, Tier, guardrail_alarms, serving_alarms
from components.aws import (
    api_gateway,
    fargate,
    guardrail,
    monitoring,
    network,
    release,
    rollout,
    scaling,
    security,
    uptime,
)
from components.base import PatternComponent
from components.naming import resource_name
from components.spec import AuthMode, DeploymentSpec

# The header the gateway sets from the stage variable; the ALB routes on it. The gateway
# overwrites any value a client sends, so a consumer cannot pick the canary.
VARIANT_HEADER = "x-aideploy-variant"
# ELB's TLS policy allowing only TLS 1.3 and 1.2 with forward-secret ciphers.
ALB_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# The REST API's own endpoint policy of the same family (TLS 1.3 + 1.2).
# The custom domain's own policy: TLS 1.2 minimum. API Gateway negotiates requests to a custom
# domain with the API's policy (SecurityPolicy_TLS13_1_2_2021_06 above), so callers see the same.
DOMAIN_TLS_POLICY = "TLS_1_2"
HTTPS_PORT = network.HTTPS_PORT
HTTP_PORT = 80
# `pulumi up` waits this long for ACM to see the DNS validation record, then fails with a
# timeout (re-run it once the record exists); the record is printed as soon as it is known.
CERT_VALIDATION_MINUTES = 30
# API Gateway rejects anything else before invoking the authorizer (saves a Lambda call).

# Policy-pack rules this component cannot satisfy on AWS: rule -> (resource roles, reason). A
# client's pack config records them as waivers (see policy_waivers), so they are visible in
# every report instead of silently passing.
POLICY_WAIVERS: Mapping[str, tuple[tuple[str, ...], str]] = {
    "aws-lb-require-access-logs": (
        ("alb",),
        "ALB access logs can only be written to an SSE-S3 bucket (an AWS limitation) and rule 1 "
        "requires SSE-KMS; every request reaching this internal ALB comes through the API "
        "Gateway stage, whose KMS-encrypted access log records it.",
    ),
    "aws-lb-listener-require-https": (
        ("http",),
        "Only without api.domain and api.private_ca: the listener of the internal ALB that only "
        "the API Gateway VPC link reaches, inside the stack's VPC (security groups allow the "
        "link's group alone); the public side is TLS 1.2+ at API Gateway. A certificate for "
        "this hop needs a domain the client owns (set api.domain: then the hop is HTTPS and "
        "verified) or a private CA (api.private_ca, about USD 400 a month per stack).",
    ),
    "aws-apigateway-integration-disallow-insecure-tls": (
        ("integration", "health-integration"),
        "Only without api.domain (review C4): the VPC-link hop to the internal ALB is plain "
        "HTTP inside the stack's VPC, or, with api.private_ca, HTTPS with a private-CA "
        "certificate API Gateway cannot verify (it trusts public CAs only; ACM renews the "
        "certificate through the CA's acm.amazonaws.com permission). Set api.domain for a "
        "verified HTTPS hop.",
    ),
    "aws-lb-target-group-require-https": (
        ("stable-tg", "canary-tg"),
        "TLS ends at the internal ALB (review C4): the ALB forwards to the model port of the "
        "Fargate tasks over HTTP inside private subnets, whose security group admits the ALB's "
        "group alone. End-to-end TLS needs TLS in the client's model container or a sidecar, "
        "which the image contract does not require.",
    ),
}


def policy_waivers(
    name: str, spec: DeploymentSpec | None = None
) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config entries waiving :data:`POLICY_WAIVERS` for the component called ``name``.

    With ``spec``, only the waivers that stack needs (:func:`waivers_for`): each environment's
    pack config then names only resources its stack has (a stack with a domain has no plain
    HTTP listener to waive).
    """
    needed = waivers_for(spec) if spec is not None else frozenset(POLICY_WAIVERS)
    return {
        rule: {"waivers": [{"resource": f"{name}-{role}", "reason": reason} for role in roles]}
        for rule, (roles, reason) in POLICY_WAIVERS.items()
        if rule in needed
    }


class InternalTls(str, Enum):
    """How the hop from API Gateway's VPC link to the internal ALB is protected."""

    PLAIN = "plain"
    PRIVATE_CA = "private-ca"
    DOMAIN = "domain"


@dataclass(frozen=True)
class Hop:
    """The internal ALB's listener and what API Gateway does with its certificate."""

    protocol: str
    port: int
    scheme: str
    # The listener's logical name is f"{name}-{role}" (the waiver names the plain one).
    role: str
    # True: API Gateway cannot verify the certificate (a private CA it does not trust).
    skip_verification: bool


INTERNAL_HOPS: Mapping[InternalTls, Hop] = {
    InternalTls.PLAIN: Hop("HTTP", HTTP_PORT, "http", "http", False),
    InternalTls.PRIVATE_CA: Hop("HTTPS", HTTPS_PORT, "https", "https", True),
    InternalTls.DOMAIN: Hop("HTTPS", HTTPS_PORT, "https", "https", False),
}


def internal_tls(spec: DeploymentSpec) -> InternalTls:
    """The client's choice: a private CA when asked for, else its domain, else plain HTTP."""
    if spec.api.private_ca:
        return InternalTls.PRIVATE_CA
    if spec.api.domain is not None:
        return InternalTls.DOMAIN
    return InternalTls.PLAIN


def waivers_for(spec: DeploymentSpec) -> frozenset[str]:
    """The declared waivers ``spec``'s stack needs (the rest name resources it lacks)."""
    needed = {"aws-lb-require-access-logs", "aws-lb-target-group-require-https"}
    mode = internal_tls(spec)
    if mode is InternalTls.PLAIN:
        needed.add("aws-lb-listener-require-https")
    if mode is not InternalTls.DOMAIN:
        needed.add("aws-apigateway-integration-disallow-insecure-tls")
    return frozenset(needed)


def internal_host(spec: DeploymentSpec) -> str:
    """The name API Gateway calls the internal ALB by (Host header, SNI, certificate name)."""
    if internal_tls(spec) is InternalTls.DOMAIN:
        return f"serving.{spec.api.domain}"
    return f"serving.{spec.project}.internal"


def _check_domain(spec: DeploymentSpec) -> None:
    domain = spec.api.domain
    if domain is None:
        return
    if spec.api.wildcard_dns:
        raise ValueError(
            f"api.domain {domain!r} is a public wildcard-DNS name: ACM cannot validate a "
            "certificate for it and API Gateway has a host name of its own on AWS; remove "
            "api.domain for this stack"
        )
    if len(internal_host(spec)) > 253:
        raise ValueError(f"api.domain {domain!r} is too long for serving.<domain> (253)")


# The unauthenticated health route's throttle: probes (the pipeline's watch, smoke tests, the
# uptime canary) need a few requests a second; anonymous callers get no more than this.
HEALTH_RATE_RPS = 10
HEALTH_BURST = 20
# The gateway gives up on a readiness answer after this long (the predict route has 29 s).
HEALTH_TIMEOUT_MS = 5000


def health_rate_limit(spec: DeploymentSpec) -> int:
    """Requests per second the health route admits (never above the stage's own limit)."""
    return min(HEALTH_RATE_RPS, spec.api.rate_limit_rps)


def health_burst_limit(spec: DeploymentSpec) -> int:
    """The health route's burst (never above the stage's own burst)."""
    return min(HEALTH_BURST, spec.api.burst)


def health_method_path(spec: DeploymentSpec) -> str:
    """The stage's method path of ``GET <health_path>`` (API Gateway's ``resource/METHOD``)."""
    return f"{spec.model.health_path.strip('/')}/GET"


# Which checks each auth mode puts on the method: (JWT authorizer, API key required).
AUTH_CHECKS: Mapping[AuthMode, tuple[bool, bool]] = {
    AuthMode.JWT: (True, False),
    AuthMode.API_KEY: (False, True),
    AuthMode.JWT_AND_API_KEY: (True, True),
}

# X-Ray has no resource-level permissions: these two actions only, on "*".
XRAY_WRITE_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")


# The request body must be a non-empty JSON object; the model validates its own fields.
REQUEST_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "PredictRequest",
    "type": "object",
    "minProperties": 1,
}


def _arn_suffix(arn: pulumi.Output[str], marker: str) -> pulumi.Output[str]:
    """CloudWatch's ELB dimension (``app/name/id``) from an ELB ARN."""
    return arn.apply(lambda a: a.split(":", 5)[-1].removeprefix(marker))


def _announce_validation(
    cert: aws.acm.Certificate,
    domain: str,
    options: Sequence[aws.acm.outputs.CertificateDomainValidationOption] | None,
) -> None:
    """Print the DNS record ACM needs, as soon as it is known: `pulumi up` waits for it.

    The name and its wildcard share one record, so it is printed once.
    """
    records = {
        (o.resource_record_name, o.resource_record_type, o.resource_record_value)
        for o in options or []
    }
    for record_name, record_type, value in sorted(records):
        pulumi.log.warn(
            f"create this DNS record for {domain} at your DNS provider: {record_name} "
            f"{record_type} {value} -- ACM validates the certificate once it "
            f"resolves; `pulumi up` waits {CERT_VALIDATION_MINUTES} minutes, then stops with a "
            "timeout (re-run it after creating the record)",
            resource=cert,
        )


def _announce_target(
    domain_name: aws.apigateway.DomainName, domain: str, target: str | None
) -> None:
    """Print where the client's domain must point (API Gateway's regional host name)."""
    if target:
        pulumi.log.warn(
            f"point {domain} at {target} (a CNAME, or a Route 53 alias record)",
            resource=domain_name,
        )


class AwsApiFirst(PatternComponent):
    """The API-first pattern on AWS; outputs per components.spec.PATTERN_OUTPUTS."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check_domain(spec)
        super().__init__(name, spec, opts)
        o = self.child_opts()
        self._o = o
        self.hop = INTERNAL_HOPS[internal_tls(spec)]
        self.key = security.create_kms_key(
            name,
            spec,
            o,
            description=f"{spec.project} {spec.environment.value}: logs, alerts, lambda env",
            # The uptime canary's artifact bucket logs its access to a bucket under this key.
            users=(
                security.LOGS_KEY_USER,
                security.ALARMS_KEY_USER,
                security.S3_LOGGING_KEY_USER,
                security.FARGATE_KEY_USER,
            ),
        )
        self.network = network.create_network(name, spec, self.key, o)
        # An LLM stack: the Bedrock guardrail (and its pinned version) under the stack's key.
        self.guardrail = (
            guardrail.create_guardrail(name, spec, self.key, o) if spec.llm.enabled else None
        )
        self.stable, self.canary = rollout.variants(spec)
        self._create_load_balancer()
        self._create_api()
        self._create_monitoring()
        self._create_serving()
        self._create_guardrail_alarms()
        self.dashboard = monitoring.create_dashboard(
            name, spec, self.alarms, o, title=f"{spec.project} {spec.environment.value} API"
        )

        self.endpoint_url = self._endpoint_url()
        self.health_url = self._endpoint_url(spec.model.health_path)
        self.rollback_alarms = pulumi.Output.all(
            *rollout.rollback_alarm_names(self.alarm_defs, self.alarms)
        )
        self.api_id = self.rest_api.id
        self.serving_service = self.services["stable"].name
        self.canary_service = self.services["canary"].name
        self.kms_key_id = self.key.key_id
        self.log_group = self.access_logs.name
        self.alert_topic = self.topics[Tier.PAGE].arn
        self.dashboard_name = self.dashboard.dashboard_name
        self._finish()

    # --- load balancer --------------------------------------------------------------------
    def _create_load_balancer(self) -> None:
        name, spec, o, hop = self.name, self.spec, self._o, self.hop
        vpc_id, cidr = self.network.vpc_id, self.network.cidr
        tags = spec.standard_tags()
        self.host = internal_host(spec)
        self.link_sg = aws.ec2.SecurityGroup(
            f"{name}-vpclink-sg",
            description=f"API Gateway VPC link: {hop.protocol} to the internal ALB only",
            vpc_id=vpc_id,
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description=f"{hop.protocol} to the internal ALB",
                    protocol="tcp",
                    from_port=hop.port,
                    to_port=hop.port,
                    cidr_blocks=[cidr],
                )
            ],
            tags=tags,
            opts=o,
        )
        self.alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            description=(
                f"Internal ALB: {hop.protocol} from the VPC link, to the model port of tasks"
            ),
            vpc_id=vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description=f"{hop.protocol} from the API Gateway VPC link",
                    protocol="tcp",
                    from_port=hop.port,
                    to_port=hop.port,
                    security_groups=[self.link_sg.id],
                )
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="The model port of the tasks in the VPC",
                    protocol="tcp",
                    from_port=spec.model.port,
                    to_port=spec.model.port,
                    cidr_blocks=[cidr],
                )
            ],
            tags=tags,
            opts=o,
        )
        self.certificate_arn = self._create_certificate()
        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=resource_name("aws", "alb", spec.project, spec.environment.value),
            internal=True,
            load_balancer_type="application",
            subnets=self.network.private_subnet_ids,
            security_groups=[self.alb_sg.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=spec.retention.deletion_protection,
            tags=tags,
            opts=o,
        )
        self.target_groups = {
            role: aws.lb.TargetGroup(
                f"{name}-{role}-tg",
                name=resource_name(
                    "aws", "target-group", spec.project, spec.environment.value, role
                ),
                port=spec.model.port,
                protocol="HTTP",
                target_type="ip",
                vpc_id=vpc_id,
                deregistration_delay=30,
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    path=spec.model.health_path,
                    matcher="200",
                    interval=15,
                    healthy_threshold=2,
                    unhealthy_threshold=3,
                ),
                tags={**tags, "variant": role},
                opts=o,
            )
            for role in ("stable", "canary")
        }
        tls: dict[str, Any] = {}
        if self.certificate_arn is not None:
            tls = {"ssl_policy": ALB_TLS_POLICY, "certificate_arn": self.certificate_arn}
        self.listener = aws.lb.Listener(
            f"{name}-{hop.role}",
            load_balancer_arn=self.alb.arn,
            port=hop.port,
            protocol=hop.protocol,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="forward", target_group_arn=self.target_groups["stable"].arn
                )
            ],
            tags=tags,
            opts=o,
            **tls,
        )
        self.canary_rule = aws.lb.ListenerRule(
            f"{name}-canary-rule",
            listener_arn=self.listener.arn,
            priority=10,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    http_header=aws.lb.ListenerRuleConditionHttpHeaderArgs(
                        http_header_name=VARIANT_HEADER, values=["canary"]
                    )
                )
            ],
            actions=[
                aws.lb.ListenerRuleActionArgs(
                    type="forward", target_group_arn=self.target_groups["canary"].arn
                )
            ],
            tags=tags,
            opts=o,
        )

    def _create_certificate(self) -> pulumi.Output[str] | None:
        """The internal listener's certificate ARN, by :func:`internal_tls`; None for HTTP."""
        mode = internal_tls(self.spec)
        if mode is InternalTls.PRIVATE_CA:
            return self._create_private_certificate().arn
        if mode is InternalTls.DOMAIN:
            self.domain_certificate = self._create_domain_certificate()
            return self.domain_certificate.certificate_arn
        return None

    def _create_domain_certificate(self) -> aws.acm.CertificateValidation:
        """A public ACM certificate for ``api.domain`` and ``*.api.domain``, DNS-validated.

        One certificate serves the API's custom domain and the internal ALB's name under it
        (``serving.<domain>``); ACM validates a name and its wildcard with the same record, so
        the client creates one CNAME. We cannot create it: the zone is the client's (any DNS
        provider), so `pulumi up` prints the record and waits CERT_VALIDATION_MINUTES for ACM.
        """
        name, spec, o = self.name, self.spec, self._o
        domain = str(spec.api.domain)
        cert = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=domain,
            subject_alternative_names=[f"*.{domain}"],
            validation_method="DNS",
            tags=spec.standard_tags(),
            opts=o,
        )
        cert.domain_validation_options.apply(
            lambda options: _announce_validation(cert, domain, options)
        )
        return aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=cert.arn,
            opts=pulumi.ResourceOptions.merge(
                o,
                pulumi.ResourceOptions(
                    custom_timeouts=pulumi.CustomTimeouts(create=f"{CERT_VALIDATION_MINUTES}m")
                ),
            ),
        )

    def _create_private_certificate(self) -> aws.acm.Certificate:
        """A private certificate for the ALB's internal name, from a private CA of the stack
        (only with ``api.private_ca``: about USD 400 a month).

        ACM renews a private certificate only when the CA lets acm.amazonaws.com issue from it
        (review A8): without the permission the certificate expires after 13 months and API
        Gateway, which checks expiry even without verifying the chain, fails every request. A
        short-lived-mode CA is cheaper but ACM cannot issue from one, and an ALB needs an ACM
        certificate.
        """
        name, spec, o = self.name, self.spec, self._o
        ca = aws.acmpca.CertificateAuthority(
            f"{name}-ca",
            type="ROOT",
            usage_mode="GENERAL_PURPOSE",
            certificate_authority_configuration=aws.acmpca.CertificateAuthorityCertificateAuthorityConfigurationArgs(
                key_algorithm="RSA_2048",
                signing_algorithm="SHA256WITHRSA",
                subject=aws.acmpca.CertificateAuthorityCertificateAuthorityConfigurationSubjectArgs(
                    common_name=f"{spec.project} {spec.environment.value} internal CA",
                    organization=spec.project,
                ),
            ),
            permanent_deletion_time_in_days=30 if spec.retention.deletion_protection else 7,
            tags=spec.standard_tags(),
            opts=o,
        )
        ca_cert = aws.acmpca.Certificate(
            f"{name}-ca-cert",
            certificate_authority_arn=ca.arn,
            certificate_signing_request=ca.certificate_signing_request,
            signing_algorithm="SHA256WITHRSA",
            template_arn="arn:aws:acm-pca:::template/RootCACertificate/V1",
            validity=aws.acmpca.CertificateValidityArgs(type="YEARS", value="10"),
            opts=o,
        )
        installed = aws.acmpca.CertificateAuthorityCertificate(
            f"{name}-ca-install",
            certificate_authority_arn=ca.arn,
            certificate=ca_cert.certificate,
            certificate_chain=ca_cert.certificate_chain,
            opts=o,
        )
        renewal = aws.acmpca.Permission(
            f"{name}-ca-acm-renewal",
            certificate_authority_arn=ca.arn,
            principal="acm.amazonaws.com",
            actions=["IssueCertificate", "GetCertificate", "ListPermissions"],
            source_account=security.account_id(),
            opts=o,
        )
        return aws.acm.Certificate(
            f"{name}-cert",
            domain_name=self.host,
            certificate_authority_arn=ca.arn,
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(
                o, pulumi.ResourceOptions(depends_on=[installed, renewal])
            ),
        )

    # --- API Gateway ----------------------------------------------------------------------
    def _create_api(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        tags = spec.standard_tags()
        use_jwt, use_key = AUTH_CHECKS[spec.api.auth]
        self.rest_api = aws.apigateway.RestApi(
            f"{name}-api",
            name=resource_name("aws", "default", spec.project, spec.environment.value, "api"),
            description=f"{spec.project} model API ({spec.environment.value})",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            security_policy=api_gateway.API_TLS_POLICY,
            endpoint_access_mode="STRICT",
            api_key_source="HEADER",
            tags=tags,
            opts=o,
        )
        self.validator = aws.apigateway.RequestValidator(
            f"{name}-validator",
            rest_api=self.rest_api.id,
            name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
            opts=o,
        )
        model = aws.apigateway.Model(
            f"{name}-request-model",
            rest_api=self.rest_api.id,
            name="PredictRequest",
            content_type="application/json",
            schema=json.dumps(REQUEST_SCHEMA, sort_keys=True),
            opts=o,
        )
        parent_id = self._create_path(spec.model.predict_path, "path", [])[-1]
        self.authorizer = (
            api_gateway.create_jwt_authorizer(name, spec, self.key, self.rest_api, o)
            if use_jwt
            else None
        )
        self.method = aws.apigateway.Method(
            f"{name}-predict",
            rest_api=self.rest_api.id,
            resource_id=parent_id,
            http_method="POST",
            authorization="CUSTOM" if self.authorizer else "NONE",
            authorizer_id=self.authorizer.id if self.authorizer else None,
            api_key_required=use_key,
            request_validator_id=self.validator.id,
            request_models={"application/json": model.name},
            opts=o,
        )
        self.vpc_link = aws.apigatewayv2.VpcLink(
            f"{name}-vpclink",
            name=resource_name("aws", "default", spec.project, spec.environment.value, "link"),
            subnet_ids=self.network.private_subnet_ids,
            security_group_ids=[self.link_sg.id],
            tags=tags,
            opts=o,
        )
        self.integration = aws.apigateway.Integration(
            f"{name}-integration",
            rest_api=self.rest_api.id,
            resource_id=parent_id,
            http_method=self.method.http_method,
            type="HTTP_PROXY",
            integration_http_method="POST",
            connection_type="VPC_LINK",
            connection_id=self.vpc_link.id,
            integration_target=self.alb.arn,
            uri=f"{self.hop.scheme}://{self.host}{spec.model.predict_path}",
            request_parameters={
                f"integration.request.header.{VARIANT_HEADER}": "stageVariables.variant"
            },
            timeout_milliseconds=29000,
            # API Gateway trusts only public CAs: a private CA's certificate encrypts the hop
            # but cannot be verified (it stays inside the VPC link). A domain's ACM
            # certificate is verified (chain and host name), the default.
            tls_config=(
                aws.apigateway.IntegrationTlsConfigArgs(insecure_skip_verification=True)
                if self.hop.skip_verification
                else None
            ),
            opts=o,
        )
        self._create_health_route()
        # Redeploy whenever the API's shape changes (the hash covers everything declared here).
        shape = json.dumps(
            [
                spec.model.predict_path,
                spec.api.auth.value,
                REQUEST_SCHEMA,
                VARIANT_HEADER,
                spec.model.health_path,
            ],
            sort_keys=True,
        )
        self.deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            triggers={"shape": hashlib.sha256(shape.encode()).hexdigest()},
            opts=pulumi.ResourceOptions.merge(
                o,
                pulumi.ResourceOptions(
                    depends_on=[
                        self.method,
                        self.integration,
                        self.health_method,
                        self.health_integration,
                    ]
                ),
            ),
        )
        served = api_gateway.create_stage(
            name,
            spec,
            self.key,
            self.rest_api,
            self.deployment,
            o,
            variables={"variant": "stable"},
            canary=aws.apigateway.StageCanarySettingsArgs(
                deployment_id=self.deployment.id,
                percent_traffic=float(self.canary.weight),
                stage_variable_overrides={"variant": "canary"},
                use_stage_cache=False,
            ),
            # The health route's own ceiling, below the stage's: it needs no credentials, so
            # it is the one route an anonymous caller can drive; probes need a few a second.
            route_limits=[
                api_gateway.RouteLimit(
                    "health-method-settings",
                    health_method_path(spec),
                    float(health_rate_limit(spec)),
                    health_burst_limit(spec),
                )
            ],
        )
        self.stage, self.access_logs, self.web_acl = (
            served.stage,
            served.access_logs,
            served.web_acl,
        )
        self._create_usage_plan(use_key)
        if spec.api.domain is not None:
            self._create_custom_domain()

    def _create_path(
        self, path: str, role: str, known: list[tuple[str, pulumi.Output[str]]]
    ) -> list[pulumi.Output[str]]:
        """The gateway resources of ``path``, one per segment; ids in order (root first).

        ``known`` is (segment, id) of a path already created: shared leading segments reuse
        its resources (API Gateway rejects two resources with one path). New resources are
        named ``<name>-<role>-<i>`` (the predict path keeps its original ``<name>-path-<i>``).
        """
        name, o = self.name, self._o
        ids: list[pulumi.Output[str]] = [self.rest_api.root_resource_id]
        segments = [s for s in path.split("/") if s]
        shared = True
        for i, segment in enumerate(segments):
            if shared and i < len(known) and known[i][0] == segment:
                ids.append(known[i][1])
                continue
            shared = False
            resource = aws.apigateway.Resource(
                f"{name}-{role}-{i}",
                rest_api=self.rest_api.id,
                parent_id=ids[-1],
                path_part=segment,
                opts=o,
            )
            ids.append(resource.id)
        if role == "path":
            self._predict_segments = list(zip(segments, ids[1:], strict=True))
        return ids

    def _create_health_route(self) -> None:
        """``GET <health_path>``: no authorizer, no API key, proxied over the same VPC link and
        ALB (with the same variant header) to the model's readiness path, never an inference.
        It is on the same stage, so the same WAF ACL and access log see it (review E1)."""
        name, spec, o = self.name, self.spec, self._o
        if spec.model.health_path == spec.model.predict_path:
            raise ValueError("model.health_path must differ from model.predict_path")
        ids = self._create_path(spec.model.health_path, "health-path", self._predict_segments)
        self.health_method = aws.apigateway.Method(
            f"{name}-health",
            rest_api=self.rest_api.id,
            resource_id=ids[-1],
            http_method="GET",
            authorization="NONE",
            api_key_required=False,
            opts=o,
        )
        self.health_integration = aws.apigateway.Integration(
            f"{name}-health-integration",
            rest_api=self.rest_api.id,
            resource_id=ids[-1],
            http_method=self.health_method.http_method,
            type="HTTP_PROXY",
            integration_http_method="GET",
            connection_type="VPC_LINK",
            connection_id=self.vpc_link.id,
            integration_target=self.alb.arn,
            uri=f"{self.hop.scheme}://{self.host}{spec.model.health_path}",
            request_parameters={
                f"integration.request.header.{VARIANT_HEADER}": "stageVariables.variant"
            },
            # A readiness answer is quick; a probe must not hang for the 29 s maximum.
            timeout_milliseconds=HEALTH_TIMEOUT_MS,
            tls_config=(
                aws.apigateway.IntegrationTlsConfigArgs(insecure_skip_verification=True)
                if self.hop.skip_verification
                else None
            ),
            opts=o,
        )

    def _create_custom_domain(self) -> None:
        """The client's domain in front of the stage: regional, TLS 1.2+, the domain's ACM
        certificate, the whole domain mapped to the stage. The client points the domain at
        the printed target (CNAME, or a Route 53 alias)."""
        name, spec, o = self.name, self.spec, self._o
        self.custom_domain = aws.apigateway.DomainName(
            f"{name}-domain",
            domain_name=str(spec.api.domain),
            regional_certificate_arn=self.domain_certificate.certificate_arn,
            endpoint_configuration=aws.apigateway.DomainNameEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            security_policy=DOMAIN_TLS_POLICY,
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(
                o, pulumi.ResourceOptions(depends_on=[self.domain_certificate])
            ),
        )
        self.custom_domain.regional_domain_name.apply(
            lambda target: _announce_target(self.custom_domain, str(spec.api.domain), target)
        )
        self.base_path = aws.apigateway.BasePathMapping(
            f"{name}-base-path",
            domain_name=self.custom_domain.domain_name,
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            opts=o,
        )

    def _endpoint_url(self, path: str | None = None) -> pulumi.Output[str]:
        """Where clients send predictions (or ``path``): the custom domain when there is one."""
        path = path or self.spec.model.predict_path
        if self.spec.api.domain is None:
            return pulumi.Output.concat(self.stage.invoke_url, path)
        return pulumi.Output.concat("https://", self.base_path.domain_name, path)

    def _create_usage_plan(self, use_key: bool) -> None:
        name, spec, o = self.name, self.spec, self._o
        self.usage_plan = aws.apigateway.UsagePlan(
            f"{name}-usage-plan",
            name=resource_name("aws", "default", spec.project, spec.environment.value, "plan"),
            description="Per-consumer throttle and daily quota",
            api_stages=[
                aws.apigateway.UsagePlanApiStageArgs(
                    api_id=self.rest_api.id, stage=self.stage.stage_name
                )
            ],
            throttle_settings=aws.apigateway.UsagePlanThrottleSettingsArgs(
                rate_limit=float(spec.api.rate_limit_rps), burst_limit=spec.api.burst
            ),
            quota_settings=aws.apigateway.UsagePlanQuotaSettingsArgs(
                limit=spec.api.quota_per_day, period="DAY"
            ),
            tags=spec.standard_tags(),
            opts=o,
        )
        if use_key:
            # One key for the first consumer; each further consumer gets a key on this plan.
            key = aws.apigateway.ApiKey(
                f"{name}-consumer-key",
                name=resource_name("aws", "default", spec.project, spec.environment.value, "key"),
                description="First API consumer (add one key per consumer)",
                enabled=True,
                tags=spec.standard_tags(),
                opts=o,
            )
            aws.apigateway.UsagePlanKey(
                f"{name}-consumer-key-plan",
                key_id=key.id,
                key_type="API_KEY",
                usage_plan_id=self.usage_plan.id,
                opts=o,
            )

    # --- monitoring -----------------------------------------------------------------------
    def _create_monitoring(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        self.alarm_defs = monitoring.alarm_defs(
            serving_alarms(spec), monitoring.API_GATEWAY_METRICS, has_candidate=spec.has_candidate
        )
        # Empty without an LLM; their metric filters need the serving log group (below).
        self.guardrail_defs = monitoring.alarm_defs(
            guardrail_alarms(spec), monitoring.guardrail_metrics(spec)
        )
        self.topics = monitoring.create_alert_topics(
            name,
            spec,
            self.key,
            monitoring.tiers_used([*self.alarm_defs, *self.guardrail_defs]),
            o,
        )
        dimensions: dict[str, Mapping[str, pulumi.Input[str]]] = {
            "api": {"ApiName": self.rest_api.name, "Stage": self.stage.stage_name},
            **{
                role: {
                    "LoadBalancer": _arn_suffix(self.alb.arn, "loadbalancer/"),
                    "TargetGroup": _arn_suffix(self.target_groups[role].arn, ""),
                }
                for role in ("stable", "canary")
            },
        }
        self.alarms = monitoring.create_alarms(
            name, spec, self.alarm_defs, dimensions, self.topics, o
        )
        # The uptime check probes exactly the exported health_url, on the page tier.
        self.uptime = uptime.create_uptime_check(
            name,
            spec,
            key=self.key,
            health_url=self._endpoint_url(spec.model.health_path),
            topics=self.topics,
            opts=o,
        )
        self.alarms[uptime.UPTIME_KEY] = self.uptime.alarm
        self.rollback_function = release.create_rollback_function(
            name,
            spec,
            key=self.key,
            alarms=[self.alarms[d.key] for d in self.alarm_defs if d.triggers_rollback],
            topics=self.topics,
            target=release.api_first_target(spec, self.rest_api.id, self.stage.stage_name),
            opts=o,
        )

    # --- serving --------------------------------------------------------------------------
    def _create_serving(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        tags = spec.standard_tags()
        ecs = security.create_ecs_foundation(
            name, spec, self.key, "serving", [self.stable.image, self.canary.image], o
        )
        self.cluster, self.app_logs, execution_role = ecs.cluster, ecs.logs, ecs.execution_role
        # Without an LLM the model process needs no AWS API: its role exists so it has an
        # identity, not rights. With one it calls its guardrail (and the hosted model) only.
        task_role = security.create_role(
            f"{name}-task-role",
            spec,
            "ecs-tasks.amazonaws.com",
            (
                guardrail.task_role_statements(spec, self.guardrail, self.key)
                if self.guardrail is not None
                else []
            ),
            o,
            description=(
                "Model container identity: its Bedrock guardrail and model only"
                if self.guardrail is not None
                else "Model container identity; grants nothing"
            ),
        )
        self.task_sg = aws.ec2.SecurityGroup(
            f"{name}-task-sg",
            description="Model tasks: the model port from the ALB only; HTTPS out for pulls",
            vpc_id=self.network.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="The model port from the internal ALB",
                    protocol="tcp",
                    from_port=spec.model.port,
                    to_port=spec.model.port,
                    security_groups=[self.alb_sg.id],
                )
            ],
            egress=[network.https_egress("HTTPS to AWS APIs and the image registry")],
            tags=tags,
            opts=o,
        )
        rollback_on = {
            # The canary's own alarms roll back a bad candidate; the stable service rolls back
            # a bad promotion on the customer-facing error and latency alarms.
            "canary": rollout.rollback_alarm_names(self.alarm_defs, self.alarms),
            "stable": [
                self.alarms[s.value].name for s in (Signal.ERROR_RATE_5XX, Signal.LATENCY_P99)
            ],
        }
        self.services: dict[str, aws.ecs.Service] = {}
        for variant in (self.stable, self.canary):
            task = self._task_definition(variant, execution_role.arn, task_role.arn)
            service = fargate.create_service(
                f"{name}-{variant.role}",
                self.cluster,
                task,
                variant.min_capacity,
                self.network.private_subnet_ids,
                self.task_sg,
                rollback_on[variant.role],
                {**tags, "variant": variant.role},
                pulumi.ResourceOptions.merge(
                    o, pulumi.ResourceOptions(depends_on=[self.listener, self.canary_rule])
                ),
                fargate.LoadBalanced(
                    self.target_groups[variant.role].arn, "model", spec.model.port
                ),
            )
            self._autoscale(variant, service)
            self.services[variant.role] = service

    def _create_guardrail_alarms(self) -> None:
        """LLM stacks: count blocked prompts and withheld answers from the serving container's
        log lines, and alarm on spikes at the ticket tier (on the dashboard with the rest)."""
        if not self.guardrail_defs:
            return
        name, spec, o = self.name, self.spec, self._o
        filters = monitoring.create_blocked_filters(name, spec, self.app_logs, o)
        alarms = monitoring.create_alarms(
            name,
            spec,
            self.guardrail_defs,
            {"guardrail": {}},
            self.topics,
            # The metric exists once its filter does.
            pulumi.ResourceOptions.merge(
                o, pulumi.ResourceOptions(depends_on=list(filters.values()))
            ),
        )
        self.alarms.update(alarms)

    def _task_definition(
        self,
        variant: rollout.Variant,
        execution_role: pulumi.Output[str],
        task_role: pulumi.Output[str],
    ) -> aws.ecs.TaskDefinition:
        name, spec = self.name, self.spec
        environment: list[dict[str, pulumi.Input[str]]] = [
            {"name": "MODEL_NAME", "value": spec.model.name},
            {"name": "MODEL_VERSION", "value": variant.version},
            {"name": "VARIANT", "value": variant.role},
        ]
        if self.guardrail is not None:
            environment += guardrail.container_environment(spec, self.guardrail)
        return fargate.create_task_definition(
            f"{name}-{variant.role}-task",
            spec,
            variant.role,
            fargate.Container(
                "model", variant.image, stop_timeout=30, port=spec.model.port,
                log_prefix=variant.role,
            ),
            environment,
            self.app_logs,
            execution_role,
            task_role,
            {**spec.standard_tags(), "variant": variant.role},
            self._o,
        )  # fmt: skip

    def _autoscale(self, variant: rollout.Variant, service: aws.ecs.Service) -> None:
        name, spec = self.name, self.spec
        scaling.create_target_tracking(
            f"{name}-{variant.role}-scaling",
            f"{name}-{variant.role}-cpu",
            pulumi.Output.concat("service/", self.cluster.name, "/", service.name),
            (variant.min_capacity, variant.max_capacity),
            scaling.Tracking(
                "ecs",
                "ecs:service:DesiredCount",
                "ECSServiceAverageCPUUtilization",
                float(spec.capacity.target_cpu_percent),
            ),
            self._o,
        )

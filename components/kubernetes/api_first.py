"""The API-first pattern on the client's Kubernetes cluster.

    client --HTTPS, TLS 1.2+--> Gateway (Envoy Gateway; cert-manager or the client's certificate)
        HTTPRoute <name>-api:  POST <predict_path>, JWT and/or API key (SecurityPolicy),
                               rate limit and body limit (BackendTrafficPolicy),
                               weighted split stable/candidate from components.rollout
        HTTPRoute <name>-health: GET <health_path>, no credentials (the pipeline's smoke test)
      --> Service <name>-stable / <name>-candidate (ClusterIP)
      --> Deployment (or KServe InferenceService) of the hardened pod, HPA on CPU, PDB
    namespace <project>-<env>: restricted Pod Security, quota, default-deny NetworkPolicy; the
    model pods accept traffic only from the gateway's namespace (model port) and the
    monitoring namespace (metrics port) and reach only the cluster DNS.
    Prometheus Operator: ServiceMonitor (the models), PodMonitor (the Gateway's Envoy proxies),
    PrometheusRule (the neutral alarms by their exact names), AlertmanagerConfig (tiers to the
    spec's destinations; the rollback alerts also to the rollback service), Grafana dashboard.
    Rollback service <name>-rollback (rollback.py): verifies a firing rollback alert with
    Alertmanager and moves the predict route's weights to stable (candidate 0, stable 100).

The cluster has no KMS of its own: secrets live in the client's store and reach the cluster
only through External Secrets, so ``kms_key_id`` names the ClusterSecretStore that holds them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.alarms import alarm_name, guardrail_alarms, rollback_alarms, serving_alarms
from components.base import PatternComponent
from components.kubernetes import (
    gateway,
    kserve,
    monitoring,
    network,
    rollback,
    scaling,
    secrets,
    workload,
)
from components.kubernetes.meta import (
    NAME_LABEL,
    VERSION_LABEL,
    label_value,
    namespace_name,
    object_name,
    selector,
    stack_labels,
)
from components.kubernetes.patterns import cluster_of, create_alerting
from components.llm import hook_environment
from components.rollout import settings_for, traffic_split
from components.spec import DeploymentSpec

# The role labels of the two release slots (the candidate's Service and Deployment carry it).
STABLE, CANDIDATE = "stable", "candidate"
# Where the client keeps the API keys in its store: one property per client id, its value the
# key (Envoy Gateway's apiKeyAuth reads exactly that shape from the synced Secret).
API_KEYS_STORE_KEY = "{project}/{environment}/api-keys"
# The certificate in the client's store (cluster.tls_secret_key): these two properties.
TLS_PROPERTIES = ("tls.crt", "tls.key")
TLS_SECRET_TYPE = "kubernetes.io/tls"  # noqa: S105 - a Secret type, not a password


@dataclass(frozen=True)
class Slot:
    """One release slot: the names the route, the alarms and the outputs use."""

    workload: str
    service: str


class KubernetesApiFirst(PatternComponent):
    """Model serving behind an authenticated, rate-limited HTTPS API in the client's cluster."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, spec, opts)
        self.cluster = cluster_of(spec)
        self.labels = stack_labels(spec)
        # The namespace, its quota and its default deny are bootstrap's (the platform team's),
        # never the stack's: its deployer has no right to relax them (bootstrap.py).
        self.namespace = namespace_name(spec)
        self.inside = self.child_opts()
        self.account_name = object_name(name, "model")
        account = workload.service_account(
            f"{name}-model", self.inside, name=self.account_name,
            namespace=self.namespace, labels=self.labels,
        )  # fmt: skip
        serving_deps: list[pulumi.Resource] = [account]
        # The client's internal CA (an identity provider, a model store it signed): mounted
        # read-only into the model pods, the trust store of their HTTP clients.
        self.ca_secret: str | None = None
        if self.cluster.ca_bundle_key is not None:
            self.ca_secret = object_name(name, "ca")
            serving_deps.append(
                secrets.ca_bundle(
                    f"{name}-ca", self.inside, name=self.ca_secret, namespace=self.namespace,
                    labels=self.labels, store=self.cluster.secret_store,
                    remote_key=self.cluster.ca_bundle_key,
                )
            )  # fmt: skip
        self.serving = self.child_opts(depends_on=serving_deps)
        self.stable = self._create_slot(name, spec, STABLE)
        self.candidate = self._create_slot(name, spec, CANDIDATE) if spec.has_candidate else None
        self._create_network(name, spec)
        self._create_edge(name, spec)
        rules = [*serving_alarms(spec), *guardrail_alarms(spec)]
        targets = monitoring.Targets(
            namespace=self.namespace,
            route=self.route_name,
            stable_service=self.stable.service,
            candidate_service=object_name(name, CANDIDATE),
        )
        # The rollback acts on what the alerts report: without Prometheus Operator there is
        # neither (and S2 says so in prod).
        self.rollback = (
            self._create_rollback(name, spec, targets) if self.cluster.prometheus else None
        )
        self.alerting = create_alerting(
            name, spec, self.labels, rules, targets, api=True, opts=self.inside,
            gateway=self.gateway_name,
            rollback=self.rollback.webhook if self.rollback else None,
        )  # fmt: skip

        host = spec.api.domain
        self.endpoint_url = f"https://{host}{spec.model.predict_path}"
        # GET, no credentials, same Gateway and listener as predict (its own route).
        self.health_url = f"https://{host}{spec.model.health_path}"
        self.rollback_alarms = self.rollback_alarm_names(spec)
        self.api_id = self.route_name
        self.serving_service = self.stable.workload
        self.canary_service = self.candidate.workload if self.candidate else ""
        self.kms_key_id = self.cluster.secret_store
        self.log_group = self.namespace
        self.alert_topic = self.alerting.routing
        self.dashboard_name = self.alerting.dashboard
        self._finish()

    # -- Serving: one workload and Service per release slot ----------------------------------
    def _create_slot(self, name: str, spec: DeploymentSpec, role: str) -> Slot:
        candidate = role == CANDIDATE
        version = spec.rollout.candidate_version if candidate else spec.model.version
        image = spec.rollout.candidate_image if candidate else spec.model.serving_image
        assert version is not None and image is not None  # the spec pairs them  # nosec B101
        slot = object_name(name, role)
        pods = selector(name, role)
        labels = {**self.labels, **pods, VERSION_LABEL: label_value(version)}
        cap, model = spec.capacity, spec.model
        c = workload.Container(
            image=image, port=model.port, health_path=model.health_path, cpu=cap.cpu,
            memory_mb=cap.memory_mb, gpus=self.cluster.gpus,
            # With an LLM, the model server's local guardrail check (components.llm): its
            # settings and provider; prompts never leave the cluster for a check.
            env={
                "MODEL_VERSION": version, "MODEL_PORT": str(model.port),
                **hook_environment(spec.cloud.value, spec.llm),
            },
            ca_secret=self.ca_secret,
        )  # fmt: skip
        # Both slots scale within the profile's bounds: the HPA sizes each to its share.
        floor = max(1, cap.min_instances)
        if self.cluster.kserve:
            kserve.create_inference_service(
                f"{name}-{role}", self.serving, name=slot, namespace=self.namespace,
                labels=labels, selector_labels=pods, c=c, service_account=self.account_name,
                min_replicas=floor, max_replicas=cap.max_instances,
                target_cpu_percent=cap.target_cpu_percent,
            )  # fmt: skip
        else:
            template = workload.pod_template(
                c, container_name="model", service_account=self.account_name,
                selector_labels=pods, labels=labels,
            )  # fmt: skip
            workload.create_deployment(
                f"{name}-{role}", self.serving, name=slot, namespace=self.namespace,
                labels=labels, selector_labels=pods, template=template,
            )  # fmt: skip
            scaling.create_hpa(
                f"{name}-{role}-scaling", self.inside, name=slot, namespace=self.namespace,
                labels=labels, deployment=slot, min_replicas=floor,
                max_replicas=cap.max_instances, target_cpu_percent=cap.target_cpu_percent,
            )  # fmt: skip
        scaling.create_pdb(
            f"{name}-{role}-budget", self.inside, name=slot, namespace=self.namespace,
            labels=labels, selector_labels=pods, floor=floor,
        )  # fmt: skip
        workload.create_service(
            f"{name}-{role}-service", self.inside, name=slot, namespace=self.namespace,
            labels={**self.labels, NAME_LABEL: label_value(name)}, selector_labels=pods,
            ports={"http": model.port, "metrics": workload.metrics_port(model.port)},
        )  # fmt: skip
        return Slot(workload=slot, service=slot)

    # -- Network: only the gateway and the monitoring reach the pods -------------------------
    def _create_network(self, name: str, spec: DeploymentSpec) -> None:
        pods = {NAME_LABEL: label_value(name)}
        network.allow_from_namespace(
            f"{name}-from-gateway", self.inside, name=object_name(name, "from-gateway"),
            namespace=self.namespace, labels=self.labels, pods=pods,
            source_namespace=self.cluster.gateway_namespace, port=spec.model.port,
            # Only Envoy Gateway's proxies there, not whatever else shares the namespace.
            source_pods=network.ENVOY_PROXY_PODS,
        )  # fmt: skip
        if self.cluster.prometheus:
            network.allow_from_namespace(
                f"{name}-from-monitoring", self.inside, name=object_name(name, "from-monitoring"),
                source_namespace=self.cluster.monitoring_namespace,
                port=workload.metrics_port(spec.model.port), namespace=self.namespace,
                labels=self.labels, pods=pods,
            )  # fmt: skip
        network.allow_dns(
            f"{name}-to-dns", self.inside, name=object_name(name, "to-dns"),
            namespace=self.namespace, labels=self.labels, pods=pods,
            dns_namespace=self.cluster.dns_namespace, dns_port=self.cluster.dns_port,
            dns_cidrs=self.cluster.dns_cidrs,
        )  # fmt: skip

    # -- Rollback: the alerts' webhook that moves the route back to stable ---------------------
    def _create_rollback(
        self, name: str, spec: DeploymentSpec, targets: monitoring.Targets
    ) -> rollback.RollbackService:
        target = rollback.Target(
            route=self.route, route_name=self.route_name, stable=targets.stable_service,
            candidate=targets.candidate_service, candidate_version=spec.rollout.candidate_version,
            alerts=self.rollback_alarm_names(spec), settings=settings_for(spec),
        )  # fmt: skip
        return rollback.create_rollback_service(
            f"{name}-rollback", self.inside, name=object_name(name, "rollback"),
            namespace=self.namespace, labels=self.labels, cluster=self.cluster, target=target,
            token_store_key=rollback.TOKEN_STORE_KEY.format(
                project=spec.project, environment=spec.environment.value
            ),
        )  # fmt: skip

    @staticmethod
    def rollback_alarm_names(spec: DeploymentSpec) -> list[str]:
        """The exact names of the stack's rollback alerts (the outputs' and the service's)."""
        return [alarm_name(spec, r.key) for r in rollback_alarms(spec)]

    # -- Edge: Gateway, routes, authentication, limits ---------------------------------------
    def _create_edge(self, name: str, spec: DeploymentSpec) -> None:
        api, cluster, ns, labels = spec.api, self.cluster, self.namespace, self.labels
        host = api.domain
        assert host is not None  # the spec requires a domain on kubernetes  # nosec B101
        tls_secret = object_name(name, "tls")
        if cluster.tls_secret_key is not None:
            secrets.external_secret(
                f"{name}-tls", self.inside, name=tls_secret, namespace=ns, labels=labels,
                store=cluster.secret_store, secret_type=TLS_SECRET_TYPE,
                entries=[secrets.Entry(p, cluster.tls_secret_key, p) for p in TLS_PROPERTIES],
            )  # fmt: skip
        gateway_name = self.gateway_name = object_name(name, "gateway")
        gateway.create_gateway(
            f"{name}-gateway", self.inside, name=gateway_name, namespace=ns, labels=labels,
            gateway_class=cluster.gateway_class, hostname=host, tls_secret=tls_secret,
            tls_issuer=cluster.tls_issuer,
        )  # fmt: skip
        gateway.create_client_policy(
            f"{name}-client", self.inside, name=object_name(name, "client"), namespace=ns,
            labels=labels, gateway=gateway_name, buffer_bytes=spec.body_cap,
        )  # fmt: skip
        stable_pct, candidate_pct = traffic_split(spec)
        backends = [gateway.Backend(self.stable.service, spec.model.port, stable_pct)]
        if self.candidate is not None:
            backends.append(gateway.Backend(self.candidate.service, spec.model.port, candidate_pct))
        self.route_name = object_name(name, "api")
        self.route = gateway.create_route(
            f"{name}-api", self.inside, name=self.route_name, method="POST",
            path=spec.model.predict_path, backends=backends, namespace=ns, labels=labels,
            gateway=gateway_name, hostname=host,
        )  # fmt: skip
        health_route = object_name(name, "health")
        gateway.create_route(
            f"{name}-health", self.inside, name=health_route, method="GET",
            path=spec.model.health_path,
            backends=[gateway.Backend(self.stable.service, spec.model.port, 100)],
            namespace=ns, labels={**labels, gateway.PUBLIC_LABEL: gateway.PUBLIC},
            gateway=gateway_name, hostname=host,
        )  # fmt: skip
        self._create_auth(name, spec)
        gateway.create_traffic_policy(
            f"{name}-limits", self.inside, name=object_name(name, "limits"), namespace=ns,
            labels=labels, route=self.route_name, requests=api.rate_limit_rps, unit="Second",
            max_request_bytes=spec.body_cap,
        )  # fmt: skip
        gateway.create_traffic_policy(
            f"{name}-health-limits", self.inside, name=object_name(name, "health-limits"),
            namespace=ns, labels=labels, route=health_route,
            requests=gateway.HEALTH_REQUESTS_PER_MINUTE, unit="Minute", max_request_bytes=None,
        )  # fmt: skip

    def _create_auth(self, name: str, spec: DeploymentSpec) -> None:
        api, cluster = spec.api, self.cluster
        jwt = None
        if api.uses_jwt:
            issuer, audience = api.jwt()
            jwt = gateway.Jwt(issuer, audience, gateway.jwks_uri(cluster.jwks_uri))
        keys_secret = None
        if api.uses_api_key:
            keys_secret = object_name(name, "api-keys")
            secrets.external_secret(
                f"{name}-api-keys", self.inside, name=keys_secret, namespace=self.namespace,
                labels=self.labels, store=cluster.secret_store,
                extract=API_KEYS_STORE_KEY.format(
                    project=spec.project, environment=spec.environment.value
                ),
            )  # fmt: skip
        gateway.create_security_policy(
            f"{name}-auth", self.inside, name=object_name(name, "auth"), namespace=self.namespace,
            labels=self.labels, route=self.route_name, jwt=jwt, api_key_secret=keys_secret,
        )  # fmt: skip

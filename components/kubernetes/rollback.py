"""Kubernetes building block: the automatic rollback of the api-first pattern.

    PrometheusRule alert, label rollback="true"
      --Alertmanager: the stack's AlertmanagerConfig, route rollback="true" (continue: the tier
        routes still tell people)--> webhook POST http://<name>-rollback.<ns>.svc:8080/alerts,
        ``Authorization: Bearer`` the token in the Secret <name>-rollback-token
      --> Service <name>-rollback --> Deployment <name>-rollback (label aideploy-role=rollback)
          runs rollback_app/app.py (a ConfigMap; components/rollout.py beside it), which
          verifies the alert with Alertmanager's API v2, lets ``decide`` rule, and patches the
          HTTPRoute <name>-api: candidate weight 0, stable 100, in one merge patch
      as ServiceAccount <name>-rollback, bound by a RoleBinding to a Role allowing exactly
      rollback_app.app.API_CALLS (get, patch) on that one HTTPRoute (resourceNames).

Its flows, on top of the namespace's default deny: in, TCP 8080 from Alertmanager's pods in
``cluster.monitoring_namespace`` only; out, the cluster DNS, Alertmanager (TCP 9093 of its pods
in the monitoring namespace) and the API server (TCP 443 and 6443, see API_SERVER_PORTS).

The token the pod calls the API server with is not the legacy automounted one: the pod and its
ServiceAccount keep ``automountServiceAccountToken: false`` (as every pod of ours), and the pod
mounts a projected token of its own instead, valid TOKEN_SECONDS and rotated by the kubelet,
whose audience is the API server's own (a projected token without ``audience`` gets the API
server's default audience, so it is accepted by the API server only, and the webhook's callers
never see it).

The objects reference each other by Outputs (:func:`monitoring.after`), so Pulumi creates them in
order and the policy pack's S2 follows the path alarm -> routing -> Service -> Deployment ->
ServiceAccount -> RoleBinding -> Role -> HTTPRoute (policies/rules/rollback_paths.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components import rollout
from components.kubernetes import monitoring, network, secrets, workload
from components.kubernetes.meta import NAME_LABEL, ROLE_LABEL, label_value, metadata
from components.kubernetes.rollback_app import app
from components.spec import ClusterSettings

# The image the service runs on: the Python the app is written for, standard library only.
# Pinned by digest (k8s-image-by-digest): the multi-arch index of python:3.12-slim. To update:
# `docker buildx imagetools inspect python:3.12-slim` prints the index's "Digest:"; put it here
# (a cluster without Docker Hub access mirrors the image and names the mirror here).
PYTHON_IMAGE = (
    "docker.io/library/python:3.12-slim"
    "@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea"
)
PORT = 8080
ROLE = "rollback"
# The app is a handful of requests a day: the smallest sizes the quota's defaults know.
CPU = 0.05
MEMORY_MB = 64
# Alertmanager as the Prometheus Operator runs it: the governing Service it creates for every
# Alertmanager (``alertmanager-operated``, in the Alertmanager's namespace, which is
# cluster.monitoring_namespace), port 9093 ("web"), and the labels of its pods
# (makeSelectorLabels in prometheus-operator pkg/alertmanager). No spec setting: a cluster whose
# Alertmanager lives elsewhere changes this constant.
ALERTMANAGER_URL = "http://alertmanager-operated.{namespace}.svc:9093"
ALERTMANAGER_PORT = 9093
ALERTMANAGER_PODS = {
    "app.kubernetes.io/name": "alertmanager",
    "app.kubernetes.io/managed-by": "prometheus-operator",
}
# The API server as every pod sees it: the ``kubernetes`` Service of the ``default`` namespace.
# NetworkPolicy cannot select it: the Service forwards to the API server's own addresses (the
# control plane's hosts, port 6443 on most distributions, 443 on some managed ones), which
# belong to no pod and no namespace, and most CNIs (Calico, Cilium) judge egress after that
# translation, so a namespaceSelector on ``default`` never matches: the rule names the control
# plane's addresses (``cluster.api_server_cidrs``, required outside dev); without them (dev)
# it is limited by port only.
API_SERVER_URL = "https://kubernetes.default.svc"
API_SERVER_PORTS = (443, 6443)
# The webhook's bearer token, in the client's store: property `token` of this key.
TOKEN_STORE_KEY = "{project}/{environment}/rollback"  # noqa: S105 - a path in the store
TOKEN_KEY = "token"  # noqa: S105 - the key's name in the Secret, not a password
# Where the pod finds what it reads.
APP_DIR = "/app"
WEBHOOK_TOKEN_DIR = "/etc/aideploy/webhook"  # noqa: S105 - a directory
API_TOKEN_DIR = "/var/run/secrets/aideploy/api"  # noqa: S105 - a directory
# The API server's minimum lifetime for a projected token; the kubelet renews it at 80 %.
TOKEN_SECONDS = 600
CODE_ANNOTATION = "aideploy.io/code-sha256"
APP_SOURCE = Path(app.__file__)
DECIDE_SOURCE = Path(rollout.__file__)


@dataclass(frozen=True)
class Target:
    """What the service guards: the HTTPRoute (its resource and name), the two Services, the
    candidate's version (for the rolled-back annotation), the stack's rollback alerts and the
    decision settings (components.rollout.settings_for)."""

    route: pulumi.Resource
    route_name: str
    stable: str
    candidate: str
    candidate_version: str | None
    alerts: Sequence[str]
    settings: rollout.Settings


@dataclass(frozen=True)
class RollbackService:
    """The service as Alertmanager calls it: its webhook URL (an Output of its Service) and the
    Secret key holding the bearer token."""

    name: str
    webhook: monitoring.RollbackHook
    deployment: k8s.apps.v1.Deployment


def app_files() -> dict[str, str]:
    """The ConfigMap's files: the app, and the one rollback rule under the name it imports."""
    return {"rollback.py": APP_SOURCE.read_text(), "rollout_decision.py": DECIDE_SOURCE.read_text()}


def app_config(cluster: ClusterSettings, namespace: str, target: Target) -> dict[str, Any]:
    """ROLLBACK_CONFIG: everything the app reads (rollback_app.app.load_config)."""
    s = target.settings
    return {
        "namespace": namespace,
        "route": target.route_name,
        "stable": target.stable,
        "candidate": target.candidate,
        "candidate_version": target.candidate_version,
        "alerts": list(target.alerts),
        "alertmanager": ALERTMANAGER_URL.format(namespace=cluster.monitoring_namespace),
        "api_server": API_SERVER_URL,
        "api_token_file": f"{API_TOKEN_DIR}/token",
        "api_ca_file": f"{API_TOKEN_DIR}/ca.crt",
        "webhook_token_file": f"{WEBHOOK_TOKEN_DIR}/{TOKEN_KEY}",
        "port": PORT,
        "settings": {
            "error_rate": s.error_rate,
            "latency_multiplier": s.latency_multiplier,
            "min_requests": s.min_requests,
        },
    }


def role_rules(route: pulumi.Input[str]) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    """Exactly the calls the app makes (app.API_CALLS), on the one route ``route``."""
    calls = sorted(app.API_CALLS)
    return [
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[group],
            resources=[resource],
            resource_names=[route],
            verbs=[verb for _, _, verb in verbs],
        )
        for (group, resource), verbs in groupby(calls, key=lambda c: (c[0], c[1]))
    ]


def _volumes(code: pulumi.Input[str], token_secret: str) -> list[k8s.core.v1.VolumeArgs]:
    """The app's code, the webhook's token and the API server's credentials, all read-only."""
    return [
        k8s.core.v1.VolumeArgs(
            name="code",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=code, default_mode=0o444),
        ),
        k8s.core.v1.VolumeArgs(
            name="webhook-token",
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=token_secret,
                items=[k8s.core.v1.KeyToPathArgs(key=TOKEN_KEY, path=TOKEN_KEY)],
                default_mode=0o440,
            ),
        ),
        k8s.core.v1.VolumeArgs(
            name="api-token",
            projected=k8s.core.v1.ProjectedVolumeSourceArgs(
                default_mode=0o440,
                sources=[
                    k8s.core.v1.VolumeProjectionArgs(
                        service_account_token=k8s.core.v1.ServiceAccountTokenProjectionArgs(
                            path="token", expiration_seconds=TOKEN_SECONDS
                        )
                    ),
                    # The cluster's CA, which every namespace holds (kube-root-ca.crt).
                    k8s.core.v1.VolumeProjectionArgs(
                        config_map=k8s.core.v1.ConfigMapProjectionArgs(
                            name="kube-root-ca.crt",
                            items=[k8s.core.v1.KeyToPathArgs(key="ca.crt", path="ca.crt")],
                        )
                    ),
                ],
            ),
        ),
    ]


_MOUNTS = (("code", APP_DIR), ("webhook-token", WEBHOOK_TOKEN_DIR), ("api-token", API_TOKEN_DIR))


def pod_spec(
    config: Mapping[str, Any],
    *,
    account: pulumi.Input[str],
    code: pulumi.Input[str],
    token_secret: str,
    selector_labels: Mapping[str, str],
) -> k8s.core.v1.PodSpecArgs:
    """The model's hardened pod (workload.pod_spec) running the app: its command and three
    read-only volumes added, nothing else changed."""
    c = workload.Container(
        image=PYTHON_IMAGE, port=PORT, health_path=app.HEALTH_PATH, cpu=CPU, memory_mb=MEMORY_MB,
        env={app.CONFIG_ENV: json.dumps(config, sort_keys=True)},
    )  # fmt: skip
    spec = workload.pod_spec(
        c, container_name=ROLE, service_account=account, selector_labels=selector_labels
    )
    (container,) = cast(Sequence[k8s.core.v1.ContainerArgs], spec.containers)
    # -u: unbuffered log lines; -B: no .pyc (read-only file systems); -E -s: no PYTHON* variable
    # nor user site changes what runs. The script's directory stays on the path (rollout_decision).
    container.command = ["python", "-u", "-B", "-E", "-s", f"{APP_DIR}/rollback.py"]
    mounts = list(cast(Sequence[k8s.core.v1.VolumeMountArgs], container.volume_mounts))
    container.volume_mounts = mounts + [
        k8s.core.v1.VolumeMountArgs(name=v, mount_path=path, read_only=True) for v, path in _MOUNTS
    ]
    volumes = list(cast(Sequence[k8s.core.v1.VolumeArgs], spec.volumes))
    spec.volumes = volumes + _volumes(code, token_secret)
    return spec


def _egress(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    pods: pulumi.Input[Mapping[str, str]],
    peers: list[k8s.networking.v1.NetworkPolicyPeerArgs] | None,
    ports: Sequence[int],
) -> k8s.networking.v1.NetworkPolicy:
    return k8s.networking.v1.NetworkPolicy(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pods),
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=peers,
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=p)
                        for p in ports
                    ],
                )
            ],
        ),
        opts=opts,
    )


def create_rollback_service(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    cluster: ClusterSettings,
    token_store_key: str,
    target: Target,
) -> RollbackService:
    """The rollback service ``name`` guarding ``target`` (see the module docstring)."""
    pods = {NAME_LABEL: label_value(name), ROLE_LABEL: ROLE}
    own = {**labels, **pods}
    token_secret = f"{name}-token"
    secrets.external_secret(
        f"{logical}-token", opts, name=token_secret, namespace=namespace, labels=own,
        store=cluster.secret_store, entries=[secrets.Entry(TOKEN_KEY, token_store_key, TOKEN_KEY)],
    )  # fmt: skip
    files = app_files()
    code_name = f"{name}-code"
    code = k8s.core.v1.ConfigMap(
        f"{logical}-code", metadata=metadata(code_name, namespace, own), data=files, opts=opts
    )
    account = workload.service_account(
        f"{logical}-account", opts, name=name, namespace=namespace, labels=own
    )
    role = k8s.rbac.v1.Role(
        f"{logical}-role",
        metadata=metadata(name, namespace, own),
        rules=role_rules(monitoring.after(target.route, target.route_name)),
        opts=opts,
    )
    k8s.rbac.v1.RoleBinding(
        f"{logical}-binding",
        metadata=metadata(name, namespace, own),
        subjects=[
            k8s.rbac.v1.SubjectArgs(
                kind="ServiceAccount", name=monitoring.after(account, name), namespace=namespace
            )
        ],
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io", kind="Role", name=monitoring.after(role, name)
        ),
        opts=opts,
    )
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    template = k8s.core.v1.PodTemplateSpecArgs(
        # The code's digest: a new app version rolls the pods (a mounted ConfigMap changes under
        # a running process, which has already imported the old code).
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=own, annotations={CODE_ANNOTATION: digest}),
        spec=pod_spec(
            app_config(cluster, namespace, target), account=monitoring.after(account, name),
            code=monitoring.after(code, code_name), token_secret=token_secret,
            selector_labels=pods,
        ),
    )  # fmt: skip
    deployment = workload.create_deployment(
        logical, opts, name=name, namespace=namespace,
        labels={**own, **rollout.ROLLBACK_MARKER}, selector_labels=pods, template=template,
    )  # fmt: skip
    # The Service selects the Deployment's pods, read from the Deployment.
    service = k8s.core.v1.Service(
        f"{logical}-service",
        metadata=metadata(name, namespace, own),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=monitoring.after(deployment, pods),
            ports=[k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http")],
        ),
        opts=opts,
    )
    network.allow_from_namespace(
        f"{logical}-from-alertmanager", opts, name=f"{name}-from-alertmanager",
        namespace=namespace, labels=own, pods=pods, source_namespace=cluster.monitoring_namespace,
        port=PORT, source_pods=ALERTMANAGER_PODS,
    )  # fmt: skip
    network.allow_dns(
        f"{logical}-to-dns", opts, name=f"{name}-to-dns", namespace=namespace, labels=own,
        pods=pods, dns_namespace=cluster.dns_namespace, dns_port=cluster.dns_port,
        dns_cidrs=cluster.dns_cidrs,
    )  # fmt: skip
    # Reading the alerts is what this policy allows the Deployment's pods (S2's read grant).
    _egress(
        f"{logical}-to-alertmanager", opts, name=f"{name}-to-alertmanager", namespace=namespace,
        labels=own, pods=monitoring.after(deployment, pods),
        peers=[
            k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={network.NAMESPACE_NAME_LABEL: cluster.monitoring_namespace}
                ),
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=ALERTMANAGER_PODS),
            )
        ],
        ports=[ALERTMANAGER_PORT],
    )  # fmt: skip
    _egress(
        f"{logical}-to-api-server", opts, name=f"{name}-to-api-server", namespace=namespace,
        labels=own, pods=pods, ports=API_SERVER_PORTS,
        peers=[
            k8s.networking.v1.NetworkPolicyPeerArgs(
                ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
            )
            for cidr in cluster.api_server_cidrs
        ] or None,
    )  # fmt: skip
    url = f"http://{name}.{namespace}.svc:{PORT}{app.ALERTS_PATH}"
    hook = monitoring.RollbackHook(
        url=monitoring.after(service, url), secret=token_secret, key=TOKEN_KEY
    )
    return RollbackService(name=name, webhook=hook, deployment=deployment)

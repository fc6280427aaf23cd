"""Kubernetes building block: the hardened pod every aideploy model runs in, and its Deployment.

What no pod of ours goes without, whatever the pattern: its own ServiceAccount whose token is
never mounted (the model calls no Kubernetes API); a non-root numeric user (10001, the model
contract's) with the runtime's default seccomp profile; no privilege escalation, no Linux
capabilities, a read-only root file system with ``emptyDir`` volumes for ``/tmp`` and the model
cache (the only places the contract lets a model write); the image by digest, so every node
runs the same bytes; memory requested as much as it is limited (a model is never OOM-killed for
a neighbour's burst); readiness, liveness and startup probes on the model's health path;
replicas spread over nodes; GPUs requested explicitly and tolerated only when asked for. No
host namespaces, no hostPath, no privileged container: none is ever set here, and
tests/components/test_kubernetes_blocks.py holds every pod of every stack to it.

With ``Container.ca_secret`` (the client's internal CA, ``cluster.ca_bundle_key``, synced by
secrets.ca_bundle) the pod also mounts that Secret's ``ca.crt`` read-only at CA_FILE and points
OpenSSL (SSL_CERT_FILE), requests (REQUESTS_CA_BUNDLE) and the AWS SDKs (AWS_CA_BUNDLE, the
S3 client of the object store) at it. requests and the AWS SDKs then trust that file instead of
their own bundles (and OpenSSL reads it instead of its default file), so the bundle in the store
holds every CA the pods must trust, public ones included when they call public services.

:class:`Container` is the explicit input; :func:`pod_template` the result a Deployment (or a
KServe predictor, kserve.py) takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.meta import metadata
from components.kubernetes.namespace import CPU_LIMIT_FACTOR
from components.kubernetes.secrets import CA_BUNDLE_PROPERTY

RUN_AS = 10001
TMP_DIR = "/tmp"  # noqa: S108  # nosec B108 - the pod's own emptyDir, not a host directory
CACHE_DIR = "/var/cache/model"
# Where the model contract's Prometheus metrics are served: a port of their own, so the gateway
# (which reaches only the model port) never exposes them. The next port when the model uses it.
METRICS_PORT = 9464
METRICS_PATH = "/metrics"
GPU_RESOURCE = "nvidia.com/gpu"
# The NVIDIA GPU Operator's and the clouds' usual taint on GPU nodes.
GPU_TOLERATION = k8s.core.v1.TolerationArgs(
    key=GPU_RESOURCE, operator="Exists", effect="NoSchedule"
)
# A model may take two minutes to load: 24 startup probes 5 s apart before the pod is restarted;
# liveness and readiness start only after it.
STARTUP_PERIOD_SECONDS = 5
STARTUP_FAILURE_THRESHOLD = 24
# Finish in-flight work after SIGTERM (the contract's shutdown rule) before the kill.
TERMINATION_GRACE_SECONDS = 60
# A scratch volume is bounded: a runaway write fills it, not the node.
TMP_SIZE_LIMIT = "1Gi"
CACHE_SIZE_LIMIT = "10Gi"
# The client's CA bundle, when there is one: a read-only Secret volume, one file.
CA_VOLUME = "ca-bundle"
CA_DIR = "/etc/aideploy/ca"
CA_FILE = f"{CA_DIR}/{CA_BUNDLE_PROPERTY}"
CA_FILE_MODE = 0o444  # r--r--r--: a public certificate, written by no one
# What the usual TLS clients read a CA bundle from: OpenSSL (Python's ssl, curl), requests,
# and the AWS SDKs (boto3 / botocore and the CLI; the S3 client of the object store).
CA_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE")


@dataclass(frozen=True)
class Container:
    """What the pod runs: the image, its port and health path, its size, its environment."""

    image: str
    port: int
    health_path: str
    cpu: float
    memory_mb: int
    gpus: int = 0
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Environment variables read from a Secret: name -> (secret name, key).
    secret_env: Mapping[str, tuple[pulumi.Input[str], str]] = field(default_factory=dict)
    # The Secret holding the client's CA bundle (key ca.crt), mounted read-only; None: the
    # image's trust store only (and nothing is mounted).
    ca_secret: str | None = None


def require_digest(image: str) -> str:
    """``image`` when it is pinned by digest; ValueError otherwise (a tag can move under us)."""
    if "@sha256:" not in image:
        raise ValueError(
            f"image {image!r}: on kubernetes the image is pinned by digest "
            "(registry/path@sha256:<64 hex>), so every node runs the same bytes"
        )
    return image


def metrics_port(model_port: int) -> int:
    """The metrics port: METRICS_PORT, or the next one when the model listens there."""
    return METRICS_PORT if model_port != METRICS_PORT else METRICS_PORT + 1


def cpu_quantity(cpu: float) -> str:
    """vCPU as Kubernetes millicores."""
    return f"{round(cpu * 1000)}m"


def resources(c: Container) -> k8s.core.v1.ResourceRequirementsArgs:
    """Requests from the profile; memory limited at its request (Guaranteed memory), CPU allowed
    to burst to CPU_LIMIT_FACTOR times its request (a model loads faster; the quota bounds the
    sum); GPUs as a limit, which Kubernetes copies to the request for extended resources."""
    requests = {"cpu": cpu_quantity(c.cpu), "memory": f"{c.memory_mb}Mi"}
    limits = {"cpu": cpu_quantity(c.cpu * CPU_LIMIT_FACTOR), "memory": f"{c.memory_mb}Mi"}
    if c.gpus:
        limits[GPU_RESOURCE] = str(c.gpus)
    return k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits)


def container_security() -> k8s.core.v1.SecurityContextArgs:
    """The container's security context (Pod Security Standards ``restricted`` and more)."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        privileged=False,
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def pod_security() -> k8s.core.v1.PodSecurityContextArgs:
    """The pod's security context: non-root 10001, files owned by group 10001, RuntimeDefault."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        fs_group=RUN_AS,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def _probe(c: Container, period_seconds: int, failure_threshold: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=c.health_path, port="http"),
        timeout_seconds=2,  # the contract: the health path answers within 2 s
        period_seconds=period_seconds,
        failure_threshold=failure_threshold,
    )


def container(name: str, c: Container) -> k8s.core.v1.ContainerArgs:
    """The hardened container ``name`` running ``c`` (ValueError for an image without digest)."""
    env = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in c.env.items()]
    env += [
        k8s.core.v1.EnvVarArgs(
            name=k,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key)
            ),
        )
        for k, (secret, key) in c.secret_env.items()
    ]
    # The contract: write only under /tmp (TMPDIR and HOME point there).
    env += [
        k8s.core.v1.EnvVarArgs(name="TMPDIR", value=TMP_DIR),
        k8s.core.v1.EnvVarArgs(name="HOME", value=TMP_DIR),
        k8s.core.v1.EnvVarArgs(name="MODEL_CACHE_DIR", value=CACHE_DIR),
        k8s.core.v1.EnvVarArgs(name="METRICS_PORT", value=str(metrics_port(c.port))),
    ]
    mounts = [
        k8s.core.v1.VolumeMountArgs(name="tmp", mount_path=TMP_DIR),
        k8s.core.v1.VolumeMountArgs(name="model-cache", mount_path=CACHE_DIR),
    ]
    if c.ca_secret is not None:
        env += [k8s.core.v1.EnvVarArgs(name=k, value=CA_FILE) for k in CA_ENV]
        mounts.append(
            k8s.core.v1.VolumeMountArgs(name=CA_VOLUME, mount_path=CA_DIR, read_only=True)
        )
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=require_digest(c.image),
        image_pull_policy="IfNotPresent",
        ports=[
            k8s.core.v1.ContainerPortArgs(name="http", container_port=c.port, protocol="TCP"),
            k8s.core.v1.ContainerPortArgs(
                name="metrics", container_port=metrics_port(c.port), protocol="TCP"
            ),
        ],
        env=env,
        resources=resources(c),
        security_context=container_security(),
        startup_probe=_probe(c, STARTUP_PERIOD_SECONDS, STARTUP_FAILURE_THRESHOLD),
        readiness_probe=_probe(c, 10, 3),
        liveness_probe=_probe(c, 30, 3),
        volume_mounts=mounts,
    )


def volumes(c: Container | None = None) -> list[k8s.core.v1.VolumeArgs]:
    """The pod's only writable places: size-bounded emptyDirs (the root file system is not);
    and, when ``c`` has a ``ca_secret``, that Secret's ``ca.crt`` alone, read-only (every
    caller whose container has a ``ca_secret`` passes it, or the mount has no volume)."""
    scratch = [
        k8s.core.v1.VolumeArgs(
            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=TMP_SIZE_LIMIT)
        ),
        k8s.core.v1.VolumeArgs(
            name="model-cache",
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=CACHE_SIZE_LIMIT),
        ),
    ]
    if c is None or c.ca_secret is None:
        return scratch
    ca = k8s.core.v1.VolumeArgs(
        name=CA_VOLUME,
        secret=k8s.core.v1.SecretVolumeSourceArgs(
            secret_name=c.ca_secret,
            items=[k8s.core.v1.KeyToPathArgs(key=CA_BUNDLE_PROPERTY, path=CA_BUNDLE_PROPERTY)],
            default_mode=CA_FILE_MODE,
        ),
    )
    return [*scratch, ca]


def spread(selector_labels: Mapping[str, str]) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Replicas over nodes: a node drain or loss takes as few of them as the cluster allows.
    ScheduleAnyway: a small on-prem cluster must still run the pods when it cannot spread."""
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key="kubernetes.io/hostname",
            when_unsatisfiable="ScheduleAnyway",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector_labels)),
        )
    ]


def pod_spec(
    c: Container,
    *,
    container_name: str,
    service_account: pulumi.Input[str],
    selector_labels: Mapping[str, str],
) -> k8s.core.v1.PodSpecArgs:
    """The hardened pod running ``c`` as ``service_account`` (token not mounted)."""
    return k8s.core.v1.PodSpecArgs(
        service_account_name=service_account,
        automount_service_account_token=False,
        enable_service_links=False,
        security_context=pod_security(),
        containers=[container(container_name, c)],
        volumes=volumes(c),
        topology_spread_constraints=spread(selector_labels),
        tolerations=[GPU_TOLERATION] if c.gpus else None,
        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
    )  # fmt: skip


def pod_template(
    c: Container,
    *,
    container_name: str,
    service_account: pulumi.Input[str],
    selector_labels: Mapping[str, str],
    labels: Mapping[str, str],
) -> k8s.core.v1.PodTemplateSpecArgs:
    """A Deployment's pod template: ``labels`` (which include ``selector_labels``) and the pod."""
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, **selector_labels}),
        spec=pod_spec(
            c,
            container_name=container_name,
            service_account=service_account,
            selector_labels=selector_labels,
        ),
    )


def service_account(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
) -> k8s.core.v1.ServiceAccount:
    """The workload's own identity, bound to no role, whose token is never auto-mounted."""
    return k8s.core.v1.ServiceAccount(
        logical,
        metadata=metadata(name, namespace, labels),
        automount_service_account_token=False,
        opts=opts,
    )


def create_deployment(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector_labels: Mapping[str, str],
    template: k8s.core.v1.PodTemplateSpecArgs,
) -> k8s.apps.v1.Deployment:
    """The Deployment ``name`` of ``template``. No ``replicas``: the autoscaler (HPA or KEDA)
    owns that field, and a value here would reset it on every ``pulumi up``."""
    return k8s.apps.v1.Deployment(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector_labels)),
            # Never below the serving floor during a rollout: surge first, then retire.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                    max_surge="25%", max_unavailable=0
                ),
            ),
            revision_history_limit=5,
            template=template,
        ),
        opts=opts,
    )


def create_service(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector_labels: Mapping[str, str],
    ports: Mapping[str, int],
) -> k8s.core.v1.Service:
    """A ClusterIP Service for the pods ``selector_labels`` selects, one port per name (the
    HTTPRoute's backend and the ServiceMonitor's target): never a NodePort or LoadBalancer."""
    return k8s.core.v1.Service(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=dict(selector_labels),
            ports=[
                k8s.core.v1.ServicePortArgs(name=port_name, port=port, target_port=port_name)
                for port_name, port in ports.items()
            ],
        ),
        opts=opts,
    )

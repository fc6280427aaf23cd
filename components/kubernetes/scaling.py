"""Kubernetes building block: how many pods run, and how many a node drain may take.

* :func:`create_hpa`: CPU-driven HorizontalPodAutoscaler (autoscaling/v2) between the profile's
  bounds, for serving pods (and for workers when the cluster has no KEDA);
* :func:`create_pdb`: a PodDisruptionBudget that never blocks a drain (:func:`budget`);
* :func:`create_queue_scaler`: KEDA's ScaledObject on the RabbitMQ queue length, with the
  TriggerAuthentication that reads the broker URL from the queue's Secret (ExternalSecret), so
  workers follow the backlog and, where the profile allows, stop at zero; with the client's
  internal CA, TLS verified against it (:data:`KEDA_TLS_LITERALS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.meta import metadata
from components.kubernetes.secrets import CA_BUNDLE_PROPERTY

KEDA_API_VERSION = "keda.sh/v1alpha1"
# One job per worker: KEDA aims at this many ready messages per replica.
MESSAGES_PER_WORKER = 1
KEDA_POLLING_SECONDS = 15
# How long an idle queue waits before the last worker stops (scale to zero only).
KEDA_COOLDOWN_SECONDS = 300
# KEDA's rabbitmq scaler (kedacore/keda pkg/scalers/rabbitmq_scaler.go, rabbitMQMetadata) reads
# `tls` (enable | disable, default disable), `ca`, `cert` and `key` from the authentication
# parameters only (order=authParams: a TriggerAuthentication, never the trigger's metadata).
# With `tls: enable` it builds its TLS configuration from `ca` (the PEM itself, not a path),
# added to the system roots; without it an amqps:// URL is dialled against the system roots
# alone, so a broker certificate signed by an internal CA is refused. A TriggerAuthentication
# takes no literal value, so `tls` is a key of the CA bundle's Secret, written there by its
# ExternalSecret (these literals) next to ca.crt.
KEDA_TLS_PARAMETER = "tls"
KEDA_CA_PARAMETER = "ca"
KEDA_TLS_LITERALS = {KEDA_TLS_PARAMETER: "enable"}


@dataclass(frozen=True)
class Budget:
    """A PodDisruptionBudget's one limit: ``min_available`` or ``max_unavailable``."""

    min_available: int | None = None
    max_unavailable: int | None = None


def budget(floor: int) -> Budget:
    """The disruption budget for a workload that keeps at least ``floor`` replicas.

    ``minAvailable`` strictly below the floor, so a drain can always evict one pod while the
    rest serve. Below two replicas that would be ``minAvailable: 0`` (meaningless) or equal to
    the floor (which blocks every drain forever: the node upgrade the client's operators run
    would hang on our pod), so one pod may always be unavailable instead.
    """
    if floor >= 2:
        return Budget(min_available=floor - 1)
    return Budget(max_unavailable=1)


def create_pdb(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector_labels: Mapping[str, str],
    floor: int,
) -> k8s.policy.v1.PodDisruptionBudget:
    """The budget of :func:`budget` for the pods ``selector_labels`` selects."""
    b = budget(floor)
    return k8s.policy.v1.PodDisruptionBudget(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector_labels)),
            min_available=b.min_available,
            max_unavailable=b.max_unavailable,
            # A pod that never became ready may always be evicted: a crash-looping candidate
            # must not hold a drain hostage.
            unhealthy_pod_eviction_policy="AlwaysAllow",
        ),
        opts=opts,
    )


def create_hpa(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    deployment: str,
    min_replicas: int,
    max_replicas: int,
    target_cpu_percent: int,
) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
    """Scale the Deployment ``deployment`` on CPU (percent of its request). An HPA cannot go
    below one replica, so ``min_replicas`` is raised to one when it is zero."""
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
            scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                api_version="apps/v1", kind="Deployment", name=deployment
            ),
            min_replicas=max(1, min_replicas),
            max_replicas=max(1, max_replicas, min_replicas),
            metrics=[
                k8s.autoscaling.v2.MetricSpecArgs(
                    type="Resource",
                    resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                        name="cpu",
                        target=k8s.autoscaling.v2.MetricTargetArgs(
                            type="Utilization", average_utilization=target_cpu_percent
                        ),
                    ),
                )
            ],
        ),
        opts=opts,
    )


@dataclass(frozen=True)
class QueueScaler:
    """KEDA's ScaledObject and the TriggerAuthentication it reads the broker URL with."""

    scaled_object: k8s.apiextensions.CustomResource
    authentication: k8s.apiextensions.CustomResource


def create_queue_scaler(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    deployment: str,
    queue: str,
    url_secret: str,
    url_key: str,
    min_replicas: int,
    max_replicas: int,
    ca_secret: str | None = None,
) -> QueueScaler:
    """Scale ``deployment`` on the ready messages of the RabbitMQ ``queue``: one worker per
    MESSAGES_PER_WORKER messages, from ``min_replicas`` (0 allowed: KEDA, unlike an HPA, stops
    the last worker) to ``max_replicas``. KEDA creates and owns the HPA; none is made here.
    The broker URL (with its credentials) stays in the Secret ``url_secret``; KEDA's trigger
    reads it as its ``host`` parameter and the protocol follows the URL (amqp/amqps).

    ``ca_secret``: the Secret of the client's CA bundle (secrets.ca_bundle, written with
    :data:`KEDA_TLS_LITERALS`): KEDA then reads ``tls`` and ``ca`` from it and verifies the
    broker against that CA. None: the system roots only, as before."""
    refs = [{"parameter": "host", "name": url_secret, "key": url_key}]
    if ca_secret is not None:
        refs += [
            {"parameter": KEDA_TLS_PARAMETER, "name": ca_secret, "key": KEDA_TLS_PARAMETER},
            {"parameter": KEDA_CA_PARAMETER, "name": ca_secret, "key": CA_BUNDLE_PROPERTY},
        ]
    authentication = k8s.apiextensions.CustomResource(
        f"{logical}-auth",
        api_version=KEDA_API_VERSION,
        kind="TriggerAuthentication",
        metadata=metadata(f"{name}-auth", namespace, labels),
        spec={"secretTargetRef": refs},
        opts=opts,
    )
    scaled_object = k8s.apiextensions.CustomResource(
        logical,
        api_version=KEDA_API_VERSION,
        kind="ScaledObject",
        metadata=metadata(name, namespace, labels),
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicaCount": min_replicas,
            "maxReplicaCount": max(1, max_replicas),
            "pollingInterval": KEDA_POLLING_SECONDS,
            "cooldownPeriod": KEDA_COOLDOWN_SECONDS,
            "triggers": [
                {
                    "type": "rabbitmq",
                    "metadata": {
                        "queueName": queue,
                        "mode": "QueueLength",
                        "value": str(MESSAGES_PER_WORKER),
                    },
                    "authenticationRef": {"name": f"{name}-auth"},
                }
            ],
        },
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[authentication])
        ),
    )
    return QueueScaler(scaled_object, authentication)

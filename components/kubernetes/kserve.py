"""Kubernetes building block (optional): a KServe InferenceService in place of a Deployment.

With ``cluster.kserve`` the model runs as an InferenceService predictor in KServe's raw
deployment mode (plain Deployment + HPA made by KServe, no Knative), with the same hardened pod
as workload.py: the predictor inlines a PodSpec, so the pod security context, the hardened
container, the emptyDir volumes, the spread and the GPU toleration are the very objects a
Deployment gets. KServe scales it on CPU between the profile's bounds (its own HPA).

Our Service (workload.create_service) still fronts the pods, selected by our labels which the
predictor puts on them, so the HTTPRoute's weighted split, the ServiceMonitor, the
NetworkPolicies and the PodDisruptionBudget are the same with or without KServe. KServe's own
canary (``canaryTrafficPercent``) exists only in its serverless mode: the split stays ours.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.meta import metadata
from components.kubernetes.workload import (
    GPU_TOLERATION,
    TERMINATION_GRACE_SECONDS,
    Container,
    container,
    pod_security,
    spread,
    volumes,
)

API_VERSION = "serving.kserve.io/v1beta1"
# Raw deployment: a Deployment and an HPA, no Knative (KServe >= 0.15 also calls it Standard).
DEPLOYMENT_MODE = {"serving.kserve.io/deploymentMode": "RawDeployment"}
# KServe requires this name for the predictor's container.
CONTAINER_NAME = "kserve-container"

# KServe's visibility label: no route of its own outside the cluster.
CLUSTER_LOCAL = {"networking.kserve.io/visibility": "cluster-local"}


def create_inference_service(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector_labels: Mapping[str, str],
    c: Container,
    service_account: pulumi.Input[str],
    min_replicas: int,
    max_replicas: int,
    target_cpu_percent: int,
) -> k8s.apiextensions.CustomResource:
    """An InferenceService ``name`` running ``c`` in the hardened pod, ``min_replicas`` to
    ``max_replicas`` on CPU, its pods labelled with ``labels`` and ``selector_labels``."""
    predictor: dict[str, object] = {
        "minReplicas": max(1, min_replicas),
        "maxReplicas": max(1, max_replicas, min_replicas),
        "scaleMetric": "cpu",
        "scaleTarget": target_cpu_percent,
        "labels": {**labels, **selector_labels},
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(),
        "containers": [container(CONTAINER_NAME, c)],
        "volumes": volumes(c),
        "topologySpreadConstraints": spread(selector_labels),
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
    }
    if c.gpus:
        predictor["tolerations"] = [GPU_TOLERATION]
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=API_VERSION,
        kind="InferenceService",
        # cluster-local: KServe then makes no Ingress or HTTPRoute of its own for the model,
        # which would reach it around the gateway's authentication and rate limits.
        metadata=metadata(name, namespace, {**labels, **CLUSTER_LOCAL}, DEPLOYMENT_MODE),
        spec={"predictor": predictor},
        opts=opts,
    )

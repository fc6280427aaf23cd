"""GCP building block: the hardened Cloud Run (v2) service every aideploy container runs as.

:func:`create_service` makes a service with what no aideploy service goes without: in the
stack's region, never public (internal ingress, or the internal load balancer's), its own
identity (the bootstrap's service account for its role, never the default compute account),
revisions encrypted with the stack's key and created only once Cloud Run's agent may use it,
deletion protection from the profile, the stack's labels on the service and its revisions. The
invoker check stays on unless the caller turns it off, which the block allows only behind the
internal load balancer (where ESPv2 authenticates every request, and Cloud Run would otherwise
need ``allUsers`` as invoker). The caller gives the containers, their scaling and concurrency.

Also :func:`cpu_limit` (the CPU notation Cloud Run takes) and :func:`startup_probe` (the
model's readiness on start, long enough for a model to load).

Used by api-first (the stable and candidate services) and event-driven (the worker). A plain
function: the caller's ``opts`` keep the pattern as parent, so URNs of existing stacks hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp.security import Identity, StackKey
from components.spec import DeploymentSpec

INTERNAL_ONLY = "INGRESS_TRAFFIC_INTERNAL_ONLY"
INTERNAL_LOAD_BALANCER = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
ALLOWED_INGRESS: frozenset[str] = frozenset({INTERNAL_ONLY, INTERNAL_LOAD_BALANCER})
# A model may take two minutes to load: 24 probes 5 s apart before the instance is given up.
STARTUP_PERIOD_SECONDS = 5
STARTUP_FAILURE_THRESHOLD = 24


def cpu_limit(cpu: float) -> str:
    """Cloud Run takes whole CPUs as "1", "2" and fractions as millicores."""
    return str(int(cpu)) if float(cpu).is_integer() else f"{int(cpu * 1000)}m"


def startup_probe(path: str, port: int) -> gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs:
    """GET ``path`` on ``port`` until it answers: traffic reaches an instance only then."""
    return gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
        http_get=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
            path=path, port=port
        ),
        period_seconds=STARTUP_PERIOD_SECONDS,
        failure_threshold=STARTUP_FAILURE_THRESHOLD,
    )


@dataclass(frozen=True)
class Access:
    """Who reaches the service. The defaults are the strictest: internal traffic, invoker
    check on, the ``run.app`` URL kept (Pub/Sub push and the pusher's token use it)."""

    ingress: str = INTERNAL_ONLY
    invoker_check: bool = True
    default_uri: bool = True


def create_service(
    logical: str,
    spec: DeploymentSpec,
    key: StackKey,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    account: Identity,
    access: Access,
    service_labels: Mapping[str, str],
    revision_labels: Mapping[str, str],
    concurrency: int,
    scaling: gcp.cloudrunv2.ServiceTemplateScalingArgs,
    containers: Sequence[gcp.cloudrunv2.ServiceTemplateContainerArgs],
    timeout: str | None = None,
    after: Sequence[pulumi.Resource] = (),
) -> gcp.cloudrunv2.Service:
    """The service ``name`` (logical name ``logical``), created after the key's grants and
    ``after``. Raises ValueError for a public ingress, or an invoker check turned off anywhere
    but behind the internal load balancer."""
    if access.ingress not in ALLOWED_INGRESS:
        raise ValueError(f"{logical}: ingress {access.ingress} is not internal")
    if not access.invoker_check and access.ingress != INTERNAL_LOAD_BALANCER:
        raise ValueError(f"{logical}: the invoker check may be off only behind the load balancer")
    return gcp.cloudrunv2.Service(
        logical,
        gcp.cloudrunv2.ServiceArgs(
            name=name,
            location=spec.region,
            ingress=access.ingress,
            # Unset (None) when on: the provider's default, as services had before this block.
            invoker_iam_disabled=None if access.invoker_check else True,
            default_uri_disabled=None if access.default_uri else True,
            deletion_protection=spec.retention.deletion_protection,
            labels=dict(service_labels),
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=account.email,
                encryption_key=key.id,
                timeout=timeout,
                max_instance_request_concurrency=concurrency,
                scaling=scaling,
                labels=dict(revision_labels),
                containers=list(containers),
            ),
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[*key.grants, *after])
        ),
    )

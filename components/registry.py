"""The explicit table (cloud, pattern) -> component class.

Cloud packages are imported only when a component is asked for, so a generated client project
that vendors a single cloud's package works, and importing the registry costs nothing.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.spec import Cloud, Environment, Pattern


@dataclass(frozen=True)
class Entry:
    """Where a component lives and which managed services it builds on.

    ``planned`` marks a pattern that is designed but not built yet: it is listed as planned and
    never offered by `aideploy new`.
    """

    module: str
    cls: str
    services: tuple[str, ...]
    planned: bool = False


REGISTRY: dict[tuple[Cloud, Pattern], Entry] = {
    (Cloud.AWS, Pattern.API_FIRST): Entry(
        "components.aws.api_first",
        "AwsApiFirst",
        ("API Gateway (REST)", "WAFv2", "ECS Fargate", "ALB", "KMS", "CloudWatch", "SNS"),
    ),
    (Cloud.AZURE, Pattern.API_FIRST): Entry(
        "components.azure.api_first",
        "AzureApiFirst",
        (
            "API Management",
            "Front Door + WAF",
            "Container Apps",
            "Key Vault",
            "Log Analytics",
            "Azure Monitor",
        ),
    ),
    (Cloud.GCP, Pattern.API_FIRST): Entry(
        "components.gcp.api_first",
        "GcpApiFirst",
        (
            "External HTTPS Load Balancer",
            "Cloud Armor",
            "Cloud Run",
            "Cloud KMS",
            "Cloud Logging",
            "Cloud Monitoring",
        ),
    ),
    (Cloud.AWS, Pattern.EVENT_DRIVEN): Entry(
        "components.aws.event_driven",
        "AwsEventDriven",
        (
            "S3",
            "EventBridge",
            "EventBridge Scheduler",
            "SQS + DLQ",
            "ECS Fargate",
            "DynamoDB",
            "SNS",
            "KMS",
            "CloudWatch",
        ),
    ),
    (Cloud.AZURE, Pattern.EVENT_DRIVEN): Entry(
        "components.azure.event_driven",
        "AzureEventDriven",
        (
            "Blob Storage",
            "Event Grid",
            "Service Bus Premium",
            "Container Apps jobs (KEDA)",
            "Cosmos DB",
            "Key Vault",
            "Azure Monitor",
        ),
    ),
    (Cloud.GCP, Pattern.EVENT_DRIVEN): Entry(
        "components.gcp.event_driven",
        "GcpEventDriven",
        (
            "Cloud Storage",
            "Cloud Storage notifications",
            "Pub/Sub + dead-letter topic",
            "Cloud Scheduler",
            "Cloud Run",
            "Firestore",
            "Cloud KMS",
            "Cloud Monitoring",
        ),
    ),
    (Cloud.AWS, Pattern.MANAGED_PLATFORM): Entry(
        "components.aws.managed_platform",
        "AwsManagedPlatform",
        ("SageMaker endpoint", "Application Auto Scaling", "KMS", "CloudWatch", "SNS"),
    ),
    (Cloud.AZURE, Pattern.MANAGED_PLATFORM): Entry(
        "components.azure.managed_platform",
        "AzureManagedPlatform",
        (
            "Azure Machine Learning",
            "Key Vault",
            "Application Insights",
            "Azure Monitor",
            "Container Apps (rollback service)",
        ),
    ),
    (Cloud.GCP, Pattern.MANAGED_PLATFORM): Entry(
        "components.gcp.managed_platform",
        "GcpManagedPlatform",
        (
            "Vertex AI endpoint (dynamic provider)",
            "Cloud KMS",
            "BigQuery (request logs)",
            "Cloud Monitoring",
            "Cloud Functions (rollback)",
        ),
    ),
    (Cloud.AWS, Pattern.EMBEDDED): Entry(
        "components.aws.embedded",
        "AwsEmbedded",
        (
            "S3 Object Lock (release channel)",
            "KMS (ECC P-256 signing key)",
            "API Gateway + Lambda (presigned downloads, telemetry)",
            "CloudWatch",
        ),
    ),
    (Cloud.AZURE, Pattern.EMBEDDED): Entry(
        "components.azure.embedded",
        "AzureEmbedded",
        (
            "Blob Storage (version-level immutability)",
            "Key Vault Premium (EC-HSM P-256 signing key)",
            "API Management + Container Apps (user-delegation SAS downloads, telemetry)",
            "Azure Monitor",
        ),
    ),
    (Cloud.GCP, Pattern.EMBEDDED): Entry(
        "components.gcp.embedded",
        "GcpEmbedded",
        (
            "Cloud Storage object retention (release channel)",
            "Cloud KMS (EC P-256 HSM signing key)",
            "API Gateway + Cloud Functions (V4 signed URLs, telemetry)",
            "Cloud Monitoring (log-based metrics)",
        ),
    ),
}


# The kubernetes target (the client's own cluster): the patterns that run in a cluster
# (components.spec.CLUSTER_PATTERNS); each names the add-ons it needs from the cluster.
REGISTRY.update(
    {
        (Cloud.KUBERNETES, Pattern.API_FIRST): Entry(
            "components.kubernetes.api_first",
            "KubernetesApiFirst",
            (
                "Gateway API (Envoy Gateway)",
                "cert-manager",
                "External Secrets",
                "Deployment + HPA + PDB",
                "NetworkPolicy",
                "Prometheus Operator",
            ),
        ),
        (Cloud.KUBERNETES, Pattern.EVENT_DRIVEN): Entry(
            "components.kubernetes.event_driven",
            "KubernetesEventDriven",
            (
                "RabbitMQ (the client's)",
                "S3-compatible object store (the client's)",
                "KEDA",
                "External Secrets",
                "Deployment + PDB",
                "NetworkPolicy",
                "Prometheus Operator",
            ),
        ),
    }
)


# Each cloud's bootstrap program (components/<cloud>/bootstrap.py): what must exist in an
# account before the first `pulumi up` of a stack (components/bootstrap.py).
BOOTSTRAP: dict[Cloud, Entry] = {
    Cloud.AWS: Entry(
        "components.aws.bootstrap",
        "AwsBootstrap",
        ("S3 (state)", "KMS (secrets)", "IAM OIDC provider + roles", "ECR", "API Gateway account"),
    ),
    Cloud.AZURE: Entry(
        "components.azure.bootstrap",
        "AzureBootstrap",
        (
            "Blob Storage (state)",
            "Key Vault (secrets)",
            "Managed identities + federated credentials",
            "Container Registry",
            "Resource providers",
        ),
    ),
    Cloud.GCP: Entry(
        "components.gcp.bootstrap",
        "GcpBootstrap",
        (
            "Cloud Storage (state)",
            "Cloud KMS (secrets)",
            "Workload Identity Federation + service accounts",
            "Artifact Registry",
            "Service usage (APIs) + service identities",
        ),
    ),
    Cloud.KUBERNETES: Entry(
        "components.kubernetes.bootstrap",
        "KubernetesBootstrap",
        (
            "Namespaces (restricted, quota, default deny)",
            "CI users' RoleBindings",
            "ValidatingAdmissionPolicy (guards)",
        ),
    ),
}


def offered_patterns() -> tuple[Pattern, ...]:
    """Patterns built on at least one cloud: what `aideploy new` offers."""
    return tuple(
        p
        for p in Pattern
        if any((c, p) in REGISTRY and not REGISTRY[(c, p)].planned for c in Cloud)
    )


def project_clouds() -> tuple[Cloud, ...]:
    """The clouds `aideploy new` scaffolds a whole client project for: those with a bootstrap
    program (a project cannot reach its first deploy without one)."""
    return tuple(c for c in Cloud if c in BOOTSTRAP)


def scaffolded(cloud: Cloud, pattern: Pattern) -> bool:
    """True when `aideploy new` generates a project for ``cloud`` and ``pattern``."""
    return cloud in project_clouds() and is_available(cloud, pattern)


def bootstrap_waivers(cloud: Cloud, name: str) -> dict[str, list[dict[str, str]]]:
    """Waivers the cloud's bootstrap component declares for itself (``policy_waivers(name)`` in
    its module, like the pattern components'): written into the project's
    policies/config/bootstrap.json, never into the stacks' configs."""
    module = importlib.import_module(BOOTSTRAP[cloud].module)
    declared = getattr(module, "policy_waivers", None)
    if declared is None:
        return {}
    return {rule: list(entry.get("waivers", [])) for rule, entry in declared(name).items()}


def bootstrap_inputs(
    cloud: Cloud, spec: Any, stack_sections: Callable[[Environment], Mapping[str, Any]]
) -> dict[str, Any]:
    """Extra keyword arguments the cloud's bootstrap component takes beyond its spec, from the
    module's ``bootstrap_inputs(spec, stack_sections)`` when it defines one (kubernetes sizes
    each environment's namespace from that stack's file); ``stack_sections(env)`` reads one
    stack file's sections, and is called only by clouds that need them."""
    module = importlib.import_module(BOOTSTRAP[cloud].module)
    hook = getattr(module, "bootstrap_inputs", None)
    if hook is None:
        return {}
    return dict(hook(spec, stack_sections))


def bootstrap_component_for(cloud: Cloud) -> Any:
    """The bootstrap component class of ``cloud``, imported on first use."""
    entry = BOOTSTRAP[cloud]
    return getattr(importlib.import_module(entry.module), entry.cls)


class ComponentUnavailableError(LookupError):
    """The (cloud, pattern) component is not part of this installation or project."""


def is_available(cloud: Cloud, pattern: Pattern) -> bool:
    """True when the component's module exists here (importable without error)."""
    try:
        component_for(cloud, pattern)
    except ComponentUnavailableError:
        return False
    return True


def policy_waivers(
    cloud: Cloud, pattern: Pattern, name: str, spec: Any = None
) -> dict[str, list[dict[str, str]]]:
    """Waivers a component declares for itself, by rule: ``[{"resource", "reason"}]``.

    A component module may define ``policy_waivers(name)`` returning pack-config entries
    (``{rule: {"waivers": [...]}}``) for controls its cloud cannot provide (each with a written
    reason). The generator writes them into the project's pack config, so both runners and
    every report show them.
    """
    component_for(cloud, pattern)  # imports the module, or raises ComponentUnavailableError
    module = importlib.import_module(REGISTRY[(cloud, pattern)].module)
    declared = getattr(module, "policy_waivers", None)
    if declared is None:
        return {}
    # A module whose waivers depend on the stack (a domain, a private CA) takes its spec.
    takes_spec = len(inspect.signature(declared).parameters) > 1
    entries = declared(name, spec) if takes_spec and spec is not None else declared(name)
    return {rule: list(entry.get("waivers", [])) for rule, entry in entries.items()}


def component_for(cloud: Cloud, pattern: Pattern) -> Any:
    """The component class for ``cloud`` and ``pattern``, imported on first use."""
    entry = REGISTRY.get((cloud, pattern))
    if entry is None:
        raise ComponentUnavailableError(
            f"the {pattern.value} pattern does not run on {cloud.value}"
        )
    if entry.planned:
        raise ComponentUnavailableError(
            f"the {pattern.value} pattern on {cloud.value} is planned, not built yet"
        )
    try:
        module = importlib.import_module(entry.module)
    except ModuleNotFoundError as exc:
        # Only "this component is not here" is unavailability; a missing SDK inside it is a bug.
        if exc.name and entry.module.startswith(exc.name):
            raise ComponentUnavailableError(
                f"the {pattern.value} pattern on {cloud.value} is not available here"
            ) from exc
        raise
    return getattr(module, entry.cls)

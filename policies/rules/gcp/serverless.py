"""Cloud Run and Cloud Functions (rule 31): private ingress, a dedicated identity."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import OPERATIONAL, canonical_type, prop_at, resource_rule
from policies.rules.references import checkov, guardrail
from policies.rules.settings import Setting, settings_check, show

RUN_V2_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_V2_JOB = "gcp:cloudrunv2/job:Job"
RUN_V1_SERVICE = "gcp:cloudrun/service:Service"
FUNCTION_V2 = "gcp:cloudfunctionsv2/function:Function"
FUNCTION_V1 = "gcp:cloudfunctions/function:Function"

# Reachable only from the VPC or through an external HTTPS load balancer (where Cloud Armor and
# IAP sit); "all" exposes the default *.run.app / cloudfunctions.net URL to the internet.
_INGRESS = {
    RUN_V2_SERVICE: (
        Setting(
            "ingress",
            ("INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"),
        ),
    ),
    FUNCTION_V2: (
        Setting(
            "serviceConfig.ingressSettings", ("ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB")
        ),
    ),
    FUNCTION_V1: (Setting("ingressSettings", ("ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB")),),
}
_RUN_V1_INGRESS_ANNOTATION = "run.googleapis.com/ingress"
_RUN_V1_ALLOWED = ("internal", "internal-and-cloud-load-balancing")
_ingress_table_check = settings_check(_INGRESS, "service must not be reachable from the internet")


def _ingress(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if canonical_type(args.resource_type) != RUN_V1_SERVICE:
        yield from _ingress_table_check(props, args)
        return
    # v1 takes ingress as an annotation whose key holds dots, so it is read directly.
    annotations = prop_at(props, "metadata.annotations")
    value = (
        annotations.get(_RUN_V1_INGRESS_ANNOTATION) if isinstance(annotations, Mapping) else None
    )
    if value not in _RUN_V1_ALLOWED:
        yield (
            f"service must not be reachable from the internet: annotation "
            f'`{_RUN_V1_INGRESS_ANNOTATION}` is {show(value)}; set "internal" or '
            f'"internal-and-cloud-load-balancing".'
        )


serverless_restrict_ingress = resource_rule(
    "gcp-serverless-restrict-ingress",
    "Cloud Run services and Cloud Functions accept traffic only from the VPC or the load balancer.",
    types=(*_INGRESS, RUN_V1_SERVICE),
    check=_ingress,
    severity=Severity.MEDIUM,
    tags=["network", "network-exposure"],
    references=[checkov("CKV_GCP_124"), guardrail("31")],
    remediation=(
        'Cloud Run: `ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"` behind an external HTTPS '
        'load balancer; Cloud Functions: `ingress_settings="ALLOW_INTERNAL_AND_GCLB"`.'
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
)

# Where each service takes its runtime identity.
IDENTITY_PATHS: dict[str, str] = {
    RUN_V2_SERVICE: "template.serviceAccount",
    RUN_V2_JOB: "template.template.serviceAccount",
    RUN_V1_SERVICE: "template.spec.serviceAccountName",
    FUNCTION_V2: "serviceConfig.serviceAccountEmail",
    FUNCTION_V1: "serviceAccountEmail",
}
# The default Compute Engine and App Engine accounts are shared by every workload (and Compute's
# holds roles/editor by default); compared on the email's whole domain.
DEFAULT_ACCOUNT_DOMAINS: frozenset[str] = frozenset(
    {"developer.gserviceaccount.com", "appspot.gserviceaccount.com"}
)


def _identity(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    path = IDENTITY_PATHS[canonical_type(args.resource_type)]
    email = prop_at(props, path)
    if not isinstance(email, str) or not email:
        yield f"runs as the project's default service account: `{path}` is unset."
    elif email.rsplit("@", 1)[-1].lower() in DEFAULT_ACCOUNT_DOMAINS:
        yield f"runs as the shared default service account {email}."


serverless_require_dedicated_identity = resource_rule(
    "gcp-serverless-require-dedicated-identity",
    "Cloud Run services and Cloud Functions run as a dedicated service account, not a default one.",
    types=IDENTITY_PATHS,
    check=_identity,
    severity=Severity.MEDIUM,
    tags=["iam", "least-privilege"],
    # CIS and Checkov ask this of VM instances only (CIS 4.1, CKV_GCP_30).
    references=[guardrail("31")],
    remediation=(
        "Create a `gcp.serviceaccount.Account` per workload, grant it only what it needs, and "
        "set it as the service's service account."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
)

# Turning the invoker check off (review B9) is safe only where nothing but the load balancer can
# reach the service: its ingress admits only the load balancer and its *.run.app URL is off.
# Otherwise anyone who finds the URL (or sits in the VPC) calls the service without identity.
_LB_ONLY = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"


def _invoker_iam_disabled(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if props.get("invokerIamDisabled") is not True:
        return
    ingress = props.get("ingress")
    if ingress != _LB_ONLY:
        yield (
            "allows unauthenticated calls from outside the load balancer: "
            f"`invokerIamDisabled` is true and `ingress` is {show(ingress)}; set "
            f'"{_LB_ONLY}" (or keep the invoker check on).'
        )
    if props.get("defaultUriDisabled") is not True:
        yield (
            "allows unauthenticated calls on its default run.app URL: `invokerIamDisabled` is "
            "true and `defaultUriDisabled` is "
            f"{show(props.get('defaultUriDisabled'))}; set it to true."
        )


cloud_run_invoker_iam_disabled_requires_lb_only = resource_rule(
    "gcp-cloud-run-invoker-iam-disabled-requires-lb-only",
    "A Cloud Run service that turns the invoker IAM check off is reachable only through the "
    "load balancer: ingress INTERNAL_LOAD_BALANCER and its default URL disabled.",
    types=[RUN_V2_SERVICE],
    check=_invoker_iam_disabled,
    severity=Severity.HIGH,
    tags=["authentication", "network-exposure"],
    remediation=(
        'With `invoker_iam_disabled=True` also set `ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_'
        'BALANCER"` and `default_uri_disabled=True`, and authenticate at the load balancer '
        "(IAP, or a gateway such as ESPv2 in front of the model); otherwise keep the invoker "
        "check and grant roles/run.invoker to the callers."
    ),
    references=[checkov("CKV_GCP_102"), guardrail("31")],
    since=2,
)

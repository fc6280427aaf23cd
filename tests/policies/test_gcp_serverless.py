"""Cloud Run and Cloud Functions (31, review B9): ingress, identity, invoker check."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules.gcp import serverless
from tests.policies.harness import evaluate, run_program
from tests.policies.test_gcp_common import (
    DEFAULT_COMPUTE,
    RUNNER,
    TARGET,
    Program,
    judge,
    waiver,
)

LB_ONLY = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"


def run_v2(ingress: str = LB_ONLY, account: str | None = RUNNER, **over: Any) -> Program:
    return lambda: gcp.cloudrunv2.Service(
        TARGET,
        location="europe-west1",
        ingress=ingress,
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account=account,
            containers=[
                gcp.cloudrunv2.ServiceTemplateContainerArgs(image="europe-docker.pkg.dev/x")
            ],
        ),
        **over,
    )


def run_job(account: str | None = RUNNER) -> Program:
    return lambda: gcp.cloudrunv2.Job(
        TARGET,
        location="europe-west1",
        template=gcp.cloudrunv2.JobTemplateArgs(
            template=gcp.cloudrunv2.JobTemplateTemplateArgs(
                service_account=account,
                containers=[gcp.cloudrunv2.JobTemplateTemplateContainerArgs(image="x")],
            )
        ),
    )


def run_v1(ingress: str | None = "internal-and-cloud-load-balancing") -> Program:
    notes = {"run.googleapis.com/ingress": ingress} if ingress else None
    return lambda: gcp.cloudrun.Service(
        TARGET,
        location="europe-west1",
        metadata=gcp.cloudrun.ServiceMetadataArgs(annotations=notes),
        template=gcp.cloudrun.ServiceTemplateArgs(
            spec=gcp.cloudrun.ServiceTemplateSpecArgs(service_account_name=RUNNER)
        ),
    )


def function_v2(ingress: str = "ALLOW_INTERNAL_AND_GCLB", account: str | None = RUNNER) -> Program:
    return lambda: gcp.cloudfunctionsv2.Function(
        TARGET,
        location="europe-west1",
        service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
            ingress_settings=ingress, service_account_email=account
        ),
    )


def function_v1(account: str | None = RUNNER) -> Program:
    return lambda: gcp.cloudfunctions.Function(
        TARGET,
        runtime="python312",
        ingress_settings="ALLOW_INTERNAL_ONLY",
        service_account_email=account,
    )


def gateway_fronted(**over: Any) -> Program:
    """The api-first shape: invoker check off, load balancer only, run.app URL off."""
    args: dict[str, Any] = {"invoker_iam_disabled": True, "default_uri_disabled": True}
    ingress = over.pop("ingress", LB_ONLY)
    return run_v2(ingress=ingress, **{**args, **over})


INGRESS = serverless.serverless_restrict_ingress
IDENTITY = serverless.serverless_require_dedicated_identity
INVOKER = serverless.cloud_run_invoker_iam_disabled_requires_lb_only

CASES: dict[str, tuple[Any, Program, bool]] = {
    "gcp-serverless-restrict-ingress:ingress-run-ok": (INGRESS, run_v2(), False),
    "gcp-serverless-restrict-ingress:ingress-run-all": (
        INGRESS,
        run_v2(ingress="INGRESS_TRAFFIC_ALL"),
        True,
    ),
    "gcp-serverless-restrict-ingress:ingress-run-v1-ok": (INGRESS, run_v1(), False),
    "gcp-serverless-restrict-ingress:ingress-run-v1-unset": (INGRESS, run_v1(None), True),
    "gcp-serverless-restrict-ingress:ingress-function-ok": (INGRESS, function_v2(), False),
    "gcp-serverless-restrict-ingress:ingress-function-all": (
        INGRESS,
        function_v2(ingress="ALLOW_ALL"),
        True,
    ),
    "gcp-serverless-require-dedicated-identity:identity-run-ok": (IDENTITY, run_v2(), False),
    "gcp-serverless-require-dedicated-identity:identity-run-unset": (
        IDENTITY,
        run_v2(account=None),
        True,
    ),
    "gcp-serverless-require-dedicated-identity:identity-function-default-compute": (
        IDENTITY,
        function_v2(account=DEFAULT_COMPUTE),
        True,
    ),
    "gcp-serverless-require-dedicated-identity:identity-job-ok": (IDENTITY, run_job(), False),
    "gcp-serverless-require-dedicated-identity:identity-job-default-compute": (
        IDENTITY,
        run_job(DEFAULT_COMPUTE),
        True,
    ),
    "gcp-serverless-require-dedicated-identity:identity-function-v1-ok": (
        IDENTITY,
        function_v1(),
        False,
    ),
    "gcp-serverless-require-dedicated-identity:identity-function-v1-appspot": (
        IDENTITY,
        function_v1("acme@appspot.gserviceaccount.com"),
        True,
    ),
    # B9: the invoker check may be off only behind the load balancer, run.app URL off
    "gcp-cloud-run-invoker-iam-disabled-requires-lb-only:gateway-fronted-ok": (
        INVOKER,
        gateway_fronted(),
        False,
    ),
    "gcp-cloud-run-invoker-iam-disabled-requires-lb-only:invoker-check-on-ok": (
        INVOKER,
        run_v2(ingress="INGRESS_TRAFFIC_ALL"),
        False,
    ),
    "gcp-cloud-run-invoker-iam-disabled-requires-lb-only:ingress-all": (
        INVOKER,
        gateway_fronted(ingress="INGRESS_TRAFFIC_ALL"),
        True,
    ),
    "gcp-cloud-run-invoker-iam-disabled-requires-lb-only:ingress-internal-only": (
        INVOKER,
        gateway_fronted(ingress="INGRESS_TRAFFIC_INTERNAL_ONLY"),
        True,
    ),
    "gcp-cloud-run-invoker-iam-disabled-requires-lb-only:default-uri-on": (
        INVOKER,
        gateway_fronted(default_uri_disabled=False),
        True,
    ),
    "gcp-cloud-run-invoker-iam-disabled-requires-lb-only:default-uri-unset": (
        INVOKER,
        gateway_fronted(default_uri_disabled=None),
        True,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_serverless_rules(policy: Any, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_invoker_rule_names_both_missing_fields() -> None:
    """Ingress all and the run.app URL on: two findings, each naming its field."""
    program = gateway_fronted(ingress="INGRESS_TRAFFIC_ALL", default_uri_disabled=None)
    resources = [
        replace(r, inputs=unknown_checking_proxy(dict(r.inputs))) for r in run_program(program)
    ]
    messages = [f.message for f in evaluate([INVOKER], resources)]
    assert len(messages) == 2
    assert all("allows unauthenticated calls" in m for m in messages)
    assert any("`ingress`" in m for m in messages)
    assert any("`defaultUriDisabled`" in m for m in messages)


def test_invoker_rule_waiver() -> None:
    """A waived service (e.g. IAP in front, reviewed) is skipped."""
    program = gateway_fronted(ingress="INGRESS_TRAFFIC_ALL")
    assert judge(INVOKER, program, waiver(TARGET)) == set()

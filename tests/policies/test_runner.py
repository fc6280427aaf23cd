"""The offline runner drives the UNCHANGED pack over the analyzer protocol, as `pulumi preview`.

These tests start the real pack process (``python -u -m pulumi.policy 127.0.0.1:0 policies``),
feed it resources captured from small real programs and read its verdict back over gRPC.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pulumi_aws as aws
import pytest

from offline.capture import CapturedResource, capture
from policies.rules import all_policies
from policies.runner import engine
from policies.runner.analyzer import PackError, PackProcess
from policies.runner.engine import Violation, analyze_resources, check_project, effective_config
from policies.runner.pack_config import ConfigError, waivers
from tests.policies.harness import evaluate
from tests.policies.test_check_cli import write_project

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
S1 = "aideploy-stack-require-routed-serving-alarms"
S2 = "aideploy-stack-require-rollback-wired-to-alarms"


@pytest.fixture(scope="module")
def pack() -> Iterator[PackProcess]:
    with PackProcess(PACK_DIR) as running:
        yield running


def bare_endpoint() -> None:
    """A SageMaker endpoint with no alarms and no rollback: S1 and S2 must catch it."""
    config = aws.sagemaker.EndpointConfiguration(
        "config",
        production_variants=[
            aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                model_name="model", variant_name="stable", initial_instance_count=1
            )
        ],
    )
    aws.sagemaker.Endpoint("endpoint", endpoint_config_name=config.name)


def mixed_aws() -> None:
    """Resources many AWS rules look at, compliant or not: the protocol must agree with them."""
    key = aws.kms.Key("key", enable_key_rotation=False, deletion_window_in_days=7)
    bucket = aws.s3.Bucket("data")
    aws.s3.BucketPublicAccessBlock(
        "data-pab", bucket=bucket.id, block_public_acls=True, block_public_policy=False
    )
    aws.sqs.Queue("jobs", kms_master_key_id=key.arn, visibility_timeout_seconds=60)
    aws.sns.Topic("events")
    aws.cloudwatch.LogGroup("logs", retention_in_days=1)
    aws.iam.Policy(
        "admin",
        policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    bare_endpoint()


def run(
    pack: PackProcess,
    resources: list[CapturedResource],
    user: Mapping[str, object] | None = None,
    tmp: Path | None = None,
) -> list[Violation]:
    config_file = None
    if user is not None and tmp is not None:
        config_file = tmp / "policy.json"
        config_file.write_text(json.dumps(user))
    effective = effective_config(pack.info(), config_file)
    pack.configure(effective)
    violations, _ = analyze_resources(pack, resources, effective, project="fixture", stack="dev")
    return violations


def test_pack_starts_like_the_cli_and_prints_its_port_first() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(PACK_DIR)],
        cwd=PACK_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip().isdigit()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_analyzer_info_lists_exactly_the_packs_rules_with_metadata(pack: PackProcess) -> None:
    info = pack.info()
    policies = all_policies()
    assert info.name == "aideploy-guardrails"
    assert [r.name for r in info.rules] == [p.name for p in policies]
    for rule, policy in zip(info.rules, policies, strict=True):
        assert rule.description == policy.description
        assert rule.remediation == policy.remediation_steps
        assert list(rule.tags) == list(policy.tags or [])
        assert rule.severity == (policy.severity.value if policy.severity else "unspecified")
        assert "waivers" in rule.config_schema["properties"]
    kinds = {r.name: r.kind for r in info.rules}
    assert kinds[S1] == kinds[S2] == "stack"


def test_violating_program_is_caught_through_the_protocol(pack: PackProcess) -> None:
    resources = capture(bare_endpoint, project="fixture", stack="dev").resources
    endpoint = next(r for r in resources if r.name == "endpoint")
    violations = run(pack, resources)
    found = {(v.policy, v.resource_name, v.urn) for v in violations}
    assert (S1, "endpoint", endpoint.urn) in found
    assert (S2, "endpoint", endpoint.urn) in found


def test_protocol_verdict_equals_the_rules_on_the_same_resources(pack: PackProcess) -> None:
    # The Struct the pack receives is the RegisterResource request's own `object`: the rules
    # must reach the same verdict on it as on the inputs captured in-process.
    resources = capture(mixed_aws, project="fixture", stack="dev").resources
    in_process = {(f.policy, f.resource_name) for f in evaluate(all_policies(), resources)}
    over_grpc = {(v.policy, v.resource_name) for v in run(pack, resources)}
    assert over_grpc == in_process
    assert len(over_grpc) >= 3


def test_config_all_then_rule_entry_sets_levels(pack: PackProcess, tmp_path: Path) -> None:
    resources = capture(bare_endpoint, project="fixture", stack="dev").resources
    advisory = run(pack, resources, {"all": "advisory"}, tmp_path)
    assert advisory and {v.level for v in advisory} == {"advisory"}
    only_s1 = run(pack, resources, {"all": "disabled", S1: "mandatory"}, tmp_path)
    assert {(v.policy, v.level) for v in only_s1} == {(S1, "mandatory")}
    disabled = run(pack, resources, {S1: {"enforcementLevel": "disabled"}}, tmp_path)
    assert S1 not in {v.policy for v in disabled}


def test_waiver_with_reason_silences_the_resource_and_is_reported(
    pack: PackProcess, tmp_path: Path
) -> None:
    resources = capture(bare_endpoint, project="fixture", stack="dev").resources
    reason = "Shadow endpoint for load tests; alarms live in the load-test account."
    user = {S1: {"waivers": [{"resource": "endpoint", "reason": reason}]}}
    violations = run(pack, resources, user, tmp_path)
    assert S1 not in {v.policy for v in violations}
    assert S2 in {v.policy for v in violations}  # a waiver covers one rule only
    effective = effective_config(pack.info(), tmp_path / "policy.json")
    listed = waivers(effective, {r.name for r in resources})
    assert [(w.policy, w.resource, w.reason, w.used) for w in listed] == [
        (S1, "endpoint", reason, True)
    ]


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({S1: {"waivers": [{"resource": "endpoint"}]}}, "'reason' is required"),
        ({S1: {"waivers": [{"resource": "endpoint", "reason": "ok"}]}}, "at least 10"),
        ({"no-such-rule": "advisory"}, "no rule named 'no-such-rule'"),
        ({S1: "sometimes"}, "unknown enforcement level 'sometimes'"),
    ],
)
def test_bad_config_is_refused_with_the_reason(
    pack: PackProcess, tmp_path: Path, user: dict[str, object], expected: str
) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(user))
    with pytest.raises(ConfigError, match=expected):
        effective_config(pack.info(), path)


def test_one_pack_process_serves_every_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Path] = []

    class Counting(PackProcess):
        def start(self) -> PackProcess:
            if self._proc is None:
                started.append(self.pack_dir)
            return super().start()

    monkeypatch.setattr(engine, "PackProcess", Counting)
    project = write_project(tmp_path / "p", "import pulumi\npulumi.export('x', 1)\n")
    reports = check_project(project, ["dev", "prod"])
    assert [r.stack for r in reports] == ["dev", "prod"]
    assert len(started) == 1


def test_a_pack_that_cannot_start_is_one_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (broken / "__main__.py").write_text("raise ImportError('no module named policies.rules')\n")
    with PackProcess(broken) as process, pytest.raises(PackError, match="failed to start"):
        process.info()


def test_folder_without_pulumipolicy_yaml_is_not_a_pack(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="not a policy pack"):
        PackProcess(tmp_path)


def available_stacks() -> list[tuple[str, str]]:
    from components.registry import REGISTRY, is_available

    return sorted((c.value, p.value) for (c, p) in REGISTRY if is_available(c, p))


@pytest.mark.parametrize(("cloud", "pattern"), available_stacks())
def test_pack_over_grpc_agrees_with_the_rules_on_every_component(
    pack: PackProcess, cloud: str, pattern: str
) -> None:
    # The pack hands rules read-only proxies (lists become Sequences, numbers floats); the
    # in-process harness hands plain values. A rule that only works on one would differ here.
    from components.spec import Cloud, Environment, Pattern
    from tests.conftest import make_spec, run_component

    spec = make_spec(Cloud(cloud), Pattern(pattern), Environment.PROD)
    resources = run_component(spec).resources
    effective = effective_config(pack.info(), PACK_DIR / "config" / "prod.json")
    pack.configure(effective)
    violations, _ = analyze_resources(pack, resources, effective, project="fixture", stack="prod")
    over_grpc = {(v.policy, v.resource_name) for v in violations}
    in_process = {(f.policy, f.resource_name) for f in evaluate(all_policies(), resources)}
    assert over_grpc == in_process


LLM_STACKS = [
    ("aws", {"mode": "hosted", "model": "amazon.nova-lite-v1:0"}),
    ("aws", {"mode": "self-hosted"}),
    ("azure", {"mode": "hosted", "model": "gpt-4o-mini", "model_version": "2024-07-18"}),
    ("azure", {"mode": "self-hosted"}),
    ("gcp", {"mode": "self-hosted"}),
    ("kubernetes", {"mode": "self-hosted"}),
]


@pytest.mark.parametrize(
    ("cloud", "llm"), LLM_STACKS, ids=[f"{c}-{m['mode']}" for c, m in LLM_STACKS]
)
def test_pack_over_grpc_agrees_with_the_rules_on_llm_stacks(
    pack: PackProcess, cloud: str, llm: dict[str, str]
) -> None:
    """LLM stacks pass identifiers computed from other resources' outputs (unknown during a
    real preview): the guardrail rules answer the same over gRPC, and pass."""
    from components.spec import Cloud, Environment, Pattern
    from tests.conftest import make_spec, run_component

    spec = make_spec(Cloud(cloud), Pattern.API_FIRST, Environment.PROD, {"llm": llm})
    resources = run_component(spec).resources
    effective = effective_config(pack.info(), PACK_DIR / "config" / "prod.json")
    pack.configure(effective)
    violations, _ = analyze_resources(pack, resources, effective, project="fixture", stack="prod")
    over_grpc = {(v.policy, v.resource_name) for v in violations}
    in_process = {(f.policy, f.resource_name) for f in evaluate(all_policies(), resources)}
    assert over_grpc == in_process
    assert not {p for p, _ in over_grpc if "llm" in p or "guardrail" in p or "bedrock" in p}

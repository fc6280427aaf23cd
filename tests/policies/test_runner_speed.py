"""What makes the offline check fast must not change what it finds.

The pack's host converts each request once (policies/runner/pack_host.py), provider SDKs load
only the modules a program uses (lazy_sdk.py), and the stacks' programs run in forked workers
(runs.py). Each is held here to the plain way's answers, in the same order.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pulumi_aws as aws
import pytest

from offline import runs
from offline.capture import ProgramError, capture
from policies.runner.analyzer import PLAIN_PACK_ENV, PackProcess
from policies.runner.engine import StackReport, analyze_resources, check_project, effective_config
from tests.policies.test_check_cli import write_project
from tests.policies.test_runner import mixed_aws

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
REPO = PACK_DIR.parent

# A program with findings of resource and stack rules, different per stack, and a secret.
PROGRAM = textwrap.dedent(
    """
    import json

    import pulumi
    import pulumi_aws as aws

    stack = pulumi.get_stack()
    key = aws.kms.Key("key", enable_key_rotation=stack == "prod", deletion_window_in_days=7)
    bucket = aws.s3.Bucket("data")
    aws.s3.BucketPublicAccessBlock(
        "data-pab", bucket=bucket.id, block_public_acls=True, block_public_policy=stack == "dev"
    )
    aws.sqs.Queue("jobs", kms_master_key_id=key.arn, visibility_timeout_seconds=60)
    aws.sns.Topic("events")
    aws.cloudwatch.LogGroup("logs", retention_in_days=1 if stack == "dev" else 400)
    aws.iam.Policy(
        "admin",
        policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    config = aws.sagemaker.EndpointConfiguration(
        "config",
        production_variants=[
            aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                model_name="model", variant_name="stable", initial_instance_count=1
            )
        ],
    )
    aws.sagemaker.Endpoint("endpoint", endpoint_config_name=config.name)
    pulumi.export("bucket", bucket.id)
    """
)
STACKS = {
    "dev": "config:\n  aws:region: eu-west-1\n",
    "staging": "config:\n  aws:region: eu-west-1\n  fixture:token:\n    secure: AAABAxyz\n",
    "prod": "config:\n  aws:region: eu-west-2\n",
}


def dump(reports: list[StackReport]) -> str:
    """Everything a report carries, as text, in order."""
    return json.dumps(
        [
            {
                "json": r.to_json(),
                "waivers": [repr(w) for w in r.waivers],
                "notes": list(r.notes),
                "pack": [r.pack.name, r.pack.version, [x.name for x in r.pack.rules]],
                "files": [str(r.stack_file), str(r.config_file)],
            }
            for r in reports
        ],
        indent=1,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("speed") / "p", PROGRAM, STACKS)


def test_workers_and_accelerated_pack_report_exactly_what_the_plain_way_does(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = check_project(project, list(STACKS))
    monkeypatch.setenv(runs.WORKERS_ENV, "1")
    monkeypatch.setenv(PLAIN_PACK_ENV, "1")
    plain = check_project(project, list(STACKS))
    assert dump(fast) == dump(plain)
    assert all(r.summary["mandatory"] for r in plain)
    assert {r.stack: r.resources for r in fast} == {"dev": 9, "staging": 9, "prod": 9}
    assert any("placeholder" in note for note in fast[1].notes)
    # The stacks differ, so a worker that ran the wrong stack would show.
    assert len({json.dumps(r.to_json()["violations"]) for r in fast}) == 3


@pytest.fixture(scope="module")
def packs() -> Iterator[tuple[PackProcess, PackProcess]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PLAIN_PACK_ENV, "1")
        plain = PackProcess(PACK_DIR).start()
    fast = PackProcess(PACK_DIR).start()
    with plain, fast:
        yield plain, fast


def unknown_inputs() -> None:
    """Inputs a preview cannot know yet: a rule reading one is reported, with its path."""
    bucket = aws.s3.Bucket("logs-bucket")
    aws.sqs.Queue("queue", kms_master_key_id=bucket.bucket_regional_domain_name)
    aws.s3.BucketServerSideEncryptionConfiguration(
        "logs-bucket-sse",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=bucket.bucket_regional_domain_name
                )
            )
        ],
    )
    aws.cloudwatch.LogGroup("group", retention_in_days=30, kms_key_id=bucket.hosted_zone_id)


def test_the_pack_host_answers_analyze_and_analyze_stack_as_the_plain_host(
    packs: tuple[PackProcess, PackProcess],
) -> None:
    resources = capture(mixed_aws, project="fixture", stack="dev").resources
    resources += capture(unknown_inputs, project="fixture", stack="dev").resources
    answers = []
    for pack in packs:
        effective = effective_config(pack.info(), PACK_DIR / "config" / "prod.json")
        pack.configure(effective)
        answers.append(
            analyze_resources(pack, resources, effective, project="fixture", stack="dev")
        )
    assert answers[0] == answers[1]
    assert len(answers[0][0]) >= 5
    assert any("during preview" in v.message for v in answers[0][0])


def test_the_pack_host_recognises_the_installed_pulumi_policy() -> None:
    # If pulumi-policy's analyzer changes shape the host leaves it alone (slower, still right);
    # this says when that happens, so the speed is not lost unnoticed.
    code = "from policies.runner.pack_host import accelerate; print(accelerate())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"


def test_a_later_stacks_failing_program_is_reported_as_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = textwrap.dedent(
        """
        import pulumi
        import pulumi_aws as aws

        aws.sns.Topic("events")
        if pulumi.get_stack() == "prod":
            raise ValueError("prod needs\\n  a region")
        """
    )
    project = write_project(tmp_path / "p", program, {"dev": "", "staging": "", "prod": ""})
    with pytest.raises(ProgramError) as forked:
        check_project(project, ["dev", "staging", "prod"])
    monkeypatch.setenv(runs.WORKERS_ENV, "1")
    with pytest.raises(ProgramError) as in_process:
        check_project(project, ["dev", "staging", "prod"])
    assert str(forked.value) == str(in_process.value) == "ValueError: prod needs; a region"


LAZY_PROBE = textwrap.dedent(
    """
    import contextlib, json, sys
    from offline.lazy_sdk import lazy_provider_packages

    with lazy_provider_packages() if sys.argv[1] == "lazy" else contextlib.nullcontext():
        import pulumi_aws

        ec2 = pulumi_aws.ec2
        ec2.Vpc
        import pulumi_aws.ec2.get_vpc  # a submodule named as the function it exports
        namespace = {}
        exec("from pulumi_aws.kms import *", namespace)
    print(json.dumps({
        "lazy": type(ec2).__name__,
        "get_vpc": type(ec2.get_vpc).__name__,
        "vpc": ec2.Vpc.__module__,
        "args": ec2.VpcArgs.__module__,
        "outputs": ec2.outputs.__name__,
        "kms_star": sorted(n for n in namespace if not n.startswith("__")),
        "ec2_public": sorted(n for n in dir(ec2) if not n.startswith("_")),
    }))
    """
)


def test_lazy_provider_packages_bind_what_an_eager_import_binds(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(LAZY_PROBE)
    seen = {}
    for mode in ("lazy", "eager"):
        out = subprocess.run(
            [sys.executable, str(probe), mode],
            cwd=REPO,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        seen[mode] = json.loads(out.stdout)
    lazy, eager = seen["lazy"], seen["eager"]
    assert lazy.pop("lazy") == "_LazyPackage"
    assert eager.pop("lazy") == "module"
    assert lazy == eager
    assert lazy["get_vpc"] == "function"

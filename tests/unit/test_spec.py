"""The cloud-neutral model: validation, messages, derived values."""

from __future__ import annotations

import pydantic
import pytest

from components.spec import (
    PATTERN_OUTPUTS,
    Cloud,
    DeploymentSpec,
    Environment,
    Pattern,
    describe_validation_error,
    region_known,
)
from tests.conftest import make_spec


def test_every_pattern_declares_outputs() -> None:
    assert set(PATTERN_OUTPUTS) == set(Pattern)
    for outputs in PATTERN_OUTPUTS.values():
        assert len(outputs) == len(set(outputs)) > 0


@pytest.mark.parametrize("cloud", list(Cloud))
@pytest.mark.parametrize("env", list(Environment))
def test_generated_stacks_are_valid_specs(cloud: Cloud, env: Environment) -> None:
    spec = make_spec(cloud, Pattern.API_FIRST, env)
    assert spec.environment is env
    assert region_known(cloud, spec.region)
    assert spec.outputs == PATTERN_OUTPUTS[Pattern.API_FIRST]


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.DEV, {"model": {"colour": "red"}})
    assert "model.colour" in describe_validation_error(info.value)


def test_region_must_belong_to_cloud() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.DEV, {"region": "eu-west-1"})
    assert "not a known azure region" in describe_validation_error(info.value)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"capacity": {"min_instances": 5, "max_instances": 2}}, "must not exceed"),
        ({"alerts": {"latency_p50_ms": 900, "latency_p95_ms": 800}}, "p50 <= p95 <= p99"),
        ({"rollout": {"candidate_version": "2.0.0"}}, "must be given together"),
        ({"rollout": {"canary_percent": 75}}, "rollout.canary_percent"),
        ({"owner": "not-an-email"}, "owner"),
        ({"model": {"image": "UPPER/Case"}}, "model.image"),
        ({"tags": {"project": "x"}}, "set by aideploy"),
    ],
)
def test_invalid_specs_say_what_is_wrong(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        make_spec(Cloud.GCP, Pattern.API_FIRST, Environment.PROD, overrides)
    message = describe_validation_error(info.value)
    assert fragment in message
    assert "\n" not in message


def test_spec_is_immutable() -> None:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.DEV)
    with pytest.raises(pydantic.ValidationError):
        spec.region = "us-east-1"  # type: ignore[misc]


def test_standard_tags_are_valid_on_every_cloud() -> None:
    spec = make_spec(
        Cloud.GCP,
        Pattern.API_FIRST,
        Environment.PROD,
        {"model": {"version": "2.1.0-RC1"}, "tags": {"cost-center": "ml"}},
    )
    tags = spec.standard_tags()
    # a release does not retag every resource (the serving image carries the version)
    assert "model-version" not in tags
    assert tags["owner"] == "ops_at_acme_example"
    assert tags["cost-center"] == "ml"
    # GCP labels: lowercase letters, digits, dashes, underscores; at most 63 characters.
    for key, value in tags.items():
        assert key == key.lower() and len(key) <= 63
        assert value == value.lower() and len(value) <= 63
        assert "." not in value and "@" not in value


def test_candidate_flag() -> None:
    spec = make_spec(
        Cloud.AWS,
        Pattern.API_FIRST,
        Environment.PROD,
        {"rollout": {"candidate_version": "1.1.0", "candidate_image": "ghcr.io/a/m:1.1.0"}},
    )
    assert spec.has_candidate
    assert not make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD).has_candidate


def test_model_validate_rejects_project_names_unfit_for_pulumi() -> None:
    base = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.DEV).model_dump(mode="json")
    for bad in ("A", "ab", "-abc", "abc-", "a" * 41, "acme support", "acme_ai"):
        with pytest.raises(pydantic.ValidationError):
            DeploymentSpec.model_validate({**base, "project": bad})

"""Offline tests: every stack's program runs under Pulumi's mocks, no cloud credentials needed."""

from pathlib import Path

import pytest
import yaml

from components.spec import PATTERN_OUTPUTS, Pattern
from offline.program import run_stack, stack_names

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
STACKS = stack_names(ROOT)


def test_every_environment_has_a_stack() -> None:
    assert STACKS == ["dev", "staging", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_program_runs_and_registers_the_component(stack: str) -> None:
    run = run_stack(ROOT, stack)
    components = [r for r in run.resources if r.type.startswith("aideploy:")]
    assert len(components) == 1, [r.type for r in components]
    # Every cloud resource is a child of the component, never a loose resource in __main__.
    loose = [r.name for r in run.resources if r.custom and not r.parent.startswith("urn:")]
    assert loose == []
    assert sum(1 for r in run.resources if r.custom) >= 10


SECRET_WORDS = ("password", "secret", "token", "apikey", "api_key", "connectionstring")


@pytest.mark.parametrize("stack", STACKS)
def test_stack_config_holds_no_plain_secrets(stack: str) -> None:
    raw = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert raw, "the stack file has no config"
    # Anything secret-like must be a Pulumi secret (`pulumi config set --secret`), never text.
    plain = [
        key
        for key, value in raw.items()
        if any(word in key.lower().replace("-", "") for word in SECRET_WORDS)
        and not (isinstance(value, dict) and set(value) == {"secure"})
    ]
    assert plain == []


def test_model_and_security_settings_match_across_environments() -> None:
    from stacks.profiles import flatten, load_parity_rules

    rules = load_parity_rules()  # stacks/parity.yaml: the declared differences

    def section(stack: str, key: str) -> dict[str, object]:
        value = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"][
            f"{PROJECT}:{key}"
        ]
        flat = flatten({key: value})
        return {path: v for path, v in flat.items() if not rules.allows(path)}

    for key in ("cloud", "pattern", "region", "model", "api"):
        assert section("dev", key) == section("staging", key) == section("prod", key), key


@pytest.mark.parametrize("stack", STACKS)
def test_stack_exports_the_pattern_outputs(stack: str) -> None:
    raw = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    pattern = Pattern(raw[f"{PROJECT}:pattern"])
    run = run_stack(ROOT, stack)
    assert set(run.outputs) == set(PATTERN_OUTPUTS[pattern])

"""The pack's identity and its per-environment configuration files.

``policies/config/{dev,staging,prod}.json`` are Pulumi policy-pack config files (the format
``pulumi preview --policy-pack-config`` reads): one entry per rule with its enforcement level and
its waivers. They are generated from the rules' categories so they never drift from the rule set:

    python -m policies.pack            # rewrite the files (keeps every waiver already written)
    python -m policies.pack --check    # exit 1 when a file is out of step with the rules

Levels: in dev the security rules are mandatory and the operational ones advisory (as is any rule
whose own default is advisory); in staging and prod every rule is mandatory, except where
:data:`ENVIRONMENT_OVERRIDES` says otherwise (a rule the rule set marks "M in prod" only).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PACK_NAME = "aideploy-guardrails"
PACK_DESCRIPTION = (
    "aideploy guardrails: encryption, TLS, least privilege, logging, monitoring and rollback "
    "for AI deployments on AWS, Azure and GCP."
)
PACK_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACK_DIR / "config"
ENVIRONMENTS = ("dev", "staging", "prod")

# The rule-set revision: bump it when a release adds rules, and give each new rule
# ``since=RULESET``. A project records the revision it was generated with in
# config/baseline.json; a rule newer than that starts advisory there until the project's
# config raises it, so updating a project's pack never turns its PRs red overnight.
RULESET = 4
BASELINE_FILE = "baseline.json"

MANDATORY = "mandatory"
ADVISORY = "advisory"
SECURITY = "security"

# Rules whose level in an environment is not what their category gives (POLICY-RULES.md).
ENVIRONMENT_OVERRIDES: dict[str, dict[str, str]] = {
    # S2: a rollback that is not wired fails prod only; dev and staging are told.
    "aideploy-stack-require-rollback-wired-to-alarms": {"dev": ADVISORY, "staging": ADVISORY},
    # Issue 14: an LLM without its guardrail fails staging and prod; dev is told (it may also
    # declare fail_open there).
    "aideploy-llm-require-guardrail": {"dev": ADVISORY},
    # Rule 26: diagnostic settings and Log Analytics retention are mandatory in prod only.
    "azure-data-plane-require-diagnostic-settings": {"staging": ADVISORY},
    "azure-log-analytics-require-retention": {"staging": ADVISORY},
}


def project_baseline(config_dir: Path = CONFIG_DIR) -> int:
    """The rule-set revision a project was generated with (1 when it predates the record)."""
    path = config_dir / BASELINE_FILE
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("ruleset", 1)
    except (OSError, ValueError, AttributeError):
        return 1
    return value if isinstance(value, int) and value >= 1 else 1


def write_baseline(config_dir: Path = CONFIG_DIR, ruleset: int = RULESET) -> Path:
    """Record the rule-set revision a new project starts from."""
    path = config_dir / BASELINE_FILE
    path.write_text(json.dumps({"ruleset": ruleset}, indent=2) + "\n", encoding="utf-8")
    return path


def newer_than_baseline(name: str, baseline: int) -> bool:
    """True when the rule arrived after the project's recorded rule set."""
    from policies.rules.base import RULE_SINCE

    return RULE_SINCE.get(name, 1) > baseline


def pack_policies(config_dir: Path = CONFIG_DIR) -> list[Any]:
    """The rules as the pack serves them: a rule newer than the project's baseline starts
    advisory (its config file can raise it), so updating the pack never fails a PR overnight."""
    from pulumi_policy import EnforcementLevel

    from policies.rules import all_policies

    baseline = project_baseline(config_dir)
    served = []
    for policy in all_policies():
        if newer_than_baseline(policy.name, baseline):
            policy = copy.copy(policy)  # never change the shared rule objects' designed level
            policy.enforcement_level = EnforcementLevel.ADVISORY
        served.append(policy)
    return served


def level_for(
    environment: str,
    name: str,
    tags: Iterable[str],
    default_level: str,
    baseline: int = RULESET,
) -> str:
    """The enforcement level of one rule in one environment of a project at ``baseline``."""
    if newer_than_baseline(name, baseline):
        return ADVISORY
    override = ENVIRONMENT_OVERRIDES.get(name, {}).get(environment)
    if override is not None:
        return override
    if environment == "dev":
        security = SECURITY in set(tags)
        return MANDATORY if security and default_level == MANDATORY else ADVISORY
    return MANDATORY


def _policy_rows() -> list[tuple[str, list[str], str]]:
    """(name, tags, default level) of every rule, in pack order."""
    from policies.rules import all_policies

    rows = []
    for policy in all_policies():
        level = policy.enforcement_level.value if policy.enforcement_level else MANDATORY
        rows.append((policy.name, list(policy.tags or []), level))
    return rows


def config_path(environment: str) -> Path:
    """Where one environment's config file lives."""
    return CONFIG_DIR / f"{environment}.json"


def render_config(
    environment: str, existing: Mapping[str, Any] | None = None, baseline: int = RULESET
) -> dict[str, Any]:
    """One environment's config document; waivers already in ``existing`` are kept, and so is
    the level a project chose for a rule newer than its baseline (it raised it on purpose)."""
    existing = existing or {}
    document: dict[str, Any] = {}
    for name, tags, default_level in _policy_rows():
        previous = existing.get(name)
        waivers = previous.get("waivers", []) if isinstance(previous, Mapping) else []
        level = level_for(environment, name, tags, default_level, baseline)
        if newer_than_baseline(name, baseline) and isinstance(previous, Mapping):
            level = previous.get("enforcementLevel", level)
        document[name] = {"enforcementLevel": level, "waivers": list(waivers)}
    return document


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def to_text(document: Mapping[str, Any]) -> str:
    """The file's text: stable formatting so a regeneration diff shows only real changes."""
    return json.dumps(document, indent=2) + "\n"


def drifted(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Environments whose file differs from what the rules give (empty when in step)."""
    stale = []
    for env in ENVIRONMENTS:
        path = config_dir / f"{env}.json"
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        expected = render_config(env, _read(path), project_baseline(config_dir))
        if current != to_text(expected):
            stale.append(env)
    return stale


def write_configs(config_dir: Path = CONFIG_DIR) -> list[Path]:
    """Regenerate every environment's file in place."""
    config_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for env in ENVIRONMENTS:
        path = config_dir / f"{env}.json"
        document = render_config(env, _read(path), project_baseline(config_dir))
        path.write_text(to_text(document), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m policies.pack [--check]``."""
    parser = argparse.ArgumentParser(prog="python -m policies.pack", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report drift (exit 1)")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted()
        for env in stale:
            print(f"policies/config/{env}.json is out of step with the rules", file=sys.stderr)
        return 1 if stale else 0
    for path in write_configs():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

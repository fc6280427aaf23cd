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

MANDATORY = "mandatory"
ADVISORY = "advisory"
SECURITY = "security"

# Rules whose level in an environment is not what their category gives (POLICY-RULES.md).
ENVIRONMENT_OVERRIDES: dict[str, dict[str, str]] = {
    # S2: a rollback that is not wired fails prod only; dev and staging are told.
    "aideploy-stack-require-rollback-wired-to-alarms": {"dev": ADVISORY, "staging": ADVISORY},
    # Rule 26: diagnostic settings and Log Analytics retention are mandatory in prod only.
    "azure-data-plane-require-diagnostic-settings": {"staging": ADVISORY},
    "azure-log-analytics-require-retention": {"staging": ADVISORY},
}


def level_for(environment: str, name: str, tags: Iterable[str], default_level: str) -> str:
    """The enforcement level of one rule in one environment."""
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


def render_config(environment: str, existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One environment's config document; waivers already in ``existing`` are kept."""
    existing = existing or {}
    document: dict[str, Any] = {}
    for name, tags, default_level in _policy_rows():
        previous = existing.get(name)
        waivers = previous.get("waivers", []) if isinstance(previous, Mapping) else []
        document[name] = {
            "enforcementLevel": level_for(environment, name, tags, default_level),
            "waivers": list(waivers),
        }
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
        if current != to_text(render_config(env, _read(path))):
            stale.append(env)
    return stale


def write_configs(config_dir: Path = CONFIG_DIR) -> list[Path]:
    """Regenerate every environment's file in place."""
    config_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for env in ENVIRONMENTS:
        path = config_dir / f"{env}.json"
        path.write_text(to_text(render_config(env, _read(path))), encoding="utf-8")
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

"""One rollback rule on every cloud (issue 10 item 2): each cloud's automatic rollback ships
components/rollout.py itself, unchanged, as ``rollout_decision.py``, read from the resources the
components really register, and that shipped file answers every shared vector the same way.
The per-cloud tests run their handlers against the vectors; this holds the three side by side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.registry import project_clouds, scaffolded
from components.spec import Cloud, Environment, Pattern
from tests.conftest import candidate_image, make_spec, run_component

ROOT = Path(__file__).resolve().parents[2]
RULE = (ROOT / "components" / "rollout.py").read_text()
VECTORS = json.loads((ROOT / "tests" / "vectors" / "rollout_decisions.json").read_text())
SHIPPED_NAME = "rollout_decision.py"


def _archive_file(archive: Any, name: str) -> str | None:
    """The text of ``name`` in a captured AssetArchive (a file or string asset), else None."""
    if not isinstance(archive, pulumi.AssetArchive):
        return None
    asset = archive.assets.get(name)
    if isinstance(asset, pulumi.FileAsset):
        return Path(asset.path).read_text()
    if isinstance(asset, pulumi.StringAsset):
        return str(asset.text)
    return None


def _azure_mounted(inputs: dict[str, Any]) -> str | None:
    """The text of the rollback service's mounted ``rollout_decision.py`` (a code secret)."""
    secrets = {s["name"]: s.get("value") for s in inputs["configuration"].get("secrets", [])}
    for volume in inputs["template"].get("volumes") or []:
        for item in volume.get("secrets") or []:
            if str(item.get("path", "")).endswith(SHIPPED_NAME):
                return secrets.get(item["secretRef"])
    return None


def shipped_rules(cloud: Cloud, pattern: Pattern) -> list[str]:
    """Every copy of the decision module the stack's rollback functions carry."""
    spec = make_spec(
        cloud,
        pattern,
        Environment.PROD,
        {
            "rollout": {
                "candidate_version": "1.1.0",
                "candidate_image": candidate_image(cloud, pattern),
            }
        },
    )
    found = []
    for r in run_component(spec).resources:
        if r.type == "azure-native:app:ContainerApp" and "configuration" in r.inputs:
            text = _azure_mounted(r.inputs)
        elif r.type == "kubernetes:core/v1:ConfigMap":  # the rollback service's code (mounted)
            text = (r.inputs.get("data") or {}).get(SHIPPED_NAME)
        else:
            text = next(
                (t for v in r.inputs.values() if (t := _archive_file(v, SHIPPED_NAME)) is not None),
                None,
            )
        if text is not None:
            found.append(text)
    return found


CASES = [
    (c, p)
    for c in project_clouds()
    for p in (Pattern.API_FIRST, Pattern.MANAGED_PLATFORM)
    if scaffolded(c, p)
]


@pytest.mark.parametrize(
    ("cloud", "pattern"), CASES, ids=[f"{c.value}-{p.value}" for c, p in CASES]
)
def test_every_clouds_rollback_ships_the_one_rule_unchanged(cloud: Cloud, pattern: Pattern) -> None:
    shipped = shipped_rules(cloud, pattern)
    assert shipped, f"{cloud.value} {pattern.value}: no rollback function ships {SHIPPED_NAME}"
    assert all(text == RULE for text in shipped)


def test_the_shipped_file_alone_answers_every_vector(tmp_path: Path) -> None:
    # As the functions run it: one file, no package around it, no aideploy on the path.
    (tmp_path / SHIPPED_NAME).write_text(RULE)
    script = (
        "import json, sys, rollout_decision as r\n"
        "for v in json.load(sys.stdin):\n"
        "    print(json.dumps(r.decide_json(json.dumps(v))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-E", "-s", "-c", script],
        input=json.dumps([v["input"] for v in VECTORS["decisions"]]),
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["action"], a["page"]) for a in answers] == [
        (v["action"], v["page"]) for v in VECTORS["decisions"]
    ]

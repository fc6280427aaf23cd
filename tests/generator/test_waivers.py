"""A component's declared waivers reach the generated project's pack config, with reasons."""

from __future__ import annotations

import json
from pathlib import Path

from components.registry import policy_waivers
from components.spec import Cloud, Pattern
from templates.generator import generate
from tests.conftest import sample_answers


def test_declared_waivers_are_written_into_every_environment(tmp_path: Path) -> None:
    declared = policy_waivers(Cloud.AWS, Pattern.API_FIRST, "acme-support")
    assert declared, "the AWS api-first component declares the ALB access-log waiver"
    project = tmp_path / "p"
    generate(sample_answers(Cloud.AWS, Pattern.API_FIRST), project)
    for env in ("dev", "staging", "prod"):
        config = json.loads((project / "policies" / "config" / f"{env}.json").read_text())
        for rule, waivers in declared.items():
            assert config[rule]["waivers"] == waivers
            for waiver in waivers:
                assert waiver["resource"].startswith("acme-support-")
                assert len(waiver["reason"]) >= 10


def test_each_environment_waives_only_what_its_stack_has(tmp_path: Path) -> None:
    # A domain only in prod: dev and staging keep the plain listener inside the VPC (waived),
    # prod serves HTTPS with the domain's certificate and has no plain listener to waive.
    from offline.program import run_stack

    answers = sample_answers(Cloud.AWS, Pattern.API_FIRST, domains={"prod": "api.acme.example"})
    project = generate(answers, tmp_path / "p").path
    rule = "aws-lb-listener-require-https"
    for env in ("dev", "staging", "prod"):
        config = json.loads((project / "policies" / "config" / f"{env}.json").read_text())
        names = {w["resource"] for w in config.get(rule, {}).get("waivers", [])}
        resources = {r.name for r in run_stack(project, env).resources}
        assert names <= resources, (env, names - resources)
        assert bool(names) == (env != "prod"), env


def test_components_without_declarations_waive_nothing() -> None:
    from components.registry import REGISTRY, component_for

    for (cloud, pattern), entry in REGISTRY.items():
        if entry.planned:
            continue
        module = __import__(component_for(cloud, pattern).__module__, fromlist=["x"])
        if not hasattr(module, "policy_waivers"):
            assert policy_waivers(cloud, pattern, "acme-support") == {}, (cloud, pattern)


def test_bootstrap_waivers_live_in_the_bootstrap_config_only(tmp_path: Path) -> None:
    from components.registry import bootstrap_waivers

    declared = bootstrap_waivers(Cloud.AZURE, "acme-support")
    assert declared, "the Azure bootstrap declares its state account and vault waivers"
    project = tmp_path / "p"
    generate(sample_answers(Cloud.AZURE, Pattern.API_FIRST), project)
    config_dir = project / "policies" / "config"
    bootstrap = json.loads((config_dir / "bootstrap.json").read_text())
    prod = json.loads((config_dir / "prod.json").read_text())
    for rule, waivers in declared.items():
        assert bootstrap[rule]["waivers"] == waivers
        assert bootstrap[rule]["enforcementLevel"] == prod[rule]["enforcementLevel"]
        for env in ("dev", "staging", "prod"):
            config = json.loads((config_dir / f"{env}.json").read_text())
            assert not any(w in waivers for w in config.get(rule, {}).get("waivers", []))

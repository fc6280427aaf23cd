"""Meta-tests of the pack: its contents, its config files, its tests and its imports.

After Checkov's and cdk-nag's own meta-tests: names are unique, the pack holds exactly the rules
listed, every rule is tested, every config file lists every rule at the level its category gives,
and a cloud's code never imports another cloud's SDK.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml
from pulumi_policy import EnforcementLevel

from policies import pack
from policies.rules import all_policies, aws, azure, gcp, kubernetes, llm, stack

REPO = Path(__file__).resolve().parents[2]
POLICIES = all_policies()
NAMES = [p.name for p in POLICIES]
CLOUD_SDKS = {
    "aws": "pulumi_aws",
    "azure": "pulumi_azure_native",
    "gcp": "pulumi_gcp",
    "kubernetes": "pulumi_kubernetes",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_policy_names_are_unique_and_say_what_they_demand() -> None:
    assert len(NAMES) == len(set(NAMES))
    for name in NAMES:
        assert re.fullmatch(r"(aws|azure|gcp|k8s|aideploy)-[a-z0-9]+(-[a-z0-9]+)+", name), name


def test_pack_holds_exactly_the_listed_rules_in_order() -> None:
    assert [
        p.name
        for p in (
            *aws.POLICIES,
            *azure.POLICIES,
            *gcp.POLICIES,
            *kubernetes.POLICIES,
            *llm.POLICIES,
            *stack.POLICIES,
        )
    ] == NAMES
    assert [p.name for p in llm.POLICIES] == ["aideploy-llm-require-guardrail"]
    assert [p.name for p in stack.POLICIES] == [
        "aideploy-stack-require-routed-serving-alarms",
        "aideploy-stack-require-rollback-wired-to-alarms",
    ]


def test_every_rule_carries_metadata_and_a_category() -> None:
    for policy in POLICIES:
        assert policy.description and policy.remediation_steps, policy.name
        assert policy.severity is not None, policy.name
        assert policy.tags and policy.tags[0] in {"security", "operational"}, policy.name
        assert "waivers" in (policy.config_schema.properties if policy.config_schema else {})


def test_main_only_builds_the_policy_pack() -> None:
    tree = ast.parse((REPO / "policies" / "__main__.py").read_text())
    calls = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
    ]
    names = [ast.unparse(call.func) for call in calls]
    assert names == ["sys.path.insert", "PolicyPack"]
    built = calls[1]
    keywords = {k.arg: ast.unparse(k.value) for k in built.keywords}
    assert keywords["policies"] == "pack_policies()"
    assert keywords["name"] == "PACK_NAME" and pack.PACK_NAME == "aideploy-guardrails"
    others = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.Expr))]
    assert others == []


def test_pulumipolicy_yaml_declares_the_python_runtime() -> None:
    data = yaml.safe_load((REPO / "policies" / "PulumiPolicy.yaml").read_text())
    assert data["runtime"] == "python"


def test_config_files_are_in_step_with_the_rules() -> None:
    stale = pack.drifted()
    assert stale == [], f"run `python -m policies.pack` to regenerate: {stale}"


@pytest.mark.parametrize("environment", pack.ENVIRONMENTS)
def test_every_rule_is_in_every_config_file(environment: str) -> None:
    data = json.loads(pack.config_path(environment).read_text())
    assert set(data) == set(NAMES)
    for name, entry in data.items():
        assert entry["enforcementLevel"] in {"advisory", "mandatory", "disabled"}
        for waiver in entry["waivers"]:
            assert len(waiver["reason"]) >= 10, (environment, name)


def test_levels_follow_category_and_environment() -> None:
    levels = {
        env: {
            k: v["enforcementLevel"]
            for k, v in json.loads(pack.config_path(env).read_text()).items()
        }
        for env in pack.ENVIRONMENTS
    }
    for policy in POLICIES:
        category = policy.tags[0] if policy.tags else ""
        own = policy.enforcement_level or EnforcementLevel.MANDATORY
        if policy.name in pack.ENVIRONMENT_OVERRIDES:
            continue
        expected_dev = (
            "mandatory"
            if category == "security" and own is EnforcementLevel.MANDATORY
            else "advisory"
        )
        assert levels["dev"][policy.name] == expected_dev, policy.name
        assert levels["staging"][policy.name] == "mandatory", policy.name
        assert levels["prod"][policy.name] == "mandatory", policy.name
    s2 = "aideploy-stack-require-rollback-wired-to-alarms"
    assert [levels[e][s2] for e in pack.ENVIRONMENTS] == ["advisory", "advisory", "mandatory"]
    s1 = "aideploy-stack-require-routed-serving-alarms"
    assert [levels[e][s1] for e in pack.ENVIRONMENTS] == ["advisory", "mandatory", "mandatory"]


def test_environment_overrides_name_rules_of_the_pack() -> None:
    assert set(pack.ENVIRONMENT_OVERRIDES) <= set(NAMES)


@pytest.mark.parametrize("cloud", sorted(CLOUD_SDKS))
def test_a_clouds_code_never_imports_another_clouds_sdk(cloud: str) -> None:
    others = {sdk for c, sdk in CLOUD_SDKS.items() if c != cloud}
    for folder in (REPO / "components" / cloud, REPO / "policies" / "rules" / cloud):
        for path in folder.rglob("*.py"):
            wrong = {m for m in imported_modules(path) if m.split(".")[0] in others}
            assert wrong == set(), f"{path.relative_to(REPO)} imports {sorted(wrong)}"


def test_the_pack_and_runner_import_no_cloud_sdk_and_no_components() -> None:
    # Generated projects vendor policies/ next to one cloud's SDK only; the pack must load there.
    forbidden = {*CLOUD_SDKS.values(), "components", "cli", "templates", "stacks"}
    for path in (REPO / "policies").rglob("*.py"):
        wrong = {m for m in imported_modules(path) if m.split(".")[0] in forbidden}
        assert wrong == set(), f"{path.relative_to(REPO)} imports {sorted(wrong)}"


def _rule_attributes() -> dict[str, set[str]]:
    """Rule name -> the names its module binds it to (``DISALLOW_WILDCARD_ADMIN``)."""
    import importlib
    import pkgutil

    from pulumi_policy import Policy

    found: dict[str, set[str]] = {}
    for cloud in ("aws", "azure", "gcp", "kubernetes"):
        package = importlib.import_module(f"policies.rules.{cloud}")
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"policies.rules.{cloud}.{info.name}")
            for attr, value in vars(module).items():
                if isinstance(value, Policy):
                    found.setdefault(value.name, set()).add(attr)
    return found


def _rule_modules() -> dict[str, str]:
    """Rule name -> the rules module that defines it (``aws/iam``, ``stack``)."""
    import importlib
    import pkgutil

    from pulumi_policy import ResourceValidationPolicy as Resource
    from pulumi_policy import StackValidationPolicy

    owner: dict[str, str] = {}
    for cloud in ("aws", "azure", "gcp", "kubernetes"):
        package = importlib.import_module(f"policies.rules.{cloud}")
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"policies.rules.{cloud}.{info.name}")
            for value in vars(module).values():
                if isinstance(value, (Resource, StackValidationPolicy)):
                    owner.setdefault(value.name, f"{cloud}/{info.name}")
    for policy in stack.POLICIES:
        owner.setdefault(policy.name, "stack")
    for policy in llm.POLICIES:
        owner.setdefault(policy.name, "llm")
    return owner


def test_each_rules_module_has_its_own_test_module() -> None:
    # One test module per rules module (test_aws_iam.py for aws/iam.py) that imports it or
    # names its rules: the fixtures sit where a reader of the rule looks for them.
    missing = []
    attributes = _rule_attributes()
    for name, module in sorted(_rule_modules().items()):
        if module == "stack":
            continue  # the stack rules: test_stack_rules.py and the per-cloud stack tests
        if module == "llm":  # cloud-neutral: tests/policies/test_llm_guardrail.py
            text = (REPO / "tests" / "policies" / "test_llm_guardrail.py").read_text("utf-8")
            if "rule.GUARDRAIL_ATTACHED" not in text:
                missing.append(f"{name} -> test_llm_guardrail.py")
            continue
        cloud, leaf = module.split("/")
        path = REPO / "tests" / "policies" / f"test_{cloud}_{leaf.rstrip('_')}.py"
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        own = rf"from policies\.rules\.{cloud} import [^\n]*\b{leaf}\b"
        imports = re.search(rf"{own}|policies\.rules\.{cloud}\.{leaf}\b", text)
        # The test names the rule, or uses the module's object for it (``iam.DISALLOW_...``).
        used = any(re.search(rf"\b{leaf}\.{attr}\b", text) for attr in attributes[name])
        # A stack rule's cases may sit with the cloud's other stack rules.
        stack_tests = REPO / "tests" / "policies" / f"test_{cloud}_stack_rules.py"
        if stack_tests.is_file() and name in stack_tests.read_text(encoding="utf-8"):
            continue
        if name not in text and not (imports and used):
            missing.append(f"{name} -> {path.name}")
    assert missing == []
    assert set(_rule_modules()) == set(NAMES)

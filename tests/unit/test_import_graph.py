"""The import structure of aideploy's own code, read from the source (nothing is imported).

Two contracts, the equivalent of an import-linter configuration:

- no cycles: no module reaches itself through the modules it imports, type-only imports
  (``if TYPE_CHECKING:``) included, since a type cycle is a cycle a reader has to untangle too;
- layers: entry points (cli, scripts, benchmarks) over the generator (templates) over the
  project tools (stacks) and the policy pack (policies), which import neither each other, over
  the components, over the offline engine that runs a program under mocks (offline), which
  imports nothing of ours. An import may only run down; within a layer, packages are
  independent.

The generated project's own files (templates/client-project) are a different program and are
left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Top layer first; a package may import only packages of the layers below its own.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "scripts", "benchmarks"}),
    frozenset({"templates"}),
    frozenset({"stacks", "policies"}),
    frozenset({"components"}),
    frozenset({"offline"}),
)
PACKAGES = frozenset().union(*LAYERS)


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        single = ROOT / f"{package}.py"
        paths = [single] if single.is_file() else sorted((ROOT / package).rglob("*.py"))
        for path in paths:
            if "client-project" not in path.parts and "__pycache__" not in path.parts:
                found[_module(path)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports (the longest known prefix of each name)."""
    modules = _sources()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from package import submodule`` imports the submodule; any other name is
                # the package's (or module's) own.
                subs = [f"{node.module}.{a.name}" for a in node.names]
                names = [n for n in subs if n in modules]
                if len(names) < len(subs):
                    names.append(node.module)
            for name in names:
                if name.split(".")[0] not in PACKAGES:
                    continue
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(import_graph()) == []


def test_imports_only_run_down_the_layers() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if module.split(".")[0] != target.split(".")[0] and _layer(target) <= _layer(module)
    )
    assert upward == []


def test_the_reader_sees_a_cycle_and_an_upward_import() -> None:
    """The two checks can fail: a made-up graph with both is caught."""
    graph = {"stacks.a": {"templates.b"}, "templates.b": {"stacks.a"}}
    assert cycles(graph) == [["stacks.a", "templates.b"]]
    assert _layer("stacks.a") > _layer("templates.b")  # stacks.a -> templates.b runs up

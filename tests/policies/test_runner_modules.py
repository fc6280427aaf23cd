"""The offline runner forgets a project's own modules between runs, never installed packages.

A client's README creates the virtualenv inside the project (`.venv/`); its packages then live
under the project folder too, and a cloud SDK imported twice in one process fails ("Cannot
re-register package"). The runner must tell the two apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

from offline.program import run_stack


def _project(root: Path) -> Path:
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: venvinside\nruntime: python\nstackConfigDir: stacks\n")
    (root / "stacks" / "Pulumi.dev.yaml").write_text("config: {}\n")
    site = root / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "fakesdk_in_venv.py").write_text("REGISTERED = True\n")
    (root / "own_helper.py").write_text("VALUE = 1\n")
    (root / "__main__.py").write_text(
        f"import sys\nsys.path.insert(0, {str(site)!r})\nimport fakesdk_in_venv, own_helper\n"
    )
    return root


def test_installed_packages_inside_the_project_survive_a_run(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    try:
        run_stack(project, "dev")
        assert "fakesdk_in_venv" in sys.modules  # an installed package: kept
        assert "own_helper" not in sys.modules  # the project's own module: forgotten
        run_stack(project, "dev")  # and a second run imports cleanly
    finally:
        sys.modules.pop("fakesdk_in_venv", None)


def test_the_projects_vendored_packages_win_over_ones_already_imported(tmp_path: Path) -> None:
    # The CLI imports aideploy's own `components` before it checks a project that vendors its
    # own copy: the program must run the project's copy (what will really be deployed), and
    # the CLI's modules must be back afterwards.
    import components.spec as ours

    project = tmp_path / "vendored"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text(
        "name: vendored\nruntime: python\nstackConfigDir: stacks\n"
    )
    (project / "stacks" / "Pulumi.dev.yaml").write_text("config: {}\n")
    (project / "components").mkdir()
    (project / "components" / "__init__.py").write_text("")
    (project / "components" / "spec.py").write_text("WHERE = 'project'\n")
    (project / "__main__.py").write_text(
        "import pulumi\nfrom components import spec\npulumi.export('where', spec.WHERE)\n"
    )
    run = run_stack(project, "dev")
    assert run.outputs.get("where") == "project"
    assert sys.modules["components.spec"] is ours

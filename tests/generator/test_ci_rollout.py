"""The generated project's release helpers (ci/), run as the pipeline runs them.

``python -m ci.rollout decide`` is held to the shared vectors in every cloud's project; watch,
guard, rollback and the drill run in a generated project against a local double of
``components/<cloud>/release_watch.py`` (the contract the cloud engineers implement), swapped in
through ``ci.watchers.RELEASE_WATCH``; the rollback runs real git on a real repository and a
recording stand-in for the `pulumi` CLI that answers with recorded `pulumi preview --json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from components.registry import scaffolded
from components.spec import Cloud, Pattern
from templates.generator import generate
from tests.conftest import sample_answers

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "rollout_decisions.json").read_text())
CLOUDS = [c for c in Cloud if scaffolded(c, Pattern.API_FIRST)]

# The double of components/<cloud>/release_watch.py: standard library, driven by a JSON script
# (FAKE_WATCH), every call appended to FAKE_WATCH_LOG. Lists are consumed one item per call,
# the last item repeats; {"raise": "..."} raises.
FAKE_WATCH = """
import json, os
CLI_TOOLS = ("fakecli",)
_SCRIPT = os.environ["FAKE_WATCH"]

def _next(name, args):
    with open(os.environ["FAKE_WATCH_LOG"], "a") as log:
        log.write(json.dumps([name, args]) + "\\n")
    with open(_SCRIPT) as handle:
        script = json.load(handle)
    items = script[name]
    value = items.pop(0) if len(items) > 1 else items[0]
    with open(_SCRIPT, "w") as handle:
        json.dump(script, handle)
    if isinstance(value, dict) and "raise" in value:
        raise RuntimeError(value["raise"])
    return value

def observe(outputs, settings, minutes, *, client=None):
    return _next("observe", [dict(outputs), dict(settings), minutes])

def rolled_back(outputs, candidate_version, *, client=None):
    return _next("rolled_back", [dict(outputs), candidate_version])

def drain_candidate(outputs, *, client=None):
    return _next("drain_candidate", [dict(outputs)])
"""
# Runs one ci command in-process with the double in place of the cloud's module.
DRIVER = textwrap.dedent(
    """
    import sys
    import ci.watchers as w
    for cloud in w.RELEASE_WATCH:
        w.RELEASE_WATCH[cloud] = "fake_watch"
    module, argv = sys.argv[1], sys.argv[2:]
    main = __import__(module, fromlist=["main"]).main
    sys.exit(main(argv))
    """
)
ZERO = {"requests": 0, "errors_5xx": 0, "p99_ms": None}
HEALTHY = {"requests": 500, "errors_5xx": 0, "p99_ms": 120.0}
FAILING = {"requests": 500, "errors_5xx": 250, "p99_ms": 120.0}


def _generate(root: Path, cloud: Cloud) -> Path:
    answers = sample_answers(cloud, Pattern.API_FIRST, name=f"acme {cloud.value} rel", ci="github")
    return generate(answers, root / cloud.value, rng=random.Random(0)).path


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[Cloud, Path]:
    root = tmp_path_factory.mktemp("release")
    return {cloud: _generate(root, cloud) for cloud in CLOUDS}


@pytest.fixture
def project(projects: dict[Cloud, Path], tmp_path: Path) -> Path:
    """A scratch copy of the GCP project (the one whose endpoint_url is a base URL)."""
    copy = Path(shutil.copytree(projects[Cloud.GCP], tmp_path / "project"))
    (copy / "fake_watch.py").write_text(FAKE_WATCH)
    return copy


def _run(project: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, cwd=project,
        timeout=120, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def _script(tmp_path: Path, **calls: list[Any]) -> dict[str, str]:
    script, log = tmp_path / "script.json", tmp_path / "calls.jsonl"
    script.write_text(json.dumps(calls))
    log.write_text("")
    return {"FAKE_WATCH": str(script), "FAKE_WATCH_LOG": str(log)}


def _calls(env: dict[str, str]) -> list[list[Any]]:
    lines = Path(env["FAKE_WATCH_LOG"]).read_text().splitlines()
    return [json.loads(line) for line in lines]


def _ci(project: Path, env: dict[str, str], module: str, *argv: str
        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return _run(project, "-c", DRIVER, module, *argv, env=env)


def _observation(
    candidate: dict[str, Any], trigger: dict[str, Any] | None = None
) -> dict[str, Any]:
    settings = {"error_rate": 0.05, "latency_multiplier": 2.0, "min_requests": 20}
    obs: dict[str, Any] = {"candidate": candidate, "stable": HEALTHY, "settings": settings}
    if trigger is not None:
        obs["trigger"] = trigger
    return obs


def _outputs(project: Path, **extra: Any) -> Path:
    outputs = {
        "endpoint_url": "https://api.acme.example",
        "health_url": "https://api.acme.example/health",
        "rollback_alarms": ["acme-prod-canary-error-rate", "acme-prod-canary-starved"],
        **extra,
    }
    path = project / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def _set_rollout(project: Path, stack: str, **values: Any) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    key = next(k for k in data["config"] if k.endswith(":rollout"))
    data["config"][key].update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# ----------------------------------------------------------------------------- decide contract


@pytest.mark.parametrize("cloud", CLOUDS)
def test_decide_follows_every_shared_vector_in_every_clouds_project(
    projects: dict[Cloud, Path], cloud: Cloud
) -> None:
    project = projects[cloud]

    def decide(vector: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return _run(project, "-m", "ci.rollout", "decide", stdin=json.dumps(vector["input"]))

    with ThreadPoolExecutor(2) as pool:
        decided = list(pool.map(decide, VECTORS["decisions"]))
        refused = list(pool.map(decide, VECTORS["invalid"]))
    for vector, result in zip(VECTORS["decisions"], decided, strict=True):
        assert result.returncode == 0 and result.stderr == "", (vector["name"], result.stderr)
        out = json.loads(result.stdout)
        assert set(out) == {"action", "page", "reason"}
        assert (out["action"], out["page"]) == (vector["action"], vector["page"]), vector["name"]
    for vector, result in zip(VECTORS["invalid"], refused, strict=True):
        assert result.returncode == 2 and result.stdout == "", vector["name"]
        assert result.stderr.count("\n") == 1 and vector["error"] in result.stderr, result.stderr


def test_the_project_ships_the_vectors_and_a_test_that_holds_decide_to_them(
    projects: dict[Cloud, Path],
) -> None:
    project = projects[CLOUDS[0]]
    shipped = project / "tests" / "vectors" / "rollout_decisions.json"
    assert json.loads(shipped.read_text()) == VECTORS
    result = _run(project, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "tests/test_rollout_decide.py")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(VECTORS['decisions']) + len(VECTORS['invalid']) + 1} passed" in result.stdout


def test_no_alarm_name_or_key_is_matched_by_substring_in_ci(projects: dict[Cloud, Path]) -> None:
    """Review #10: the watch found alarms by `key in name`; names now come from outputs only."""
    text = "\n".join(p.read_text() for p in (projects[CLOUDS[0]] / "ci").glob("*.py"))
    for leftover in (
        "canary-error-rate",
        "canary-latency",
        "describe-alarms",
        "ROLLBACK_ALARM_KEYS",
    ):
        assert leftover not in text, leftover


# ----------------------------------------------------------------------------- watch


def test_watch_rolls_back_on_a_verified_firing_alarm_with_the_outputs_it_was_given(
    project: Path, tmp_path: Path
) -> None:
    firing = {"verified": True, "firing": True, "rule": "acme-prod-canary-error-rate"}
    env = _script(tmp_path, observe=[_observation(HEALTHY), _observation(FAILING, firing)])
    outputs = _outputs(project)
    result = _ci(project, env, "ci.rollout", "watch", "--stack", "prod", "--outputs",
                 str(outputs), "--minutes", "10", "--interval", "0")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("roll back: trigger 'acme-prod-canary-error-rate' fires")
    calls = _calls(env)
    assert [c[0] for c in calls] == ["observe", "observe"]
    # observe got the stack's outputs (the exact alarm names) and the prod stack's settings
    got_outputs, settings, _minutes = calls[0][1]
    assert got_outputs == json.loads(outputs.read_text())
    prod = yaml.safe_load((project / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    rollout = next(v for k, v in prod.items() if k.endswith(":rollout"))
    assert settings["error_rate"] == rollout.get("rollback_error_rate", 0.05)
    assert set(settings) == {"error_rate", "latency_multiplier", "min_requests"}


@pytest.mark.parametrize(
    ("observed", "code", "says"),
    [
        ([{"verified": False, "firing": True, "rule": "alarm state: 403"}], 3, "a person must act"),
        ([{"raise": "ExpiredToken"}], 3, "observe failed: RuntimeError: ExpiredToken"),
        ([{"candidate": "nonsense"}], 3, "malformed observation"),
    ],
)
def test_watch_pages_when_it_cannot_verify_and_never_rolls_back(
    project: Path, tmp_path: Path, observed: list[Any], code: int, says: str
) -> None:
    items = [o if "raise" in o or "candidate" in o else _observation(FAILING, o) for o in observed]
    env = _script(tmp_path, observe=items)
    result = _ci(project, env, "ci.rollout", "watch", "--stack", "prod", "--outputs",
                 str(_outputs(project)), "--minutes", "10", "--interval", "0")  # fmt: skip
    assert result.returncode == code and says in result.stdout, result.stdout + result.stderr
    assert "roll back" not in result.stdout


def test_watch_holds_until_the_bake_passes_when_nothing_breaches(
    project: Path, tmp_path: Path
) -> None:
    resolved = {"verified": True, "firing": False, "rule": "acme-prod-canary-error-rate"}
    env = _script(tmp_path, observe=[_observation(ZERO), _observation(HEALTHY, resolved)])
    outputs = str(_outputs(project, health_url=""))
    result = _ci(project, env, "ci.rollout", "watch", "--stack", "prod", "--outputs", outputs,
                 "--minutes", "0", "--interval", "0")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "watch period of 0 min passed after 1 checks: no rollback" in result.stdout


class _Health(BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {"statuses": [200]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health", handler
    server.shutdown()
    server.server_close()


def test_health_probes_count_only_5xx_and_timeouts_as_failures(
    projects: dict[Cloud, Path], health_server: tuple[str, type[_Health]]
) -> None:
    url, handler = health_server
    probe = (
        "import sys, ci.rollout as r\n"
        "print(*[r.probe(sys.argv[1], timeout=2) for _ in range(int(sys.argv[2]))])\n"
    )
    handler.statuses = [200, 404, 403, 500, 503, 200]
    result = _run(projects[CLOUDS[0]], "-c", probe, url, "6")
    assert result.stdout.split() == ["True", "None", "None", "False", "False", "True"]
    # Probes of both versions at once cannot prove the candidate fails: hold and page.
    script = (
        "import sys, ci.rollout as r\n"
        "p = r.Probes()\n"
        "for x in (True, None, None, False, False): p.add(x)\n"
        "why = p.breach(0.05)\n"
        "s = {'error_rate': 0.05, 'latency_multiplier': 2, 'min_requests': 20}\n"
        "d = r.unverifiable(why, s)\n"
        "print(why, '|', d.action.value, d.page)\n"
    )
    out = _run(projects[CLOUDS[0]], "-c", script).stdout
    assert out.strip() == "health_url probes: 2/5 answered 5xx or timed out | hold True"


# ----------------------------------------------------------------------------- guard (E8)


def test_guard_refuses_a_rolled_back_candidate_until_retry_version_names_it(
    project: Path, tmp_path: Path
) -> None:
    def guard(rolled: list[Any]) -> subprocess.CompletedProcess[str]:
        env = _script(tmp_path, rolled_back=rolled)
        return _ci(project, env, "ci.rollout", "guard", "--stack", "prod", "--outputs",
                   str(_outputs(project)))  # fmt: skip

    no_candidate = guard([True])
    assert no_candidate.returncode == 0 and "has no candidate" in no_candidate.stdout
    _set_rollout(project, "prod", candidate_version="2.0.0",
                 candidate_image=_image(project, "2.0.0"))  # fmt: skip
    assert guard([False]).returncode == 0
    refused = guard([True])
    assert refused.returncode == 1 and refused.stdout.count("\n") == 1, refused.stdout
    assert "candidate 2.0.0 was rolled back" in refused.stdout
    assert "rollout.retry_version: 2.0.0" in refused.stdout
    unknown = guard([{"raise": "AccessDenied"}])
    assert unknown.returncode == 1 and "could not read" in unknown.stdout
    _set_rollout(project, "prod", retry_version="2.0.0")
    assert guard([True]).returncode == 0


def _image(project: Path, tag: str) -> str:
    prod = yaml.safe_load((project / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    image = str(next(v for k, v in prod.items() if k.endswith(":model"))["image"])
    if "@sha256:" in image:  # kubernetes takes images by digest only: one per tag
        digest = hashlib.sha256(tag.encode()).hexdigest()
        return f"{image.split('@', 1)[0]}@sha256:{digest}"
    return image.rsplit(":", 1)[0] + ":" + tag


# ----------------------------------------------------------------------------- rollback

# A stand-in for the pulumi CLI: records its arguments and the tree it ran in, answers
# `stack tag get` and `preview --json` from files the test writes.
FAKE_PULUMI = """#!{python}
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
cwd = Path(args[args.index("--cwd") + 1]) if "--cwd" in args else Path.cwd()
record = {{"args": args, "cwd": str(cwd)}}
if "--cwd" in args:
    record["marker"] = (cwd / "components" / "marker.txt").read_text()
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
if args[:3] == ["stack", "tag", "get"]:
    tag = os.environ.get("FAKE_PULUMI_TAG", "")
    print(tag) if tag else sys.exit("error: stack tag not found")
elif args[0] == "preview":
    print(Path(os.environ["FAKE_PULUMI_PREVIEW"]).read_text())
"""


def _step(op: str, token: str, name: str) -> dict[str, Any]:
    urn = f"urn:pulumi:prod::acme::aideploy:gcp:ApiFirst${token}::{name}"
    state = {"urn": urn, "type": token, "custom": True}
    return {"op": op, "urn": urn, "oldState": state, "newState": state}


# Recorded shapes of `pulumi preview --json` (PreviewDigest: steps with op/urn/old and new state).
SAFE_PREVIEW = {
    "steps": [
        _step("same", "gcp:storage/bucket:Bucket", "logs"),
        _step("update", "gcp:cloudrunv2/service:Service", "serving"),
        _step("replace", "gcp:compute/urlMap:URLMap", "split"),
        _step("delete", "gcp:cloudrunv2/service:Service", "canary"),
    ],
    "changeSummary": {"same": 1, "update": 1, "replace": 1, "delete": 1},
}
DESTRUCTIVE_PREVIEW = {
    "steps": [
        _step("update", "gcp:cloudrunv2/service:Service", "serving"),
        _step("create-replacement", "gcp:kms/cryptoKey:CryptoKey", "key"),
        _step("replace", "gcp:kms/cryptoKey:CryptoKey", "key"),
        _step("delete-replaced", "gcp:kms/cryptoKey:CryptoKey", "key"),
        _step("delete", "gcp:storage/bucket:Bucket", "results"),
    ],
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


@pytest.fixture
def repo(project: Path, tmp_path: Path) -> dict[str, Any]:
    """The project as a git repository: commit `good` (recorded), then `bad` (the release)."""
    marker = project / "components" / "marker.txt"
    marker.write_text("good")
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "good")
    good = _git(project, "rev-parse", "HEAD")
    marker.write_text("bad")
    _git(project, "commit", "-qam", "bad")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pulumi = bin_dir / "pulumi"
    pulumi.write_text(FAKE_PULUMI.format(python=sys.executable))
    pulumi.chmod(0o755)
    preview = tmp_path / "preview.json"
    env = {
        **_script(tmp_path, drain_candidate=["all traffic on the stable revision"]),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_PULUMI_LOG": str(tmp_path / "pulumi.jsonl"),
        "FAKE_PULUMI_TAG": good,
        "FAKE_PULUMI_PREVIEW": str(preview),
    }
    Path(env["FAKE_PULUMI_LOG"]).write_text("")
    return {"env": env, "good": good, "preview": preview, "project": project}


def _pulumi_calls(env: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(env["FAKE_PULUMI_LOG"]).read_text().splitlines()]


def test_rollback_drains_first_then_returns_the_whole_tree_when_the_preview_is_safe(
    repo: dict[str, Any],
) -> None:
    project, env = repo["project"], repo["env"]
    repo["preview"].write_text(json.dumps(SAFE_PREVIEW))
    result = _ci(project, env, "ci.rollout", "rollback", "--stack", "prod", "--outputs",
                 str(_outputs(project)))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "all traffic on the stable revision"  # traffic first
    assert lines[-1].startswith(f"returned prod to {repo['good']}")
    assert [c[0] for c in _calls(env)] == ["drain_candidate"]
    calls = _pulumi_calls(env)
    assert calls[0]["args"][:4] == ["stack", "tag", "get", "aideploy:last-deployed-commit"]
    preview, up = calls[1], calls[2]
    assert preview["args"][:2] == ["preview", "--json"] and up["args"][:2] == ["up", "--yes"]
    # the whole tree of the recorded commit, not the release's code with an old stack file
    assert preview["marker"] == up["marker"] == "good"
    assert preview["cwd"] == up["cwd"] != str(project)
    for call in (preview, up):
        args = call["args"]
        assert args[args.index("--policy-pack-config") + 1].endswith("policies/config/prod.json")
    # the workspace is left as it was
    assert (project / "components" / "marker.txt").read_text() == "bad"
    assert _git(project, "worktree", "list").count("\n") == 0


def test_rollback_stops_and_pages_when_the_preview_destroys_a_stateful_resource(
    repo: dict[str, Any],
) -> None:
    project, env = repo["project"], repo["env"]
    repo["preview"].write_text(json.dumps(DESTRUCTIVE_PREVIEW))
    result = _ci(project, env, "ci.rollout", "rollback", "--stack", "prod", "--outputs",
                 str(_outputs(project)))  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith("a person must act now: returning prod to")
    assert "replace gcp:kms/cryptoKey:CryptoKey key" in last
    assert "delete gcp:storage/bucket:Bucket results" in last
    assert not any(c["args"][0] == "up" for c in _pulumi_calls(env))


def test_rollback_without_a_recorded_commit_pages_after_draining(repo: dict[str, Any]) -> None:
    project, env = repo["project"], {**repo["env"], "FAKE_PULUMI_TAG": ""}
    result = _ci(project, env, "ci.rollout", "rollback", "--stack", "prod", "--outputs",
                 str(_outputs(project)))  # fmt: skip
    assert result.returncode == 3 and "has no aideploy:last-deployed-commit tag" in result.stdout
    assert [c[0] for c in _calls(env)] == ["drain_candidate"]


# ----------------------------------------------------------------------------- issue 10 review


def test_watch_pages_when_a_candidate_has_no_rollback_alarms_to_watch(
    project: Path, tmp_path: Path
) -> None:
    """Outputs captured before `up` name no alarm: the watch must not pass over nothing."""
    _set_rollout(project, "prod", candidate_version="2.0.0",
                 candidate_image=_image(project, "2.0.0"))  # fmt: skip
    env = _script(tmp_path, observe=[_observation(HEALTHY)])
    outputs = _outputs(project, rollback_alarms=[])
    result = _ci(project, env, "ci.rollout", "watch", "--stack", "prod", "--outputs",
                 str(outputs), "--minutes", "0", "--interval", "0")  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert "outputs list no rollback_alarms" in result.stdout and _calls(env) == []


def test_rollback_with_empty_outputs_and_a_candidate_says_so_and_pages(
    repo: dict[str, Any],
) -> None:
    project, env = repo["project"], repo["env"]
    repo["preview"].write_text(json.dumps(SAFE_PREVIEW))
    empty = project / "empty.json"
    empty.write_text("{}")
    args = ("ci.rollout", "rollback", "--stack", "prod", "--outputs", str(empty))
    without = _ci(project, env, *args)  # no candidate: nothing to drain, the return suffices
    assert without.returncode == 0, without.stdout + without.stderr
    _set_rollout(project, "prod", candidate_version="2.0.0",
                 candidate_image=_image(project, "2.0.0"))  # fmt: skip
    result = _ci(project, env, *args)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "could not move traffic to stable: stack prod has no outputs" in result.stdout
    assert _calls(env) == []


def test_rollback_watch_and_guard_read_the_outputs_themselves_without_outputs(
    repo: dict[str, Any], tmp_path: Path
) -> None:
    """The runbook's `python -m ci.rollout rollback --stack prod` (no --outputs) works."""
    project, env = repo["project"], repo["env"]
    repo["preview"].write_text(json.dumps(SAFE_PREVIEW))
    outputs = json.loads(_outputs(project).read_text())
    fake = Path(env["PATH"].split(os.pathsep)[0]) / "pulumi"
    fake.write_text(fake.read_text().replace(
        'elif args[0] == "preview":',
        f'elif args[:2] == ["stack", "output"]:\n    print({json.dumps(json.dumps(outputs))})\n'
        'elif args[0] == "preview":',
    ))  # fmt: skip
    result = _ci(project, env, "ci.rollout", "rollback", "--stack", "prod")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _calls(env) == [["drain_candidate", [outputs]]]
    fetched = _pulumi_calls(env)[0]["args"]
    assert fetched == ["stack", "output", "--stack", "prod", "--json", "--show-secrets"]
    guard = _ci(project, env, "ci.rollout", "guard", "--stack", "prod")
    assert guard.returncode == 0 and "has no candidate" in guard.stdout


@pytest.mark.parametrize("command", [["rollback"], ["guard"], ["watch", "--minutes", "0"]])
def test_a_missing_pulumi_or_git_is_one_line_and_exit_3(
    project: Path, tmp_path: Path, command: list[str]
) -> None:
    _set_rollout(project, "prod", candidate_version="2.0.0",
                 candidate_image=_image(project, "2.0.0"))  # fmt: skip
    env = {**_script(tmp_path, drain_candidate=["drained"], rolled_back=[False]),
           "PATH": str(tmp_path / "nothing")}  # fmt: skip
    result = _ci(project, env, "ci.rollout", command[0], "--stack", "prod", *command[1:])
    assert result.stderr == "", result.stderr
    assert result.returncode == 3, result.stdout  # the guard's 3 refuses the `up` too
    assert result.stdout.count("\n") == 1 and "`pulumi` is not installed" in result.stdout
    assert "Traceback" not in result.stdout


# ----------------------------------------------------------------------------- drill traffic


@pytest.mark.parametrize(
    ("min_requests", "canary", "rate"), [(20, 10, 10.0), (20, 1, 100.0), (30, 50, 3.0)]
)
def test_the_drill_rate_gives_the_candidate_three_times_the_volume_guard(
    projects: dict[Cloud, Path], min_requests: int, canary: float, rate: float
) -> None:
    script = (
        "import sys, ci.drill as d\n"
        "r = d.drill_rate(int(sys.argv[1]), float(sys.argv[2]))\n"
        "print(r, r * 60 * float(sys.argv[2]) / 100)\n"
    )
    out = _run(projects[CLOUDS[0]], "-c", script, str(min_requests), str(canary)).stdout.split()
    assert float(out[0]) == pytest.approx(rate)
    assert float(out[1]) == pytest.approx(3 * min_requests)  # candidate requests a minute
    too_high = _run(projects[CLOUDS[0]], "-c", script, "1000", "1")
    assert too_high.returncode != 0 and "above its bound" in too_high.stderr


class _Predict(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        __import__("time").sleep(0.2)  # a slow model: one thread alone would reach 5/s
        body = b'{"prediction": "x"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_the_drill_sender_reaches_its_rate_against_a_slow_local_double(
    projects: dict[Cloud, Path],
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Predict)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = (
            "import sys, time, ci.drill as d\n"
            "t = d.Traffic(sys.argv[1], {}, 40.0)\n"
            "t.start(); time.sleep(2.0); t.stop()\n"
            "print(t.counts.get(200, 0), t.sent())\n"
        )
        url = f"http://127.0.0.1:{server.server_address[1]}/predict"
        result = _run(projects[CLOUDS[0]], "-c", script, url)
        ok, sent = map(int, result.stdout.split())
        assert ok == sent and sent >= 60, result.stdout + result.stderr  # 40/s x 2 s, margin
        assert sent <= 40 * 2 + 33  # bounded: the schedule, plus at most one slot per worker
    finally:
        server.shutdown()
        server.server_close()

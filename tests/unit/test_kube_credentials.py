"""The CI's way into a client's cluster: ci/kube_credentials.py of the generated project.

The module is plain Python in the template (no Jinja), loaded here from its template path. The
kubeconfig it writes is exercised the way client-go uses it: the test runs the exec plugin's
own command line from the written file and reads the ExecCredential it prints.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import stat
import subprocess  # nosec B404 - runs this interpreter on a file of the repository
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SOURCE = (
    Path(__file__).resolve().parents[2]
    / "templates/client-project/{{cookiecutter.project_slug}}/ci/kube_credentials.py"
)
AUDIENCE = "kubernetes-acme-onprem"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kube_credentials", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kube_credentials"] = module
    spec.loader.exec_module(module)
    return module


kc = _load()


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT with ``claims`` (the plugin never verifies; the API server does)."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def github_env(**extra: str) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.actions.example/req?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-bearer",
        "KUBE_OIDC_AUDIENCE": AUDIENCE,
        **extra,
    }


def test_github_requests_a_fresh_token_for_the_audience_and_expires_before_it() -> None:
    exp = int(time.time()) + 300
    seen: list[urllib.request.Request] = []

    def fetch(request: urllib.request.Request) -> bytes:
        seen.append(request)
        return json.dumps({"value": jwt({"aud": AUDIENCE, "exp": exp})}).encode()

    credential = kc.token_credential(github_env(), fetch)
    credential_again = kc.token_credential(github_env(), fetch)
    assert len(seen) == 2  # every call is a new token: a long `pulumi up` keeps working
    url = seen[0].full_url
    assert url.startswith("https://token.actions.example/req?api-version=2.0&audience=")
    assert f"audience={AUDIENCE}" in url
    assert seen[0].get_header("Authorization") == "bearer runner-bearer"
    assert credential == credential_again
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1"
    assert credential["kind"] == "ExecCredential"
    expires = datetime.strptime(
        credential["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"
    ).replace(tzinfo=timezone.utc)
    assert expires.timestamp() == exp - kc.EXPIRY_MARGIN.total_seconds()


def test_gitlab_hands_on_the_jobs_id_token() -> None:
    token = jwt({"aud": [AUDIENCE, "other"], "exp": int(time.time()) + 3600})
    env = {"GITLAB_CI": "true", "KUBE_OIDC_AUDIENCE": AUDIENCE, "CLOUD_OIDC_TOKEN": token}
    assert kc.token_credential(env)["status"]["token"] == token


@pytest.mark.parametrize(
    ("env", "fetched", "message"),
    [
        ({"KUBE_OIDC_AUDIENCE": AUDIENCE}, None, "not a GitHub Actions or GitLab CI job"),
        (github_env(KUBE_OIDC_AUDIENCE=""), None, "KUBE_OIDC_AUDIENCE is not set"),
        (
            {k: v for k, v in github_env().items() if k != "ACTIONS_ID_TOKEN_REQUEST_URL"},
            None,
            "id-token: write",
        ),
        (github_env(), {"aud": "sts.amazonaws.com", "exp": 4102444800}, "not 'kubernetes-"),
        (github_env(), {"aud": AUDIENCE, "exp": 1000}, "has expired"),
        (github_env(), {"aud": AUDIENCE}, "no expiry"),
        (github_env(), "not-a-jwt", "not a JWT"),
        ({"GITLAB_CI": "true", "KUBE_OIDC_AUDIENCE": AUDIENCE}, None, "id_tokens"),
    ],
)
def test_refusals_are_one_line(
    env: dict[str, str], fetched: Any, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def fetch(request: urllib.request.Request) -> bytes:
        value = fetched if isinstance(fetched, str) else jwt(fetched)
        return json.dumps({"value": value}).encode()

    with pytest.raises(kc.CredentialError, match=message):
        kc.token_credential(env, fetch)


def test_a_refused_request_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(request: urllib.request.Request) -> bytes:
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, None)  # type: ignore[arg-type]

    assert kc.main(["token"], github_env(), refuse) == 1
    out, err = capsys.readouterr()
    assert out == ""  # nothing a client could take for a credential
    assert err == "kube_credentials: GitHub refused the OIDC token request: HTTP 403\n"


def test_the_written_kubeconfig_runs_its_own_plugin(tmp_path: Path) -> None:
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    out = tmp_path / "kube" / "config"
    env = {"KUBE_SERVER": "https://api.dc-paris.example:6443", "KUBE_CA_DATA": ca.decode()}
    assert kc.main(["kubeconfig", str(out), "--context", "acme-onprem-prod"], env) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    config = json.loads(out.read_text())
    assert config["current-context"] == "acme-onprem-prod"
    (context,) = config["contexts"]
    (cluster,) = config["clusters"]
    (user,) = config["users"]
    assert context["name"] == cluster["name"] == "acme-onprem-prod"
    assert context["context"] == {"cluster": cluster["name"], "user": user["name"]}
    assert cluster["cluster"] == {
        "server": env["KUBE_SERVER"],
        "certificate-authority-data": env["KUBE_CA_DATA"],
    }
    plugin = user["user"]["exec"]
    assert plugin["apiVersion"] == "client.authentication.k8s.io/v1"
    assert plugin["interactiveMode"] == "Never"  # required by the v1 exec API
    # What client-go does: run command + args from another directory, read stdout.
    token = jwt({"aud": AUDIENCE, "exp": int(time.time()) + 600})
    run_env = {
        "PATH": os.environ.get("PATH", ""),
        "GITLAB_CI": "true",
        "KUBE_OIDC_AUDIENCE": AUDIENCE,
        "CLOUD_OIDC_TOKEN": token,
        "KUBERNETES_EXEC_INFO": json.dumps(
            {"apiVersion": plugin["apiVersion"], "kind": "ExecCredential", "spec": {}}
        ),
    }
    done = subprocess.run(  # nosec B603 - fixed argv from the file under test
        [plugin["command"], *plugin["args"]],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["status"]["token"] == token
    assert printed["kind"] == "ExecCredential"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "KUBE_SERVER is not set"),
        ({"KUBE_SERVER": "http://api:6443"}, "must be an https URL"),
        ({"KUBE_SERVER": "https://api:6443", "KUBE_CA_DATA": "not base64!"}, "not base64"),
    ],
)
def test_kubeconfig_refusals_write_nothing(
    tmp_path: Path, env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "config"
    assert kc.main(["kubeconfig", str(out), "--context", "c"], env) == 1
    assert not out.exists()
    assert message in capsys.readouterr().err


def test_vault_login_uses_the_same_token_and_prints_only_the_vault_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    oidc = jwt({"aud": AUDIENCE, "exp": int(time.time()) + 600})
    sent: list[urllib.request.Request] = []

    def vault(request: urllib.request.Request) -> bytes:
        sent.append(request)
        return json.dumps({"auth": {"client_token": "hvs.CAES-example"}}).encode()

    env = {
        "GITLAB_CI": "true",
        "KUBE_OIDC_AUDIENCE": AUDIENCE,
        "CLOUD_OIDC_TOKEN": oidc,
        "VAULT_SERVER_URL": "https://vault.acme.example:8200/",
        "VAULT_ROLE": "acme-support-production",
    }
    assert kc.main(["vault-token"], env, vault) == 0
    assert capsys.readouterr().out == "hvs.CAES-example\n"
    (request,) = sent
    assert request.full_url == "https://vault.acme.example:8200/v1/auth/jwt/login"
    assert request.get_method() == "POST"
    assert json.loads(request.data) == {"role": "acme-support-production", "jwt": oidc}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "answer", "message"),
    [
        ({"VAULT_SERVER_URL": "http://vault:8200"}, None, "must be an https URL"),
        ({"VAULT_ROLE": ""}, None, "VAULT_ROLE is not set"),
        ({"VAULT_AUTH_PATH": "jwt/../sys"}, None, "not a Vault mount path"),
        ({}, 400, "Vault refused the JWT login: HTTP 400"),
        ({}, {"errors": ["role not found"]}, "without a token"),
    ],
)
def test_vault_refusals_are_one_line(extra: dict[str, str], answer: Any, message: str) -> None:
    def vault(request: urllib.request.Request) -> bytes:
        if isinstance(answer, int):
            raise urllib.error.HTTPError(request.full_url, answer, "Bad", {}, None)  # type: ignore[arg-type]
        return json.dumps(answer).encode()

    env = {
        "GITLAB_CI": "true",
        "KUBE_OIDC_AUDIENCE": AUDIENCE,
        "CLOUD_OIDC_TOKEN": jwt({"aud": AUDIENCE, "exp": int(time.time()) + 600}),
        "VAULT_SERVER_URL": "https://vault.acme.example:8200",
        "VAULT_ROLE": "r",
        **extra,
    }
    with pytest.raises(kc.CredentialError, match=message):
        kc.vault_token(env, vault)


def _pem(name: str) -> str:
    return f"-----BEGIN CERTIFICATE-----\n{name}\n-----END CERTIFICATE-----\n"


def test_the_ca_bundle_adds_the_clients_ca_to_the_systems(tmp_path: Path) -> None:
    system = tmp_path / "system.pem"
    system.write_text(_pem("PUBLIC-ROOT"))
    client = base64.b64encode(_pem("ACME-INTERNAL").encode()).decode()
    bundle = kc.ca_bundle({"CLIENT_CA_DATA": client}, system)
    assert bundle == _pem("PUBLIC-ROOT") + _pem("ACME-INTERNAL")
    # without a client CA: the system's alone (the job exports SSL_CERT_FILE either way)
    assert kc.ca_bundle({}, system) == _pem("PUBLIC-ROOT")
    # Python's own TLS clients load it (the Vault login, the smoke tests' urllib)
    out = tmp_path / "bundle.pem"
    out.write_text(kc.ca_bundle({}, kc.SYSTEM_BUNDLE if kc.SYSTEM_BUNDLE.exists() else system))
    if kc.SYSTEM_BUNDLE.exists():
        import ssl

        ssl.create_default_context(cafile=str(out))


@pytest.mark.parametrize(
    ("data", "message"),
    [("not base64!", "not base64"), (base64.b64encode(b"hello").decode(), "no PEM certificate")],
)
def test_a_bad_client_ca_is_one_line(
    tmp_path: Path, data: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle.pem"
    assert kc.main(["ca-bundle", str(out)], {"CLIENT_CA_DATA": data}) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


# -- the seam with the pipelines: every variable the module reads is one the job has --------
READ = re.compile(r'(?:_require\(\w+, |\.get\()"([A-Z][A-Z0-9_]+)"')
# Set by the CI system itself (GitHub: in jobs with `id-token: write`).
RUNNER_SET = {
    "github": {"GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"},
    "gitlab": {"GITLAB_CI"},
}
# Read with a default: documented in the module, never required.
OPTIONAL = {"VAULT_AUTH_PATH", "CLIENT_CA_DATA"}


def _project(tmp_path: Path, ci: str) -> Path:
    from components.spec import Cloud, Pattern
    from templates.answers import example_answers
    from templates.generator import generate

    answers = example_answers(Cloud.KUBERNETES, Pattern.API_FIRST, ci=ci)
    return generate(answers, tmp_path / ci).path


def test_every_variable_it_reads_is_set_where_it_runs(tmp_path: Path) -> None:
    import yaml

    read = set(READ.findall(SOURCE.read_text()))
    assert {"KUBE_OIDC_AUDIENCE", "KUBE_SERVER", "VAULT_ROLE", "CLOUD_OIDC_TOKEN"} <= read
    assert "VAULT_AUTH_PATH" in read and 'get("VAULT_AUTH_PATH") or "jwt"' in SOURCE.read_text()
    # GitHub: the plugin runs inside any later step (pulumi up), so what `token` reads must be
    # in the job's env; the login step's own env adds what only the login needs.
    project = _project(tmp_path, "github")
    jobs_seen = 0
    for path in (project / ".github" / "workflows").glob("*.yml"):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            logins = [
                s
                for s in job.get("steps", [])
                if "kube_credentials.py kubeconfig" in s.get("run", "")
            ]
            if not logins:
                continue
            jobs_seen += 1
            job_env = set(job.get("env") or {}) | RUNNER_SET["github"]
            token_reads = {"KUBE_OIDC_AUDIENCE", "GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL"}
            assert token_reads <= job_env, (path.name, name)
            for step in logins:
                missing = read - OPTIONAL - {"CLOUD_OIDC_TOKEN", "GITLAB_CI"}
                missing -= job_env | set(step.get("env") or {})
                assert not missing, (path.name, name, missing)
                assert job.get("permissions", {}).get("id-token") == "write", (path.name, name)
    assert jobs_seen >= 5  # previews, deploys, the drill
    # GitLab: the job's ID token under the name the module reads, the rest CI/CD variables the
    # client sets (docs/ci.md) or bootstrap prints.
    project = _project(tmp_path, "gitlab")
    ci = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert "CLOUD_OIDC_TOKEN" in ci[".cloud"]["id_tokens"]
    documented = set(re.findall(r"\| `([A-Z0-9_]+)` \|", (project / "docs" / "ci.md").read_text()))
    missing = read - OPTIONAL - RUNNER_SET["gitlab"] - {"CLOUD_OIDC_TOKEN"} - RUNNER_SET["github"]
    assert missing <= documented, missing - documented

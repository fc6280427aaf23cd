"""The hosted-LLM client a generated project ships (model/llm.py, model/cloud_auth.py), held
against local doubles of Bedrock, Azure OpenAI and Vertex AI and of their credential endpoints.

Projects are generated with ``--llm hosted`` on each cloud (templates.generator). The doubles
answer over real HTTP on 127.0.0.1 with the recorded answers the generated project's own tests
hold (tests/test_hosted_llm.py, from templates/model-contract/tests/hosted-<cloud>.py), plus
transport failures (timeouts, unreadable bodies, a closed port). Asserted on both sides:

- what each client sends: the path, the guardrail attached (guardrailConfig with the stack's id
  and version, the Model Armor template on prompt and response, the deployment and a GA API
  version), the credentials (SigV4 that matches AWS's published test vectors and botocore's
  signer on the very request the double received; the managed identity's and the metadata
  server's bearer tokens, fetched once and cached);
- what each answer becomes: the completion, Blocked(prompt/response, reasons), Unavailable;
- through the real server: the HTTP answer the brief decided per outcome, one
  guardrail_blocked log line per blocked call, and no prompt or answer text in any log line.
"""

from __future__ import annotations

import http.client
import importlib
import importlib.util
import json
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from unittest import mock

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from components import llm as contract
from components.spec import Cloud, Pattern
from templates.answers import example_answers
from templates.generator import generate
from tests.conftest import generated_package

# The regions where each cloud offers its hosted model with the guardrail (components/llm.py).
HOSTED_REGION = {Cloud.AWS: "eu-west-1", Cloud.AZURE: "westeurope", Cloud.GCP: "europe-west4"}
CLOUDS = tuple(HOSTED_REGION)
MODEL_FILES = ("llm.py", "cloud_auth.py")
# AWS's published SigV4 test suite (aws-sig-v4-test-suite): credentials, scope and time shared
# by every case; (name, method, url, expected signature).
VECTOR_KEY = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
VECTOR_TIME = datetime(2015, 8, 30, 12, 36, 0, tzinfo=timezone.utc)
VECTORS = (
    (
        "get-vanilla",
        "GET",
        "https://example.amazonaws.com/",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    (
        "post-vanilla",
        "POST",
        "https://example.amazonaws.com/",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    (
        "get-vanilla-query-order-key-case",
        "GET",
        "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
)
AUTH_RE = (
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<day>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
ACCESS_KEY, SECRET_KEY, SESSION_TOKEN = "ASIAEXAMPLETASKROLE", "task/role+secret", "session=="
ECS_AUTH_TOKEN = "ecs-agent-token"
IDENTITY_HEADER, CLIENT_ID = "identity-secret", "00000000-0000-0000-0000-00000000c1d1"
MSI_TOKEN, GCP_TOKEN = "msi-access-token", "gcp-access-token"


# -- the projects ------------------------------------------------------------------------------
def _generate(root: Path, cloud: Cloud, mode: contract.LlmMode) -> Path:
    answers = example_answers(cloud, Pattern.API_FIRST, llm=mode, region=HOSTED_REGION[cloud])
    target = root / f"{cloud.value}-{mode.value}"
    generate(answers, target, rng=random.Random(7))
    return target


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hosted projects per cloud, plus an AWS project without an LLM and a self-hosted one."""
    root = tmp_path_factory.mktemp("hosted")
    found = {c.value: _generate(root, c, contract.LlmMode.HOSTED) for c in CLOUDS}
    found["none"] = _generate(root, Cloud.AWS, contract.LlmMode.NONE)
    found["self-hosted"] = _generate(root, Cloud.AWS, contract.LlmMode.SELF_HOSTED)
    return found


@pytest.fixture(scope="module")
def model(projects: dict[str, Path]) -> Iterator[SimpleNamespace]:
    """The AWS hosted project's model package, imported (the same files on every cloud)."""
    names = ("predictor", "llm", "cloud_auth", "guardrail", "server", "settings")
    with generated_package(projects["aws"], names) as package:
        yield package


@pytest.fixture(scope="module")
def recorded(projects: dict[str, Path], model: SimpleNamespace) -> dict[str, ModuleType]:
    """Each hosted project's own tests/test_hosted_llm.py: its recorded answers and env."""
    found = {}
    for cloud in CLOUDS:
        path = projects[cloud.value] / "tests" / "test_hosted_llm.py"
        spec = importlib.util.spec_from_file_location(f"hosted_answers_{cloud.value}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found[cloud.value] = module
    return found


@pytest.fixture(autouse=True)
def _fresh_credentials(model: SimpleNamespace) -> Iterator[None]:
    model.cloud_auth.clear_caches()
    yield
    model.cloud_auth.clear_caches()


# -- the double --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seen:
    """One request the double received, as it arrived."""

    method: str
    path: str  # percent-encoded, as sent
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


@dataclass
class Double:
    """A model service and its credential endpoints on 127.0.0.1."""

    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    # The model service's next answers: (status, body bytes, seconds to wait first).
    script: list[tuple[int, bytes, float]] = field(default_factory=list)
    # Seconds the AWS credentials the double hands out stay valid.
    credential_seconds: int = 3600
    credential_status: int = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, status: int, document: Any, delay: float = 0.0) -> None:
        self.script.append((status, json.dumps(document).encode(), delay))

    def raw(self, status: int, body: bytes, delay: float = 0.0) -> None:
        self.script.append((status, body, delay))

    def calls(self, method: str = "POST") -> list[Seen]:
        return [s for s in self.seen if s.method == method]

    def credential_calls(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "GET"]

    def respond(self, seen: Seen) -> tuple[int, bytes, str, float]:
        self.seen.append(seen)
        if seen.method == "GET":
            return (*self._credentials(seen.path), 0.0)
        if not self.script:
            return 500, b'{"message": "no scripted answer"}', "application/json", 0.0
        status, body, delay = self.script.pop(0)
        return status, body, "application/json", delay

    def _credentials(self, path: str) -> tuple[int, bytes, str]:
        now = time.time()
        if path == "/aws-credentials":
            expires = datetime.fromtimestamp(now + self.credential_seconds, timezone.utc)
            document: dict[str, Any] = {
                "AccessKeyId": ACCESS_KEY,
                "SecretAccessKey": SECRET_KEY,
                "Token": SESSION_TOKEN,
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "RoleArn": "arn:aws:iam::123456789012:role/serving",
            }
        elif path == "/msi":
            document = {
                "access_token": MSI_TOKEN,
                "expires_on": str(int(now) + 3600),
                "resource": "https://cognitiveservices.azure.com",
                "token_type": "Bearer",
                "client_id": CLIENT_ID,
            }
        elif path.endswith("/service-accounts/default/token"):
            document = {"access_token": GCP_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
        else:
            return 404, b"{}", "application/json"
        return self.credential_status, json.dumps(document).encode(), "application/json"


def _handler(double: Double) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(
                self.command,
                path,
                dict(urllib.parse.parse_qsl(query)),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            status, body, kind, delay = double.respond(seen)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (a timeout test)
                pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def double() -> Iterator[Double]:
    state = Double()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def env_for(cloud: str, recorded: dict[str, ModuleType], double: Double) -> dict[str, str]:
    """The project's stack environment, its service and credentials pointed at the double."""
    env: dict[str, str] = recorded[cloud].stack_env()
    if cloud == "aws":
        env.update(
            BEDROCK_ENDPOINT_URL=double.url,
            AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{double.url}/aws-credentials",
            AWS_CONTAINER_AUTHORIZATION_TOKEN=ECS_AUTH_TOKEN,
        )
    elif cloud == "azure":
        env.update(
            LLM_ENDPOINT=double.url,
            IDENTITY_ENDPOINT=f"{double.url}/msi",
            IDENTITY_HEADER=IDENTITY_HEADER,
            AZURE_CLIENT_ID=CLIENT_ID,
        )
    else:
        env.update(VERTEX_ENDPOINT_URL=double.url, GCE_METADATA_HOST=f"127.0.0.1:{double.port}")
    return env


# -- SigV4 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "method", "url", "signature"), VECTORS, ids=[v[0] for v in VECTORS]
)
def test_sigv4_matches_the_published_test_vectors(
    model: SimpleNamespace, name: str, method: str, url: str, signature: str
) -> None:
    creds = model.cloud_auth.Credentials(*VECTOR_KEY)
    headers = model.cloud_auth.sigv4_headers(
        method, url, b"", "us-east-1", "service", creds, VECTOR_TIME
    )
    assert headers == {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
        f"aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}",
        "X-Amz-Date": "20150830T123600Z",
    }


def botocore_signature(seen: Seen, url: str, region: str) -> str:
    """botocore's SigV4 signature of the request the double received, with the headers the
    request says it signed, at the time it says it was signed."""
    match = re.match(AUTH_RE, seen.headers["authorization"])
    assert match, seen.headers["authorization"]
    signed = match["signed"].split(";")
    headers = {
        n: seen.headers[n]
        for n in signed
        if n not in ("host", "x-amz-date", "x-amz-security-token")
    }
    request = AWSRequest("POST", url + seen.path, data=seen.body, headers=headers)
    at = datetime.strptime(seen.headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    credentials = BotoCredentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=at):
        botocore.auth.SigV4Auth(credentials, "bedrock", region).add_auth(request)
    expected = re.match(AUTH_RE, request.headers["Authorization"])
    assert expected and expected["signed"] == match["signed"]
    return str(expected["signature"])


# -- each provider over HTTP ---------------------------------------------------------------------
def _predict(model: SimpleNamespace, env: dict[str, str], text: str, timeout: float = 5.0) -> Any:
    hosted = model.llm.HostedModel(model.llm.build_provider(env), timeout=timeout)
    return hosted.predict(text)


@pytest.mark.parametrize("cloud", [c.value for c in CLOUDS])
def test_every_recorded_answer_over_http(
    model: SimpleNamespace, recorded: dict[str, ModuleType], double: Double, cloud: str
) -> None:
    answers = recorded[cloud]
    env = env_for(cloud, recorded, double)
    for case, (status, document) in answers.ANSWERS.items():
        double.answer(status, document)
        expected = answers.OUTCOMES[case]
        if expected[0] == "answer":
            prediction = _predict(model, env, answers.PROMPT)
            assert (prediction.label, prediction.score) == expected[1:], case
        elif expected[0] == "blocked":
            with pytest.raises(model.guardrail.Blocked) as blocked:
                _predict(model, env, answers.PROMPT)
            assert (blocked.value.direction, blocked.value.reasons) == expected[1:], case
        else:
            with pytest.raises(model.guardrail.Unavailable):
                _predict(model, env, answers.PROMPT)
    # One model call per recorded answer; the credential fetched once for all of them.
    assert len(double.calls()) == len(answers.ANSWERS)
    assert len(double.credential_calls()) == 1


def test_bedrock_sends_converse_with_the_guardrail_signed_as_the_task_role(
    model: SimpleNamespace, recorded: dict[str, ModuleType], double: Double
) -> None:
    answers = recorded["aws"]
    env = env_for("aws", recorded, double)
    double.answer(*answers.ANSWERS["allowed"])
    _predict(model, env, answers.PROMPT)
    (creds,) = double.credential_calls()
    assert creds.path == "/aws-credentials"
    assert creds.headers["authorization"] == ECS_AUTH_TOKEN
    (call,) = double.calls()
    assert call.path == f"/model/{env['LLM_MODEL'].replace(':', '%3A')}/converse"
    assert call.json()["guardrailConfig"] == {
        "guardrailIdentifier": env["GUARDRAIL_ID"],
        "guardrailVersion": env["GUARDRAIL_VERSION"],
        "trace": "enabled",
    }
    match = re.match(AUTH_RE, call.headers["authorization"])
    assert match, call.headers["authorization"]
    assert (match["key"], match["region"], match["service"]) == (
        ACCESS_KEY,
        env["LLM_REGION"],
        "bedrock",
    )
    assert match["day"] == call.headers["x-amz-date"][:8]
    assert set(match["signed"].split(";")) >= {"host", "x-amz-date", "x-amz-security-token"}
    assert call.headers["x-amz-security-token"] == SESSION_TOKEN
    assert match["signature"] == botocore_signature(call, double.url, env["LLM_REGION"])


def test_bedrock_credentials_are_fetched_again_when_they_expire(
    model: SimpleNamespace, recorded: dict[str, ModuleType], double: Double
) -> None:
    answers = recorded["aws"]
    env = env_for("aws", recorded, double)
    double.credential_seconds = 60  # inside the refresh margin: never reused
    for _ in range(2):
        double.answer(*answers.ANSWERS["allowed"])
        _predict(model, env, answers.PROMPT)
    assert len(double.credential_calls()) == 2


def test_azure_calls_the_deployment_as_the_managed_identity(
    model: SimpleNamespace, recorded: dict[str, ModuleType], double: Double
) -> None:
    answers = recorded["azure"]
    env = env_for("azure", recorded, double)
    double.answer(*answers.ANSWERS["allowed"])
    _predict(model, env, answers.PROMPT)
    (token,) = double.credential_calls()
    assert token.path == "/msi"
    assert token.headers["x-identity-header"] == IDENTITY_HEADER
    assert token.query == {
        "resource": "https://cognitiveservices.azure.com",
        "api-version": "2019-08-01",
        "client_id": CLIENT_ID,
    }
    (call,) = double.calls()
    assert call.path == f"/openai/deployments/{env['LLM_DEPLOYMENT']}/chat/completions"
    assert call.query == {"api-version": model.llm.AZURE_OPENAI_API_VERSION}
    assert call.headers["authorization"] == f"Bearer {MSI_TOKEN}"
    assert "api-key" not in call.headers  # keys are off: the identity only


def test_vertex_calls_generate_content_with_the_model_armor_template(
    model: SimpleNamespace, recorded: dict[str, ModuleType], double: Double
) -> None:
    answers = recorded["gcp"]
    env = env_for("gcp", recorded, double)
    double.answer(*answers.ANSWERS["allowed"])
    _predict(model, env, answers.PROMPT)
    (token,) = double.credential_calls()
    assert token.path == "/computeMetadata/v1/instance/service-accounts/default/token"
    assert token.headers["metadata-flavor"] == "Google"
    (call,) = double.calls()
    template = env["MODEL_ARMOR_TEMPLATE"]
    project, location = template.split("/")[1], template.split("/")[3]
    assert call.path == (
        f"/v1/projects/{project}/locations/{location}/publishers/google/models/"
        f"{env['LLM_MODEL']}:generateContent"
    )
    assert call.json()["modelArmorConfig"] == {
        "promptTemplateName": template,
        "responseTemplateName": template,
    }
    assert call.headers["authorization"] == f"Bearer {GCP_TOKEN}"


@pytest.mark.parametrize("cloud", [c.value for c in CLOUDS])
@pytest.mark.parametrize(
    "failure", ["timeout", "not json", "json array", "html 502", "closed port", "no credentials"]
)
def test_transport_failures_are_unavailable(
    model: SimpleNamespace,
    recorded: dict[str, ModuleType],
    double: Double,
    cloud: str,
    failure: str,
) -> None:
    answers = recorded[cloud]
    env = env_for(cloud, recorded, double)
    timeout = 5.0
    if failure == "timeout":
        status, document = answers.ANSWERS["allowed"]
        double.answer(status, document, delay=1.0)
        timeout = 0.2
    elif failure == "not json":
        double.raw(200, b'{"output": ')
    elif failure == "json array":
        double.raw(200, b"[]")
    elif failure == "html 502":
        double.raw(502, b"<html><body>Bad Gateway</body></html>")
    elif failure == "closed port":
        for name in ("BEDROCK_ENDPOINT_URL", "LLM_ENDPOINT", "VERTEX_ENDPOINT_URL"):
            env[name] = "http://127.0.0.1:9"
    else:
        double.credential_status = 500
    with pytest.raises(model.guardrail.Unavailable) as caught:
        _predict(model, env, answers.PROMPT, timeout=timeout)
    assert answers.PROMPT not in str(caught.value)
    if failure == "no credentials":
        assert not double.calls(), "the model was called without credentials"


# -- loading ---------------------------------------------------------------------------------------
def test_the_hosted_files_ship_only_where_they_are_used(projects: dict[str, Path]) -> None:
    reference = {name: (projects["aws"] / "model" / name).read_bytes() for name in MODEL_FILES}
    for cloud in CLOUDS:
        for name in MODEL_FILES:
            assert (projects[cloud.value] / "model" / name).read_bytes() == reference[name]
        assert (projects[cloud.value] / "tests" / "test_hosted_llm.py").is_file()
    assert not (projects["none"] / "model" / "llm.py").exists()
    assert not (projects["none"] / "model" / "cloud_auth.py").exists()
    assert not (projects["none"] / "tests" / "test_hosted_llm.py").exists()
    assert not (projects["self-hosted"] / "model" / "llm.py").exists()
    assert (projects["self-hosted"] / "model" / "cloud_auth.py").is_file()


def test_llm_provider_in_a_project_without_the_client_fails_loading(
    projects: dict[str, Path],
) -> None:
    code = (
        "from model import predictor\n"
        "try:\n"
        "    predictor.load(env={'LLM_PROVIDER': 'bedrock'})\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=projects["none"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "--llm hosted" in result.stdout


def test_the_generated_projects_own_hosted_tests_pass(projects: dict[str, Path]) -> None:
    for cloud in CLOUDS:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "tests/test_hosted_llm.py"],
            cwd=projects[cloud.value],
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


# -- through the server: HTTP answers, the log line the metric counts, no text in any log ---------
def _serve_one(
    model: SimpleNamespace, env: dict[str, str], body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    settings = replace(model.settings.Settings.from_env(env), host="127.0.0.1", port=0)
    guard, policy = model.server.guardrail_for(settings, env)
    service = model.server.ModelService(
        settings, lambda: model.predictor.load(env=env), guard=guard, policy=policy
    )
    service.load()
    assert service.ready
    server = model.server.make_server(service)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        payload = json.dumps(body).encode()
        connection.request(
            "POST", settings.predict_path, payload, {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
        return response.status, answer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("cloud", [c.value for c in CLOUDS])
def test_the_server_answers_each_outcome_and_logs_no_text(
    model: SimpleNamespace,
    recorded: dict[str, ModuleType],
    double: Double,
    capsys: pytest.CaptureFixture[str],
    cloud: str,
) -> None:
    answers = recorded[cloud]
    env = env_for(cloud, recorded, double)
    messages = json.loads(env[contract.HOOK_CONFIG_VARIABLE])
    blocked_lines = 0
    for case, (status, document) in answers.ANSWERS.items():
        double.answer(status, document)
        code, body = _serve_one(model, env, {"input": answers.PROMPT})
        expected = answers.OUTCOMES[case]
        if expected[0] == "answer":
            assert (code, body["prediction"], body["score"]) == (200, *expected[1:]), case
            assert set(body) == {"prediction", "score", "model", "version"}
        elif expected[0] == "unavailable":
            assert code == 503, case
        elif expected[1] == "prompt":
            assert (code, body) == (
                400,
                {"error": messages["blocked_input_message"], "blocked": "prompt"},
            ), case
            blocked_lines += 1
        elif expected[0] == "blocked":
            assert (code, body["prediction"], body["blocked"]) == (
                200,
                messages["blocked_output_message"],
                "response",
            ), case
            blocked_lines += 1
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    events = [r for r in records if r.get("event") == contract.BLOCKED_EVENT]
    assert len(events) == blocked_lines
    assert {e["direction"] for e in events} == {"prompt", "response"}
    assert all(e["reasons"] for e in events)
    assert [r for r in records if r.get("event") == contract.UNAVAILABLE_EVENT]
    leaks = [leak for leak in answers.LEAKS if leak in out]
    assert not leaks, f"logged: {leaks}"


def test_cloud_auth_needs_no_package_outside_the_standard_library(
    projects: dict[str, Path],
) -> None:
    # The image installs model/requirements.txt only: the client must not need an SDK.
    for name in MODEL_FILES:
        source = (projects["aws"] / "model" / name).read_text()
        imports = {
            line.split()[1].split(".")[0]
            for line in source.splitlines()
            if line.startswith(("import ", "from "))
        }
        assert imports <= set(sys.stdlib_module_names) | {"__future__", "model"}, imports

"""The delivery pipeline's part of the template context: CI files, cloud login, cloud CLIs.

Everything cloud-specific in the generated workflows and runbooks is either a value of the lookup
tables here (``CLOUD_PIPELINE``, ``CLOUD_CLI``) or a per-cloud partial of the template
(``templates/client-project/templates/pipeline/<cloud>/``), never a ``{% if cloud == ... %}``
chain in the templates; values that reach a workflow or Markdown are fixed text or
pre-validated answers.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.spec import Cloud, DeploymentSpec, Environment, Pattern

if TYPE_CHECKING:
    from templates.answers import Answers

# Files of the template that belong to one CI system: the generator removes the others' after
# rendering (cookiecutter renders every file).
CI_FILES: dict[str, tuple[str, ...]] = {
    "github": (".github",),
    "gitlab": (".gitlab-ci.yml",),
}

# The stack output a pattern's smoke and load tests call over HTTP ("" = no public HTTP endpoint:
# the smoke test then checks the stack's outputs only and the load test is skipped).
HTTP_ENDPOINT_OUTPUT: dict[Pattern, str] = {
    Pattern.API_FIRST: "endpoint_url",
    Pattern.EVENT_DRIVEN: "",
    Pattern.MANAGED_PLATFORM: "",
    Pattern.EMBEDDED: "",
}

# Actions are pinned to full commit SHAs; the comment names the release the SHA belongs to.
ACTIONS: dict[str, str] = {
    "checkout": "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
    "setup_python": "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b # v5.3.0",
    "upload_sarif": (
        "github/codeql-action/upload-sarif@48ab28a6f5dbc2a99bf1e0131198dd8f1df78169 # v3.28.0"
    ),
    "aws_login": (
        "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502 # v4.0.2"
    ),
    "azure_login": "azure/login@a65d910e8af852a8061c627c456678983e180302 # v2.2.0",
    "gcp_login": "google-github-actions/auth@6fc4af4b145ae7821d527454aa9bd537d1f2dc5f # v2.1.7",
    # The embedded pattern hands the signed release from one environment's job to the next.
    "upload_artifact": "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2",
    "download_artifact": (
        "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093 # v4.3.0"
    ),
}


@dataclass(frozen=True)
class CloudPipeline:
    """The values that differ per cloud in the pipeline and the rollback runbook.

    The cloud's shell, YAML and Markdown (its login steps, job env, registry login, preview
    rules, CLI install, data-restore steps) are partials of the template:
    ``templates/client-project/templates/pipeline/<cloud>/`` (README.md there lists them).
    """

    gitlab_audience: str  # the `aud` of the GitLab ID token the cloud's federation expects
    variables: tuple[tuple[str, str], ...]  # per-environment CI variables: (name, what)
    alarm_console: str  # where on-call sees the alarms
    # GitLab's release job: the image it runs in (docker CLI + the cloud's CLI); its registry
    # login is the partial gitlab-registry-login.sh.
    gitlab_release_image: str
    # `runs-on` of the GitHub jobs that reach the cloud (previews, deploys, the drill, the image
    # release); the code checks run on GitHub's runners everywhere.
    github_runs_on: str = "ubuntu-latest"
    # Whether the image release jobs sign in with an OIDC identity (the `publish` identity, the
    # cloud's login step); False: a registry robot account only (registry-login.sh).
    github_publish_oidc: bool = True
    # Variables and secrets the client sets itself (bootstrap cannot create them: the
    # addresses and credentials of the client's own systems): (name, kind, what).
    client_variables: tuple[tuple[str, str, str], ...] = ()


# kubectl of the release watch and the runbooks, pinned: within one minor of every supported
# cluster (components/spec.SUPPORTED_KUBERNETES_VERSIONS' default). The partial
# pipeline/kubernetes/kubectl-install.sh downloads it and checks it against its .sha256.
KUBECTL_VERSION = "1.34.2"

CLOUD_PIPELINE: dict[Cloud, CloudPipeline] = {
    Cloud.AWS: CloudPipeline(
        gitlab_audience="sts.amazonaws.com",
        variables=(
            ("AWS_ROLE_ARN", "IAM role whose trust policy accepts this repository's OIDC token"),
            ("AWS_REGION", "the stacks' region"),
            ("PULUMI_BACKEND_URL", "state backend, e.g. s3://acme-pulumi-state"),
        ),
        alarm_console="CloudWatch > Alarms (filter by the project name)",
        gitlab_release_image="docker:27",
    ),
    Cloud.AZURE: CloudPipeline(
        gitlab_audience="api://AzureADTokenExchange",
        variables=(
            ("AZURE_CLIENT_ID", "app registration / managed identity with a federated credential"),
            ("AZURE_TENANT_ID", "the Entra ID tenant"),
            ("AZURE_SUBSCRIPTION_ID", "the environment's subscription"),
            ("PULUMI_BACKEND_URL", "state backend, e.g. azblob://state?storage_account=acme"),
        ),
        alarm_console="Azure Monitor > Alerts (filter by the resource group)",
        gitlab_release_image="docker:27",
    ),
    Cloud.GCP: CloudPipeline(
        gitlab_audience="https://iam.googleapis.com/$GCP_WORKLOAD_IDENTITY_PROVIDER",
        variables=(
            (
                "GCP_WORKLOAD_IDENTITY_PROVIDER",
                "projects/<n>/locations/global/workloadIdentityPools/<pool>/providers/<provider>",
            ),
            ("GCP_SERVICE_ACCOUNT", "the environment's deployer service account"),
            ("PULUMI_BACKEND_URL", "state backend, e.g. gs://acme-pulumi-state"),
        ),
        alarm_console="Cloud Monitoring > Alerting (filter by the project label)",
        gitlab_release_image="gcr.io/google.com/cloudsdktool/google-cloud-cli:alpine",
    ),
    Cloud.KUBERNETES: CloudPipeline(
        gitlab_audience="$KUBE_OIDC_AUDIENCE",
        variables=(
            ("PULUMI_BACKEND_URL", "state backend in the client's store, s3://...?endpoint=..."),
            ("KUBE_CONTEXT", "the stack's `kubernetes:context`: the kubeconfig's context name"),
        ),
        client_variables=(
            (
                "KUBE_SERVER",
                "variable",
                "the API server of the environment's cluster, https://HOST:PORT",
            ),
            ("KUBE_CA_DATA", "variable", "its CA certificate, `base64 -w0` of the PEM"),
            (
                "CLIENT_CA_DATA",
                "variable, optional",
                "your internal CA (`base64 -w0` of the PEM) when Vault, the object store, the "
                "registry or the API host use it: every TLS client of the job trusts it beside "
                "the system's CAs (`SSL_CERT_FILE`), nothing turns verification off",
            ),
            (
                "KUBE_OIDC_AUDIENCE",
                "variable",
                "the audience the API server's JWT authenticator and Vault's JWT role accept",
            ),
            ("VAULT_SERVER_URL", "variable", "the client's Vault, https://HOST:PORT"),
            ("VAULT_ROLE", "variable", "the Vault JWT role of this CI environment (its key only)"),
            (
                "STATE_ACCESS_KEY_ID",
                "secret (GitLab: masked variable)",
                "the object store key of this environment's state, limited to its stack's objects",
            ),
            ("STATE_SECRET_ACCESS_KEY", "secret (GitLab: masked variable)", "its secret"),
            (
                "PROMETHEUS_URL",
                "variable",
                "Prometheus' HTTP API as the runner reaches it (release watch)",
            ),
            (
                "ALERTMANAGER_URL",
                "variable",
                "Alertmanager's API as the runner reaches it (release watch)",
            ),
            (
                "REGISTRY_USER",
                "variable",
                "`release` only: the registry robot account that pushes images",
            ),
            ("REGISTRY_PASSWORD", "secret (GitLab: masked variable)", "`release` only: its token"),
            (
                "CLUSTER_RUNNER",
                "variable, optional",
                "GitHub, repository level: the label of self-hosted runners inside the client's "
                "network (empty: GitHub's runners, which the API server must then accept)",
            ),
        ),
        alarm_console="Alertmanager (or Grafana) of the cluster: filter namespace=<project>-<env>",
        gitlab_release_image="docker:27",
        # Self-hosted runners inside the client's network (docs/ci.md): a repository variable
        # names their label; GitHub's runners when the API server accepts them.
        github_runs_on="${{ vars.CLUSTER_RUNNER || 'ubuntu-latest' }}",
        # The image release pushes with the registry robot account (REGISTRY_USER).
        github_publish_oidc=False,
    ),
}


# The image of every GitLab job but the image releases: Python 3.11 (the project's interpreter,
# `python`), on Debian 12 "bookworm", whose codename the Azure CLI's apt repository is chosen by;
# curl, unzip and gpg are in it (buildpack-deps), so the cloud CLIs install without apt-get
# except Azure's own package.
GITLAB_PYTHON_IMAGE = "python:3.11-bookworm"


@dataclass(frozen=True)
class CloudCli:
    """The cloud CLI the release watch shells out to, on a GitLab runner (python has none).

    ``tool`` is what components/<cloud>/release_watch.py names in CLI_TOOLS (a test keeps them
    equal); the partial ``pipeline/<cloud>/cli-install.sh`` installs ``version`` as root in
    :data:`GITLAB_PYTHON_IMAGE` and ``cli-login.sh`` runs after the cloud login
    (``gitlab-login.sh``) and signs the CLI in as the job's identity, so the watch reads alarms
    with the pipeline's own rights.
    """

    tool: str
    version: str


CLOUD_CLI: dict[Cloud, CloudCli] = {
    Cloud.AWS: CloudCli(tool="aws", version="2.22.35"),  # AWS CLI v2, the official installer
    Cloud.AZURE: CloudCli(tool="az", version="2.67.0"),  # Microsoft's apt package
    Cloud.GCP: CloudCli(tool="gcloud", version="502.0.0"),  # the versioned archive
    Cloud.KUBERNETES: CloudCli(tool="kubectl", version=KUBECTL_VERSION),
}


# Per-environment CI variables only some patterns' stacks read, by cloud and pattern: (name, what).
# On Azure the rollback webhook's Entra application (review B1): bootstrap creates it and prints
# its ids in `ci_variables`; the stack reads them from the job's environment when its config
# does not name them (components/azure/rollout.py, webhook_app_ids and WEBHOOK_PATTERNS).
_AZURE_WEBHOOK_VARIABLES: tuple[tuple[str, str], ...] = (
    (
        "ROLLBACK_WEBHOOK_APP_OBJECT_ID",
        "object id of the environment's rollback webhook Entra application (bootstrap); "
        "`pulumi up` stops without it",
    ),
    ("ROLLBACK_WEBHOOK_APP_CLIENT_ID", "its client id (bootstrap)"),
)
PATTERN_VARIABLES: dict[Cloud, dict[Pattern, tuple[tuple[str, str], ...]]] = {
    Cloud.AZURE: {
        Pattern.API_FIRST: _AZURE_WEBHOOK_VARIABLES,
        Pattern.MANAGED_PLATFORM: _AZURE_WEBHOOK_VARIABLES,
    },
}


def pattern_variables(cloud: Cloud, pattern: Pattern) -> tuple[tuple[str, str], ...]:
    """The per-environment CI variables a ``pattern`` stack on ``cloud`` reads beyond its cloud's
    :attr:`CloudPipeline.variables`; GitHub jobs map each from ``vars`` into their environment
    (GitLab exports an environment's CI/CD variables by itself)."""
    return PATTERN_VARIABLES.get(cloud, {}).get(pattern, ())


def pipeline_context(answers: Answers, stacks: dict[Environment, DeploymentSpec]) -> dict[str, Any]:
    """The keys the pipeline's templates use (merged into the cookiecutter context).

    Values only: the workflow files include the cloud's partials (templates/pipeline/<cloud>/,
    through the ``snippet`` macro of templates/pipeline/snippets.j2), which read these keys.
    """
    cloud = CLOUD_PIPELINE[answers.cloud]
    cli = CLOUD_CLI[answers.cloud]
    prod = stacks[Environment.PROD]
    extra = pattern_variables(answers.cloud, answers.pattern)
    return {
        "ci_runs_on": cloud.github_runs_on,
        # the image release signs in with an OIDC identity (not with a registry robot account)
        "ci_publish_oidc": cloud.github_publish_oidc,
        # what GitHub jobs map from the environment's `vars` beyond the cloud's own env lines
        "ci_pattern_variables": [name for name, _ in extra],
        "ci_gitlab_image": GITLAB_PYTHON_IMAGE,
        "ci_cli": {"tool": cli.tool, "version": cli.version},
        "ci_kubectl_version": KUBECTL_VERSION,
        "ci_gitlab_audience": cloud.gitlab_audience,
        "ci_gitlab_release_image": cloud.gitlab_release_image,
        # docs/ci.md's tables: what bootstrap prints per environment, what the client sets
        "ci_variables": [{"name": name, "what": what} for name, what in cloud.variables + extra],
        "ci_client_variables": [
            {"name": name, "kind": kind, "what": what}
            for name, kind, what in cloud.client_variables
        ],
        "ci_actions": ACTIONS,
        "http_endpoint_output": HTTP_ENDPOINT_OUTPUT[answers.pattern],
        "rollout_strategy": prod.rollout.strategy.value,
        "alarm_console": cloud.alarm_console,
    }


# The model-validation stage's settings, written into every stack file under `evaluation`.
EVALUATION: dict[str, Any] = {
    "dataset": "eval/data/sample.jsonl",
    "scorer": "eval.scorers:exact_match",
    "metric": "accuracy",
    "baseline": 0.8,
}
# An LLM project's model validation judges its guardrail: known injections refused before the
# model, ordinary support questions answered (eval/data/guardrail.jsonl). A free-text answer
# has no label to match, so the classifier's exact-match set would fail every release. The
# baseline lets one row of twelve differ (a cloud filter's judgement on a borderline row); the
# artefact of every run records the score per version for review.
LLM_EVALUATION: dict[str, Any] = {
    "dataset": "eval/data/guardrail.jsonl",
    "scorer": "eval.scorers:guardrail_outcome",
    "metric": "guardrail_accuracy",
    "baseline": 0.9,
}

# What a generated project gets of stacks/: the parity check and the rules it applies.
PARITY_FILES = (
    "__init__.py",
    "profiles.py",
    "parity.yaml",
    "parity_check.py",
    "promote.py",
    "suffix.py",
)


# Files of the template that only one kind of pattern keeps: those that ship signed model files
# to apps (embedded: the release tool, the sample app, the model's files) and those that serve
# an image (its release workflow and the rollback drill of a serving candidate; the sample
# server and its Dockerfile stay everywhere: the pipeline's model validation serves it locally).
SHIPPED_ONLY_FILES: tuple[str, ...] = (
    "app",
    "model/artifacts",
    "ci/release.py",
    "tests/test_release.py",
)
SERVED_ONLY_FILES: tuple[str, ...] = (
    ".github/workflows/release-model.yml",
    ".github/workflows/rollback-drill.yml",
    "ci/model_image.py",
    "ci/drill.py",
)


def remove_other_pattern_files(project_dir: Path, ships_model: bool) -> None:
    """Delete the rendered files that belong to the other kind of pattern."""
    for rel in SERVED_ONLY_FILES if ships_model else SHIPPED_ONLY_FILES:
        path = project_dir / rel
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def remove_other_ci(project_dir: Path, ci: str) -> None:
    """Delete the rendered files of every CI system but ``ci``."""
    for other, paths in CI_FILES.items():
        if other == ci:
            continue
        for rel in paths:
            path = project_dir / rel
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def vendor_parity_check(project_dir: Path) -> None:
    """Copy the parity check beside the stack files: ``python -m stacks.parity_check``."""
    src = Path(__file__).resolve().parents[1] / "stacks"
    for name in PARITY_FILES:
        shutil.copy2(src / name, project_dir / "stacks" / name)

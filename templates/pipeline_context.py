"""The delivery pipeline's part of the template context: CI files, cloud login, cloud CLIs.

Everything cloud-specific in the generated workflows and runbooks comes from the lookup tables
here (``CLOUD_PIPELINE``), never from ``{% if cloud == ... %}`` chains in the templates; values
that reach a workflow or Markdown are fixed text or pre-validated answers.
"""

from __future__ import annotations

import shutil
import textwrap
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
    """What differs per cloud in the pipeline and the rollback runbook."""

    github_login: str  # one workflow step (YAML, indented for a steps list)
    # Extra `with:` lines of the login step in deploy jobs: a session that lasts through
    # `pulumi up`, the watch period and a rollback (the deployer identities allow it).
    github_deploy_session: str
    github_env: str  # job-level env lines the cloud's Pulumi provider needs (YAML, may be empty)
    gitlab_login: str  # shell lines that turn the job's OIDC token into cloud credentials
    gitlab_audience: str  # the `aud` of the GitLab ID token the cloud's federation expects
    variables: tuple[tuple[str, str], ...]  # per-environment CI variables: (name, what)
    data_rollback: str  # restoring data (Markdown list)
    alarm_console: str  # where on-call sees the alarms
    # Docker login to the model registry for $IMAGE, after the cloud login (shell lines).
    registry_login: str
    # GitLab's release job: the image it runs in (docker CLI + the cloud's CLI) and the shell
    # lines that turn the job's OIDC token into a registry login for $IMAGE.
    gitlab_release_image: str
    gitlab_registry_login: str
    # The GitLab `preview` job's rules (a YAML list, comments allowed): when the pull-request
    # previews of dev and staging run, which the cloud's preview identity must be able to trust.
    gitlab_preview_rules: str
    # `runs-on` of the GitHub jobs that reach the cloud (previews, deploys, the drill, the image
    # release); the code checks run on GitHub's runners everywhere.
    github_runs_on: str = "ubuntu-latest"
    # The login step of the image release jobs (the `publish` identity); None: github_login.
    github_publish_login: str | None = None
    # Variables and secrets the client sets itself (bootstrap cannot create them: the
    # addresses and credentials of the client's own systems): (name, kind, what).
    client_variables: tuple[tuple[str, str, str], ...] = ()


# kubectl of the release watch and the runbooks, pinned: within one minor of every supported
# cluster (components/spec.SUPPORTED_KUBERNETES_VERSIONS' default). The release publishes a
# .sha256 beside each binary; the download is checked against it.
KUBECTL_VERSION = "1.34.2"
KUBECTL_INSTALL = (
    'mkdir -p "$HOME/.local/bin"\n'
    f"curl -fsSLO https://dl.k8s.io/release/v{KUBECTL_VERSION}/bin/linux/amd64/kubectl\n"
    f"curl -fsSLO https://dl.k8s.io/release/v{KUBECTL_VERSION}/bin/linux/amd64/kubectl.sha256\n"
    'echo "$(cat kubectl.sha256)  kubectl" | sha256sum --check\n'
    'install -m 0755 kubectl "$HOME/.local/bin/kubectl"\n'
    "rm -f kubectl kubectl.sha256\n"
)
# The job's way into the client's cluster and Vault: ci/kube_credentials.py writes a kubeconfig
# whose exec plugin hands client-go a fresh OIDC token, and trades the same token for a Vault
# token (the hashivault:// secrets provider reads VAULT_SERVER_TOKEN).
KUBE_GITLAB_LOGIN = (
    # the client's internal CA beside the system's, for every TLS client the job runs
    'python ci/kube_credentials.py ca-bundle "$CI_PROJECT_DIR/.ca-bundle.pem"\n'
    'export SSL_CERT_FILE="$CI_PROJECT_DIR/.ca-bundle.pem" '
    'AWS_CA_BUNDLE="$CI_PROJECT_DIR/.ca-bundle.pem" '
    'REQUESTS_CA_BUNDLE="$CI_PROJECT_DIR/.ca-bundle.pem"\n'
    'python ci/kube_credentials.py kubeconfig "$CI_PROJECT_DIR/.kubeconfig" '
    '--context "$KUBE_CONTEXT"\n'
    'export KUBECONFIG="$CI_PROJECT_DIR/.kubeconfig"\n'
    'VAULT_SERVER_TOKEN="$(python ci/kube_credentials.py vault-token)"\n'
    "export VAULT_SERVER_TOKEN\n"
    'export AWS_ACCESS_KEY_ID="$STATE_ACCESS_KEY_ID"\n'
    'export AWS_SECRET_ACCESS_KEY="$STATE_SECRET_ACCESS_KEY"\n'
)
KUBE_REGISTRY_LOGIN = (
    'printf "%s" "$REGISTRY_PASSWORD" '
    '| docker login "${IMAGE%%/*}" --username "$REGISTRY_USER" --password-stdin\n'
)


# Merge-request previews: the preview identity trusts the merge request's refs (AWS, GCP).
MERGE_REQUEST_PREVIEWS = '- if: $CI_PIPELINE_SOURCE == "merge_request_event"\n'

CLOUD_PIPELINE: dict[Cloud, CloudPipeline] = {
    Cloud.AWS: CloudPipeline(
        github_login=(
            "- name: Cloud credentials (OIDC, no stored keys)\n"
            f"  uses: {ACTIONS['aws_login']}\n"
            "  with:\n"
            "    role-to-assume: ${{ vars.AWS_ROLE_ARN }}\n"
            "    aws-region: ${{ vars.AWS_REGION }}\n"
        ),
        # 4 hours: the deployer roles' maximum session (bootstrap); the default is one hour.
        github_deploy_session="    role-duration-seconds: 14400\n",
        github_env="",
        gitlab_login=(
            'printf "%s" "$CLOUD_OIDC_TOKEN" > "$CI_PROJECT_DIR/.oidc-token"\n'
            'export AWS_WEB_IDENTITY_TOKEN_FILE="$CI_PROJECT_DIR/.oidc-token"\n'
            'export AWS_ROLE_SESSION_NAME="gitlab-$CI_JOB_ID"\n'
        ),
        gitlab_audience="sts.amazonaws.com",
        variables=(
            ("AWS_ROLE_ARN", "IAM role whose trust policy accepts this repository's OIDC token"),
            ("AWS_REGION", "the stacks' region"),
            ("PULUMI_BACKEND_URL", "state backend, e.g. s3://acme-pulumi-state"),
        ),
        data_rollback=(
            "- Objects: S3 versioning is on; restore with `aws s3api list-object-versions` and "
            "`aws s3api copy-object --copy-source <bucket>/<key>?versionId=<id>`.\n"
            "- Tables: DynamoDB point-in-time recovery: `aws dynamodb "
            "restore-table-to-point-in-time --source-table-name <t> "
            "--target-table-name <t>-restore "
            "--restore-date-time <before-incident>`, then switch readers to the restored table.\n"
            "- Keys: KMS keys are never deleted by a rollback; a key pending deletion is "
            "recovered with `aws kms cancel-key-deletion`."
        ),
        alarm_console="CloudWatch > Alarms (filter by the project name)",
        registry_login=(
            'aws ecr get-login-password --region "$AWS_REGION" \\\n'
            '  | docker login --username AWS --password-stdin "${IMAGE%%/*}"\n'
        ),
        gitlab_release_image="docker:27",
        gitlab_registry_login=(
            "apk add --no-cache aws-cli\n"
            'printf "%s" "$CLOUD_OIDC_TOKEN" > "$CI_PROJECT_DIR/.oidc-token"\n'
            'export AWS_WEB_IDENTITY_TOKEN_FILE="$CI_PROJECT_DIR/.oidc-token"\n'
            'export AWS_ROLE_SESSION_NAME="gitlab-$CI_JOB_ID"\n'
            'aws ecr get-login-password --region "$AWS_REGION" '
            '| docker login --username AWS --password-stdin "${IMAGE%%/*}"\n'
        ),
        gitlab_preview_rules=MERGE_REQUEST_PREVIEWS,
    ),
    Cloud.AZURE: CloudPipeline(
        github_login=(
            "- name: Cloud credentials (OIDC, no stored keys)\n"
            f"  uses: {ACTIONS['azure_login']}\n"
            "  with:\n"
            "    client-id: ${{ vars.AZURE_CLIENT_ID }}\n"
            "    tenant-id: ${{ vars.AZURE_TENANT_ID }}\n"
            "    subscription-id: ${{ vars.AZURE_SUBSCRIPTION_ID }}\n"
        ),
        # azure/login's token is re-requested by the provider (ARM_USE_OIDC), not extended here.
        github_deploy_session="",
        github_env=(
            'ARM_USE_OIDC: "true"\n'
            "ARM_CLIENT_ID: ${{ vars.AZURE_CLIENT_ID }}\n"
            "ARM_TENANT_ID: ${{ vars.AZURE_TENANT_ID }}\n"
            "ARM_SUBSCRIPTION_ID: ${{ vars.AZURE_SUBSCRIPTION_ID }}\n"
        ),
        # `pulumi login azblob://` and the azurekeyvault:// secrets provider sign in with the
        # Azure SDK's default credential chain, whose workload identity credential reads the
        # token from AZURE_FEDERATED_TOKEN_FILE with AZURE_CLIENT_ID and AZURE_TENANT_ID; the
        # azure-native provider reads the ARM_* variables.
        gitlab_login=(
            'printf "%s" "$CLOUD_OIDC_TOKEN" > "$CI_PROJECT_DIR/.oidc-token"\n'
            'export AZURE_FEDERATED_TOKEN_FILE="$CI_PROJECT_DIR/.oidc-token"\n'
            "export AZURE_CLIENT_ID AZURE_TENANT_ID AZURE_SUBSCRIPTION_ID\n"
            'export ARM_USE_OIDC=true ARM_OIDC_TOKEN="$CLOUD_OIDC_TOKEN"\n'
            'export ARM_CLIENT_ID="$AZURE_CLIENT_ID" ARM_TENANT_ID="$AZURE_TENANT_ID"\n'
            'export ARM_SUBSCRIPTION_ID="$AZURE_SUBSCRIPTION_ID"\n'
        ),
        gitlab_audience="api://AzureADTokenExchange",
        variables=(
            ("AZURE_CLIENT_ID", "app registration / managed identity with a federated credential"),
            ("AZURE_TENANT_ID", "the Entra ID tenant"),
            ("AZURE_SUBSCRIPTION_ID", "the environment's subscription"),
            ("PULUMI_BACKEND_URL", "state backend, e.g. azblob://state?storage_account=acme"),
        ),
        data_rollback=(
            "- Blobs: soft delete and versioning are on; restore a version with `az storage blob "
            "copy start` from the version URL, or undelete with `az storage blob undelete`.\n"
            "- Cosmos DB: continuous backup; restore to a point in time with `az cosmosdb "
            "restore --restore-timestamp <before-incident>` into a new account, then repoint.\n"
            "- Key Vault: soft delete and purge protection are on; `az keyvault key recover`."
        ),
        alarm_console="Azure Monitor > Alerts (filter by the resource group)",
        registry_login='az acr login --name "${IMAGE%%.*}"\n',
        gitlab_release_image="docker:27",
        gitlab_registry_login=(
            "apk add --no-cache py3-pip\n"
            "pip install --quiet --break-system-packages azure-cli\n"
            'az login --service-principal --username "$AZURE_CLIENT_ID" '
            '--tenant "$AZURE_TENANT_ID" --federated-token "$CLOUD_OIDC_TOKEN" --output none\n'
            'az acr login --name "${IMAGE%%.*}"\n'
        ),
        gitlab_preview_rules=(
            "# A managed identity's federated credential matches the OIDC subject exactly (no\n"
            "# wildcard for merge-request branches), so Azure's preview identity trusts the\n"
            "# default branch only: dev and staging are previewed there, before deploy-dev, and\n"
            "# merge requests run the offline policy check (bootstrap/README.md).\n"
            '- if: $CI_PIPELINE_SOURCE == "schedule"\n'
            "  when: never\n"
            "- if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH\n"
        ),
    ),
    Cloud.GCP: CloudPipeline(
        github_login=(
            "- name: Cloud credentials (OIDC, no stored keys)\n"
            f"  uses: {ACTIONS['gcp_login']}\n"
            "  with:\n"
            "    workload_identity_provider: ${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}\n"
            "    service_account: ${{ vars.GCP_SERVICE_ACCOUNT }}\n"
        ),
        # Access tokens minted by the auth action are refreshed from the credentials file.
        github_deploy_session="",
        github_env="",
        gitlab_login=(
            'printf "%s" "$CLOUD_OIDC_TOKEN" > "$CI_PROJECT_DIR/.oidc-token"\n'
            'python -m ci.gcp_credentials > "$CI_PROJECT_DIR/.gcp-credentials.json"\n'
            'export GOOGLE_APPLICATION_CREDENTIALS="$CI_PROJECT_DIR/.gcp-credentials.json"\n'
        ),
        gitlab_audience="https://iam.googleapis.com/$GCP_WORKLOAD_IDENTITY_PROVIDER",
        variables=(
            (
                "GCP_WORKLOAD_IDENTITY_PROVIDER",
                "projects/<n>/locations/global/workloadIdentityPools/<pool>/providers/<provider>",
            ),
            ("GCP_SERVICE_ACCOUNT", "the environment's deployer service account"),
            ("PULUMI_BACKEND_URL", "state backend, e.g. gs://acme-pulumi-state"),
        ),
        data_rollback=(
            "- Objects: object versioning is on; restore with `gcloud storage cp "
            "gs://<bucket>/<object>#<generation> gs://<bucket>/<object>`.\n"
            "- Firestore: point-in-time recovery; `gcloud firestore export` of the PITR "
            "snapshot (`--snapshot-time=<before-incident>`), then import into the database.\n"
            "- Keys: Cloud KMS key versions are destroyed only after the scheduled period; "
            "`gcloud kms keys versions restore` before then."
        ),
        alarm_console="Cloud Monitoring > Alerting (filter by the project label)",
        registry_login='gcloud auth configure-docker "${IMAGE%%/*}" --quiet\n',
        gitlab_release_image="gcr.io/google.com/cloudsdktool/google-cloud-cli:alpine",
        gitlab_registry_login=(
            "apk add --no-cache docker-cli\n"
            'printf "%s" "$CLOUD_OIDC_TOKEN" > "$CI_PROJECT_DIR/.oidc-token"\n'
            'python3 -m ci.gcp_credentials > "$CI_PROJECT_DIR/.gcp-credentials.json"\n'
            'gcloud auth login --cred-file="$CI_PROJECT_DIR/.gcp-credentials.json" --quiet\n'
            'gcloud auth configure-docker "${IMAGE%%/*}" --quiet\n'
        ),
        gitlab_preview_rules=MERGE_REQUEST_PREVIEWS,
    ),
    Cloud.KUBERNETES: CloudPipeline(
        github_login=(
            "- name: Cluster and Vault credentials (OIDC, nothing stored)\n"
            "  env:\n"
            "    KUBE_SERVER: ${{ vars.KUBE_SERVER }}\n"
            "    KUBE_CA_DATA: ${{ vars.KUBE_CA_DATA }}\n"
            "    KUBE_CONTEXT: ${{ vars.KUBE_CONTEXT }}\n"
            "    VAULT_ROLE: ${{ vars.VAULT_ROLE }}\n"
            "  run: |\n"
            + textwrap.indent(KUBECTL_INSTALL, "    ")
            + '    echo "$HOME/.local/bin" >> "$GITHUB_PATH"\n'
            '    bundle="$RUNNER_TEMP/ca-bundle.pem"  # system CAs + CLIENT_CA_DATA\n'
            '    python ci/kube_credentials.py ca-bundle "$bundle"\n'
            '    export SSL_CERT_FILE="$bundle"\n'
            "    for name in SSL_CERT_FILE AWS_CA_BUNDLE REQUESTS_CA_BUNDLE; do\n"
            '      echo "$name=$bundle" >> "$GITHUB_ENV"\n'
            "    done\n"
            '    python ci/kube_credentials.py kubeconfig "$RUNNER_TEMP/kubeconfig" '
            '--context "$KUBE_CONTEXT"\n'
            '    echo "KUBECONFIG=$RUNNER_TEMP/kubeconfig" >> "$GITHUB_ENV"\n'
            '    vault_token="$(python ci/kube_credentials.py vault-token)"\n'
            '    echo "::add-mask::$vault_token"\n'
            '    echo "VAULT_SERVER_TOKEN=$vault_token" >> "$GITHUB_ENV"\n'
        ),
        # Every kubectl/client-go call asks the plugin again: no session to extend.
        github_deploy_session="",
        github_env=(
            "KUBE_OIDC_AUDIENCE: ${{ vars.KUBE_OIDC_AUDIENCE }}\n"
            "CLIENT_CA_DATA: ${{ vars.CLIENT_CA_DATA }}\n"
            "VAULT_SERVER_URL: ${{ vars.VAULT_SERVER_URL }}\n"
            "AWS_ACCESS_KEY_ID: ${{ secrets.STATE_ACCESS_KEY_ID }}\n"
            "AWS_SECRET_ACCESS_KEY: ${{ secrets.STATE_SECRET_ACCESS_KEY }}\n"
            "PROMETHEUS_URL: ${{ vars.PROMETHEUS_URL }}\n"
            "ALERTMANAGER_URL: ${{ vars.ALERTMANAGER_URL }}\n"
            "REGISTRY_USER: ${{ vars.REGISTRY_USER }}\n"
            "REGISTRY_PASSWORD: ${{ secrets.REGISTRY_PASSWORD }}\n"
        ),
        gitlab_login=KUBE_GITLAB_LOGIN,
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
        data_rollback=(
            "- Objects: the client's object store keeps versions where its bucket versioning is "
            "on; restore a version with the store's tooling (`mc cp --version-id` on MinIO, "
            "`aws s3api copy-object --endpoint-url` on any S3-compatible store).\n"
            "- Queue (event-driven): messages the worker could not process are in the dead-letter "
            "queue; "
            "re-publish them once the fix is deployed.\n"
            "- Secrets: the stacks hold none; the client's Vault keeps every version of its "
            "KV entries (`vault kv rollback -version=N`)."
        ),
        alarm_console="Alertmanager (or Grafana) of the cluster: filter namespace=<project>-<env>",
        registry_login=KUBE_REGISTRY_LOGIN,
        gitlab_release_image="docker:27",
        gitlab_registry_login=KUBE_REGISTRY_LOGIN,
        gitlab_preview_rules=MERGE_REQUEST_PREVIEWS,
        # Self-hosted runners inside the client's network (docs/ci.md): a repository variable
        # names their label; GitHub's runners when the API server accepts them.
        github_runs_on="${{ vars.CLUSTER_RUNNER || 'ubuntu-latest' }}",
        github_publish_login="",
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
    equal); ``install`` runs as root in :data:`GITLAB_PYTHON_IMAGE` and pins ``version``;
    ``login`` runs after the cloud login (``CloudPipeline.gitlab_login``) and signs the CLI in
    as the job's identity, so the watch reads alarms with the pipeline's own rights.
    """

    tool: str
    version: str
    install: str  # shell lines
    login: str  # shell lines


CLOUD_CLI: dict[Cloud, CloudCli] = {
    # AWS CLI v2, the official installer of one version (it carries its own Python). The CLI
    # reads AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (gitlab_login) itself: the login line
    # proves the web-identity session works before anything depends on it.
    Cloud.AWS: CloudCli(
        tool="aws",
        version="2.22.35",
        install=(
            'curl -fsSL "https://awscli.amazonaws.com/awscli-exe-linux-x86_64-2.22.35.zip" '
            "-o /tmp/awscliv2.zip\n"
            "unzip -q /tmp/awscliv2.zip -d /tmp\n"
            "/tmp/aws/install\n"
        ),
        login='aws sts get-caller-identity --region "$AWS_REGION" --query Arn --output text\n',
    ),
    # Microsoft's apt repository, one pinned package (it carries its own Python: no clash with
    # the project's packages); `pip install azure-cli` would take minutes. The managed identity
    # signs in with the job's OIDC token (workload identity federation), as the release job does.
    Cloud.AZURE: CloudCli(
        tool="az",
        version="2.67.0",
        install=(
            "mkdir -p /etc/apt/keyrings\n"
            "curl -fsSL https://packages.microsoft.com/keys/microsoft.asc "
            "| gpg --dearmor -o /etc/apt/keyrings/microsoft.gpg\n"
            'echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/microsoft.gpg] '
            'https://packages.microsoft.com/repos/azure-cli/ bookworm main" '
            "> /etc/apt/sources.list.d/azure-cli.list\n"
            "apt-get update -qq\n"
            "apt-get install -y -qq --no-install-recommends azure-cli=2.67.0-1~bookworm\n"
        ),
        login=(
            'az login --service-principal --username "$AZURE_CLIENT_ID" '
            '--tenant "$AZURE_TENANT_ID" --federated-token "$CLOUD_OIDC_TOKEN" --output none\n'
            'az account set --subscription "$AZURE_SUBSCRIPTION_ID"\n'
        ),
    ),
    # The gcloud CLI's versioned archive (self-contained). gcloud does not read
    # GOOGLE_APPLICATION_CREDENTIALS for itself: it is signed in with the same
    # external-account file (the token file it points at is rewritten on every renewal).
    Cloud.GCP: CloudCli(
        tool="gcloud",
        version="502.0.0",
        install=(
            "curl -fsSL https://dl.google.com/dl/cloudsdk/channels/rapid/downloads/"
            "google-cloud-cli-502.0.0-linux-x86_64.tar.gz | tar -xz -C /opt\n"
            'export PATH="/opt/google-cloud-sdk/bin:$PATH"\n'
        ),
        login='gcloud auth login --cred-file="$GOOGLE_APPLICATION_CREDENTIALS" --quiet\n',
    ),
    # kubectl from the Kubernetes release (checked against its published sha256); `auth whoami`
    # proves the kubeconfig's plugin signs the job in as its CI user.
    Cloud.KUBERNETES: CloudCli(
        tool="kubectl",
        version=KUBECTL_VERSION,
        install=KUBECTL_INSTALL + 'export PATH="$HOME/.local/bin:$PATH"\n',
        login="kubectl auth whoami\n",
    ),
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
    """The keys the pipeline's templates use (merged into the cookiecutter context)."""
    cloud = CLOUD_PIPELINE[answers.cloud]
    cli = CLOUD_CLI[answers.cloud]
    prod = stacks[Environment.PROD]
    extra = pattern_variables(answers.cloud, answers.pattern)
    github_env = cloud.github_env + "".join(
        f"{name}: ${{{{ vars.{name} }}}}\n" for name, _ in extra
    )
    variables = cloud.variables + extra
    return {
        # pre-indented for the place they take in the workflow files (a steps list, a job env)
        "ci_login_step": textwrap.indent(cloud.github_login.rstrip("\n"), " " * 6),
        "ci_publish_login_step": textwrap.indent(
            (
                cloud.github_login
                if cloud.github_publish_login is None
                else cloud.github_publish_login
            ).rstrip("\n"),
            " " * 6,
        ),
        "ci_runs_on": cloud.github_runs_on,
        # the image release signs in with an OIDC identity (not with a registry robot account)
        "ci_publish_oidc": cloud.github_publish_login != "",
        "ci_deploy_login_step": textwrap.indent(
            (cloud.github_login + cloud.github_deploy_session).rstrip("\n"), " " * 6
        ),
        "ci_job_env": textwrap.indent(github_env.rstrip("\n"), " " * 6),
        "ci_gitlab_login": textwrap.indent(cloud.gitlab_login.rstrip("\n"), " " * 6),
        "ci_gitlab_image": GITLAB_PYTHON_IMAGE,
        "ci_gitlab_cli_install": textwrap.indent(cli.install.rstrip("\n"), " " * 6),
        "ci_gitlab_cli_login": textwrap.indent(cli.login.rstrip("\n"), " " * 6),
        "ci_cli": {"tool": cli.tool, "version": cli.version},
        "ci_gitlab_audience": cloud.gitlab_audience,
        "ci_gitlab_preview_rules": textwrap.indent(
            cloud.gitlab_preview_rules.rstrip("\n"), " " * 4
        ),
        "ci_registry_login": textwrap.indent(cloud.registry_login.rstrip("\n"), " " * 10),
        "ci_gitlab_release_image": cloud.gitlab_release_image,
        "ci_gitlab_registry_login": textwrap.indent(
            cloud.gitlab_registry_login.rstrip("\n"), " " * 6
        ),
        "ci_variables_md": "\n".join(f"| `{name}` | {what} |" for name, what in variables),
        "ci_client_variables_md": "\n".join(
            f"   | `{name}` | {kind} | {what} |" for name, kind, what in cloud.client_variables
        ),
        "ci_actions": ACTIONS,
        "http_endpoint_output": HTTP_ENDPOINT_OUTPUT[answers.pattern],
        "rollout_strategy": prod.rollout.strategy.value,
        "runbook_data_md": cloud.data_rollback,
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

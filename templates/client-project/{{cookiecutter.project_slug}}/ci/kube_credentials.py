"""The CI job's way into the client's cluster and Vault (kubernetes target): nothing stored.

Three commands, standard library only:

``python ci/kube_credentials.py kubeconfig --context NAME --server URL [--ca-file F] OUT``
    writes a kubeconfig whose one user is an exec credential plugin: this same file, run by the
    same interpreter. The context is named like the stack's ``kubernetes:context`` (the stack
    file pins it, so the provider refuses to run against another cluster) and the server and CA
    come from the environment's CI variables (``KUBE_SERVER``, ``KUBE_CA_DATA``).

``python ci/kube_credentials.py token``
    what kubectl and the Pulumi Kubernetes provider (client-go) run whenever they need a token:
    prints an ``ExecCredential`` holding the job's OIDC token for the API server's audience
    (``KUBE_OIDC_AUDIENCE``) and its expiry, so the client asks again before it runs out. On
    GitHub Actions every call requests a fresh token (``ACTIONS_ID_TOKEN_REQUEST_URL``; the job
    needs ``id-token: write``): a `pulumi up` longer than one token's life keeps working. On
    GitLab the job's ID token (``CLOUD_OIDC_TOKEN``, declared under ``id_tokens`` with the same
    audience) lives as long as the job.

``python ci/kube_credentials.py ca-bundle OUT``
    writes the system's CA certificates plus the client's internal CA (``CLIENT_CA_DATA``,
    base64 of the PEM; optional) to OUT, for ``SSL_CERT_FILE``: the Pulumi CLI and providers,
    Python (the smoke tests, this file's Vault login) and boto3 then trust the client's
    Vault, object store and API host without turning verification off anywhere.

``python ci/kube_credentials.py vault-token``
    logs in to the client's Vault with the same OIDC token (JWT auth method at
    ``VAULT_AUTH_PATH``, default ``jwt``, role ``VAULT_ROLE``) and prints the Vault token that
    Pulumi's ``hashivault://`` secrets provider reads from ``VAULT_SERVER_TOKEN``.

The API server maps the token to the user ``ci:<ci>:<repository>:<CI environment>``
(bootstrap/README.md, "The API server trusts the CI's tokens"), which the kubernetes
bootstrap binds to the environment's deployer Role. Errors are one line on stderr and exit 1;
a token never reaches stdout except inside the ExecCredential the client reads.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

EXEC_API_VERSION = "client.authentication.k8s.io/v1"
# Refresh this long before the token's own expiry: a request signed just before `exp` must not
# reach the API server after it.
EXPIRY_MARGIN = timedelta(seconds=60)
# GitHub's token endpoint answers in well under a second; a hung call must not hang `pulumi up`.
REQUEST_TIMEOUT_SECONDS = 20

Fetch = Callable[[urllib.request.Request], bytes]


class CredentialError(Exception):
    """No token could be had: a missing variable, a refused request, an unreadable token."""


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise CredentialError(f"{name} is not set: {_WHY.get(name, 'a CI variable')}")
    return value


_WHY = {
    "KUBE_OIDC_AUDIENCE": "the audience the API server's JWT authenticator accepts (CI variable)",
    "KUBE_SERVER": "the API server URL of this environment's cluster (CI variable)",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "the job needs `permissions: id-token: write`",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "the job needs `permissions: id-token: write`",
    "CLOUD_OIDC_TOKEN": "declare it under the job's `id_tokens` with aud $KUBE_OIDC_AUDIENCE",
    "VAULT_SERVER_URL": "the client's Vault, https://HOST:PORT (CI variable)",
    "VAULT_ROLE": "the Vault JWT role of this CI environment (CI variable)",
}


def _default_fetch(request: urllib.request.Request) -> bytes:
    # https only: GitHub's token endpoint from the runner's environment, the client's Vault.
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as answer:  # noqa: S310  # nosec B310
        body: bytes = answer.read()
        return body


def github_token(env: Mapping[str, str], audience: str, fetch: Fetch = _default_fetch) -> str:
    """A fresh GitHub Actions OIDC token for ``audience``."""
    url = _require(env, "ACTIONS_ID_TOKEN_REQUEST_URL")
    bearer = _require(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url.startswith("https://"):
        raise CredentialError("ACTIONS_ID_TOKEN_REQUEST_URL is not an https URL")
    separator = "&" if "?" in url else "?"
    request = urllib.request.Request(  # noqa: S310 - https checked above
        f"{url}{separator}{urllib.parse.urlencode({'audience': audience})}",
        headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"},
    )
    try:
        body = fetch(request)
    except urllib.error.HTTPError as error:
        raise CredentialError(f"GitHub refused the OIDC token request: HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise CredentialError(f"GitHub's OIDC token endpoint did not answer: {error}") from None
    try:
        value = json.loads(body)["value"]
    except (ValueError, KeyError, TypeError):
        raise CredentialError("GitHub's OIDC token endpoint answered without a token") from None
    if not isinstance(value, str) or not value:
        raise CredentialError("GitHub's OIDC token endpoint answered without a token")
    return value


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT: the API server verifies; we only read ``exp``/``aud``."""
    parts = token.split(".")
    if len(parts) != 3:
        raise CredentialError("the OIDC token is not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        raise CredentialError("the OIDC token's claims are unreadable") from None
    if not isinstance(claims, dict):
        raise CredentialError("the OIDC token's claims are unreadable")
    return claims


def exec_credential(token: str, audience: str, now: datetime | None = None) -> dict[str, Any]:
    """The ExecCredential client-go reads, expiring :data:`EXPIRY_MARGIN` before the token."""
    claims = jwt_claims(token)
    audiences = claims.get("aud")
    listed = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if audience not in listed:
        raise CredentialError(f"the OIDC token is for {listed}, not {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        raise CredentialError("the OIDC token has no expiry")
    expires = datetime.fromtimestamp(exp, tz=timezone.utc) - EXPIRY_MARGIN
    if expires <= (now or datetime.now(timezone.utc)):
        raise CredentialError("the OIDC token has expired (a GitLab job outlived its ID token?)")
    return {
        "apiVersion": EXEC_API_VERSION,
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


def job_token(env: Mapping[str, str], fetch: Fetch = _default_fetch) -> tuple[str, str]:
    """(OIDC token, audience) of this job: GitHub (fresh) or GitLab (the job's ID token)."""
    audience = _require(env, "KUBE_OIDC_AUDIENCE")
    if env.get("GITHUB_ACTIONS") == "true":
        return github_token(env, audience, fetch), audience
    if env.get("GITLAB_CI") == "true":
        return _require(env, "CLOUD_OIDC_TOKEN"), audience
    raise CredentialError("not a GitHub Actions or GitLab CI job: use your own kubeconfig")


def token_credential(env: Mapping[str, str], fetch: Fetch = _default_fetch) -> dict[str, Any]:
    """The ExecCredential for this job: GitHub (a fresh token) or GitLab (the job's ID token)."""
    token, audience = job_token(env, fetch)
    return exec_credential(token, audience)


def vault_token(env: Mapping[str, str], fetch: Fetch = _default_fetch) -> str:
    """A Vault token from Vault's JWT auth method, for this job's OIDC token."""
    token, audience = job_token(env, fetch)
    exec_credential(token, audience)  # the same audience and expiry checks as the cluster's
    server = _require(env, "VAULT_SERVER_URL").rstrip("/")
    if not server.startswith("https://"):
        raise CredentialError(f"VAULT_SERVER_URL must be an https URL, not {server!r}")
    path = env.get("VAULT_AUTH_PATH") or "jwt"
    if not all(part.isalnum() or part in "-_/" for part in path):
        raise CredentialError(f"VAULT_AUTH_PATH {path!r} is not a Vault mount path")
    request = urllib.request.Request(  # noqa: S310 - https checked above
        f"{server}/v1/auth/{path}/login",
        data=json.dumps({"role": _require(env, "VAULT_ROLE"), "jwt": token}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        body = fetch(request)
    except urllib.error.HTTPError as error:
        raise CredentialError(f"Vault refused the JWT login: HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise CredentialError(f"Vault did not answer: {error}") from None
    try:
        client_token = json.loads(body)["auth"]["client_token"]
    except (ValueError, KeyError, TypeError):
        raise CredentialError("Vault answered the JWT login without a token") from None
    if not isinstance(client_token, str) or not client_token:
        raise CredentialError("Vault answered the JWT login without a token")
    return client_token


def kubeconfig(
    *, context: str, server: str, ca_data: str | None, namespace: str | None = None
) -> dict[str, Any]:
    """A kubeconfig with one cluster, one exec-plugin user and one context named ``context``."""
    if not server.startswith("https://"):
        raise CredentialError(f"KUBE_SERVER must be an https URL, not {server!r}")
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        try:
            base64.b64decode(ca_data, validate=True)
        except binascii.Error:
            raise CredentialError("KUBE_CA_DATA is not base64 (base64 -w0 of the CA PEM)") from None
        cluster["certificate-authority-data"] = ca_data
    user = {
        "exec": {
            "apiVersion": EXEC_API_VERSION,
            # Absolute paths: client-go runs the plugin from whatever directory the provider has.
            "command": sys.executable,
            "args": [str(Path(__file__).resolve()), "token"],
            "interactiveMode": "Never",
            "provideClusterInfo": False,
        }
    }
    ctx: dict[str, Any] = {"cluster": context, "user": f"{context}-ci"}
    if namespace:
        ctx["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": f"{context}-ci", "user": user}],
        "contexts": [{"name": context, "context": ctx}],
        "current-context": context,
    }


# Where Debian/Ubuntu (the runners, python:3.11-bookworm) keep the system CA bundle.
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def ca_bundle(env: Mapping[str, str], system: Path | None = None) -> str:
    """The system CA bundle followed by the client's CA (``CLIENT_CA_DATA``), as PEM text."""
    source = system
    if source is None:
        found = ssl.get_default_verify_paths().cafile
        source = Path(found) if found else SYSTEM_BUNDLE
    try:
        text = source.read_text(encoding="ascii").rstrip("\n") + "\n"
    except (OSError, UnicodeDecodeError):
        raise CredentialError(f"no system CA bundle at {source}") from None
    data = env.get("CLIENT_CA_DATA", "")
    if not data:
        return text
    try:
        pem = base64.b64decode(data, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise CredentialError("CLIENT_CA_DATA is not base64 of a PEM (base64 -w0 ca.pem)") from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise CredentialError("CLIENT_CA_DATA holds no PEM certificate")
    return text + pem.rstrip("\n") + "\n"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only (a kubeconfig names the cluster and its CA)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def main(
    argv: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    fetch: Fetch = _default_fetch,
) -> int:
    """Entry point: ``token`` or ``kubeconfig``; exit 0, or 1 with one line on stderr."""
    environ = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="kube_credentials", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("token", help="print an ExecCredential (run by kubectl/client-go)")
    commands.add_parser("vault-token", help="print a Vault token (JWT login)")
    bundle = commands.add_parser("ca-bundle", help="write the system CAs + the client's CA")
    bundle.add_argument("out", type=Path)
    write = commands.add_parser("kubeconfig", help="write the job's kubeconfig")
    write.add_argument("out", type=Path)
    write.add_argument("--context", required=True, help="the stack's kubernetes:context")
    write.add_argument("--server", default=None, help="default: $KUBE_SERVER")
    write.add_argument("--namespace", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "token":
            print(json.dumps(token_credential(environ, fetch)))
            return 0
        if args.command == "vault-token":
            print(vault_token(environ, fetch))
            return 0
        if args.command == "ca-bundle":
            text = ca_bundle(environ)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="ascii")
            print(f"CA bundle written to {args.out}")
            return 0
        config = kubeconfig(
            context=args.context,
            server=args.server or _require(environ, "KUBE_SERVER"),
            ca_data=environ.get("KUBE_CA_DATA") or None,
            namespace=args.namespace,
        )
        # JSON is YAML: kubectl and client-go read it as a kubeconfig.
        write_private(args.out, json.dumps(config, indent=2) + "\n")
        print(f"kubeconfig for context {args.context} written to {args.out}")
        return 0
    except CredentialError as error:
        print(f"kube_credentials: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

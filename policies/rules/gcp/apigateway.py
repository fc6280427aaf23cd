"""API Gateway configs and Cloud Endpoints services: no API method without caller
authentication.

Both take an OpenAPI document (API Gateway base64-encoded in ``openapiDocuments``, Endpoints as
text in ``openapiConfig``), and both let through, unauthenticated, any operation whose effective
``security`` is missing or empty, or which lists the empty requirement ``{}`` as an alternative.
``x-google-backend.jwt_audience`` does not help: it is the gateway's own identity towards the
backend, so an operation without ``security`` reaches the backend *as the gateway*. Endpoints'
``x-google-allow: all`` passes calls to undeclared paths to the backend unchecked.

Exempt: CORS preflight (``options``) and read-only health probes (GET or HEAD on a path whose
last segment is a probe name) that declare ``security: []`` explicitly.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import as_list, canonical_type, resource_rule
from policies.rules.references import guardrail

API_CONFIG = "gcp:apigateway/apiConfig:ApiConfig"
ENDPOINTS_SERVICE = "gcp:endpoints/service:Service"

METHODS: tuple[str, ...] = ("get", "put", "post", "delete", "patch", "head", "trace", "options")
READ_METHODS: frozenset[str] = frozenset({"get", "head"})
PROBE_SEGMENTS: frozenset[str] = frozenset(
    {"health", "healthz", "healthcheck", "ready", "readyz", "readiness", "live", "livez", "ping"}
)


def load_document(text: Any) -> Mapping[str, Any] | None:
    """An OpenAPI document (YAML or JSON text), or None when it is not one."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return document if isinstance(document, Mapping) else None


def decode_contents(contents: Any) -> str | None:
    """API Gateway's base64 ``contents`` as text."""
    if not isinstance(contents, str):
        return None
    try:
        return base64.b64decode(contents, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _anonymous(security: Any) -> bool:
    """No requirement, or an empty requirement among the alternatives."""
    requirements = as_list(security)
    return not requirements or any(isinstance(r, Mapping) and len(r) == 0 for r in requirements)


def _is_probe(path: str, method: str, operation: Mapping[str, Any]) -> bool:
    segment = path.rstrip("/").rsplit("/", 1)[-1].lower()
    explicit = "security" in operation and not as_list(operation.get("security"))
    return method in READ_METHODS and segment in PROBE_SEGMENTS and explicit


def unauthenticated_operations(document: Mapping[str, Any]) -> Iterator[str]:
    """``METHOD path`` of every operation a caller reaches without credentials."""
    default = document.get("security")
    paths = document.get("paths")
    if not isinstance(paths, Mapping):
        return
    for path, item in paths.items():
        if not isinstance(item, Mapping) or str(path).startswith("x-"):
            continue
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, Mapping) or method == "options":
                continue
            security = operation.get("security", default)
            if _anonymous(security) and not _is_probe(str(path), method, operation):
                yield f"{method.upper()} {path}"


def document_findings(document: Mapping[str, Any], where: str) -> Iterator[str]:
    """Messages for one OpenAPI document found at ``where``."""
    for operation in unauthenticated_operations(document):
        yield (
            f"API method allows unauthenticated calls: `{operation}` in {where} has no "
            "security requirement (or an empty one); require an API key or JWT "
            "(`security` with a `securityDefinitions` scheme)."
        )
    if str(document.get("x-google-allow") or "").lower() == "all":
        yield (
            f"API allows unauthenticated calls to undeclared paths: {where} sets "
            "`x-google-allow: all`; remove it so only declared operations pass."
        )


def _documents(props: Mapping[str, Any], resource_type: str) -> Iterator[tuple[str, Any]]:
    if canonical_type(resource_type) == ENDPOINTS_SERVICE:
        yield "`openapiConfig`", load_document(props.get("openapiConfig"))
        return
    for index, entry in enumerate(as_list(props.get("openapiDocuments"))):
        document = entry.get("document") if isinstance(entry, Mapping) else None
        contents = document.get("contents") if isinstance(document, Mapping) else None
        path = document.get("path") if isinstance(document, Mapping) else None
        label = f"`openapiDocuments[{index}]`" + (f" ({path})" if path else "")
        yield label, load_document(decode_contents(contents))


def _unauthenticated(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for where, document in _documents(props, args.resource_type):
        if document is not None:
            yield from document_findings(document, where)


api_require_authenticated_methods = resource_rule(
    "gcp-api-gateway-require-authenticated-methods",
    "Every method of an API Gateway config or Cloud Endpoints service requires an API key or "
    "a JWT (health probes excepted when declared `security: []`).",
    types=(API_CONFIG, ENDPOINTS_SERVICE),
    check=_unauthenticated,
    severity=Severity.HIGH,
    tags=["authentication", "public-access"],
    remediation=(
        "Declare a `securityDefinitions` scheme (apiKey, or oauth2 with `x-google-issuer` / "
        "`x-google-audiences`) and a top-level `security` requirement (or one on each "
        "operation); never list `{}` as an alternative; drop `x-google-allow: all`."
    ),
    # Guardrail 10 ("no endpoint callable without authentication") on GCP's gateways; no
    # Checkov GCP check reads the OpenAPI document these resources carry.
    references=[guardrail("10")],
    since=2,
)

"""Names and labels every kubernetes block shares.

Kubernetes is stricter than the clouds' tags: a label value is at most 63 characters of
``[A-Za-z0-9._-]`` starting and ending alphanumeric, and an object name is a DNS label. The
standard tags may hold ``@`` or a trailing ``-`` (spec.TAG_VALUE_RE allows both), so they are
cleaned here, once, rather than trusted by every block.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.spec import DeploymentSpec

# The labels that select a stack's pods: its component name and the pod's role in it.
NAME_LABEL = "app.kubernetes.io/name"
ROLE_LABEL = "app.kubernetes.io/component"
VERSION_LABEL = "app.kubernetes.io/version"
DNS_LABEL_MAX = 63
_LABEL_KEY_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def namespace_name(spec: DeploymentSpec) -> str:
    """The environment's namespace: ``<project>-<environment>`` (at most 48 characters)."""
    return object_name(spec.project, spec.environment.value)


def object_name(*parts: str) -> str:
    """A DNS-1123 label from ``parts``; an over-long one keeps its start and gains a hash."""
    full = "-".join(p for p in parts if p).lower()
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", full)).strip("-")
    if len(cleaned) > DNS_LABEL_MAX:
        digest = hashlib.sha256(full.encode()).hexdigest()[:6]
        cleaned = f"{cleaned[: DNS_LABEL_MAX - 7].rstrip('-')}-{digest}"
    return cleaned


def label_value(value: str) -> str:
    """``value`` as a valid label value: other characters become ``_``, the ends alphanumeric."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", value)[:DNS_LABEL_MAX]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def stack_labels(spec: DeploymentSpec) -> dict[str, str]:
    """The standard tags as labels (project, environment, owner, managed-by, the client's own);
    a key Kubernetes would refuse (a trailing ``-``) is trimmed, an empty value dropped."""
    out: dict[str, str] = {}
    for key, value in spec.standard_tags().items():
        clean_key = re.sub(r"[^A-Za-z0-9]+$", "", key)
        clean_value = label_value(value)
        if _LABEL_KEY_NAME_RE.match(clean_key) and clean_value:
            out[clean_key] = clean_value
    return out


def selector(name: str, role: str) -> dict[str, str]:
    """The labels one workload's pods are selected by (immutable on a Deployment)."""
    return {NAME_LABEL: label_value(name), ROLE_LABEL: role}


def metadata(
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    """``metadata`` of a namespaced object: always an explicit namespace (typed and custom
    resources both take it)."""
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(labels),
        annotations=dict(annotations) if annotations else None,
    )

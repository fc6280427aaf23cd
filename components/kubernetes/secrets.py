"""Kubernetes building block: the only way a secret enters a stack, an External Secrets
``ExternalSecret`` that copies keys from the client's store into a Secret it owns.

The stack never holds secret material: no ``core/v1`` Secret with data is created here or
anywhere in components/kubernetes (a test holds every stack to it), so neither the Pulumi state
nor a preview ever shows a key. The cluster's ``ClusterSecretStore`` (``cluster.secret_store``:
Vault, a cloud secret manager, ...) is the client's; External Secrets Operator writes the target
Secret, owns it (``creationPolicy: Owner``: deleting the ExternalSecret deletes the copy) and
refreshes it every REFRESH_INTERVAL, so a rotation in the store reaches the pods without a
deploy.

:func:`ca_bundle` is the client's internal CA (``cluster.ca_bundle_key``): the PEM bundle under
property ``ca.crt`` of that store key, synced into a Secret the pods mount read-only
(workload.py) and KEDA reads (scaling.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.meta import metadata

API_VERSION = "external-secrets.io/v1"
KIND = "ExternalSecret"
STORE_KIND = "ClusterSecretStore"
REFRESH_INTERVAL = "1h"
OPAQUE = "Opaque"
# The CA bundle's property in the store and its key in the synced Secret (the file name the
# pods read).
CA_BUNDLE_PROPERTY = "ca.crt"


@dataclass(frozen=True)
class Entry:
    """One key of the target Secret: ``secret_key`` from ``remote_key`` (a path in the store),
    optionally one ``remote_property`` of it (a field of a Vault KV secret, a JSON key)."""

    secret_key: str
    remote_key: str
    remote_property: str | None = None

    def as_data(self) -> dict[str, object]:
        """The ``spec.data[]`` item."""
        ref: dict[str, str] = {"key": self.remote_key}
        if self.remote_property is not None:
            ref["property"] = self.remote_property
        return {"secretKey": self.secret_key, "remoteRef": ref}


def external_secret(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    store: str,
    entries: Sequence[Entry] = (),
    extract: str | None = None,
    secret_type: str = OPAQUE,
    literals: Mapping[str, str] | None = None,
) -> k8s.apiextensions.CustomResource:
    """An ExternalSecret ``name`` writing the Secret ``name`` (same name: one place to look)
    from ``store``: the keys ``entries`` name, and/or every property of the store key
    ``extract`` (e.g. one API key per client id); ``secret_type`` e.g. ``kubernetes.io/tls``.

    ``literals``: fixed, non-secret keys written next to the synced ones (a switch a consumer
    reads from the same Secret, e.g. KEDA's ``tls: enable``), through the template with
    ``mergePolicy: Merge``, which keeps the synced keys beside the template's (with the
    default ``Replace`` a template with data would drop them)."""
    if not entries and extract is None:
        raise ValueError(f"{logical}: an ExternalSecret needs entries or a key to extract")
    target: dict[str, object] = {"name": name, "creationPolicy": "Owner"}
    template: dict[str, object] = {}
    if secret_type != OPAQUE:
        template["type"] = secret_type
    if literals:
        template |= {"mergePolicy": "Merge", "data": dict(literals)}
    if template:
        target["template"] = template
    spec: dict[str, object] = {
        "refreshInterval": REFRESH_INTERVAL,
        "secretStoreRef": {"kind": STORE_KIND, "name": store},
        "target": target,
    }
    if entries:
        spec["data"] = [e.as_data() for e in entries]
    if extract is not None:
        spec["dataFrom"] = [{"extract": {"key": extract}}]
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=API_VERSION,
        kind=KIND,
        metadata=metadata(name, namespace, labels),
        spec=spec,
        opts=opts,
    )


def ca_bundle(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    store: str,
    remote_key: str,
    literals: Mapping[str, str] | None = None,
) -> k8s.apiextensions.CustomResource:
    """The client's CA bundle: property ``ca.crt`` of ``remote_key`` (``cluster.ca_bundle_key``)
    into the Secret ``name`` under key ``ca.crt``; ``literals`` as in :func:`external_secret`."""
    return external_secret(
        logical, opts, name=name, namespace=namespace, labels=labels, store=store,
        entries=[Entry(CA_BUNDLE_PROPERTY, remote_key, CA_BUNDLE_PROPERTY)], literals=literals,
    )  # fmt: skip

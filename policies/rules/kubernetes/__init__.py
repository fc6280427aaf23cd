"""The Kubernetes rules (the kubernetes target: the client's own cluster, deployed with
pulumi_kubernetes), listed explicitly (no registration by import side effect)."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules.kubernetes import (
    exposure,
    host,
    images,
    namespaces,
    pods,
    routes,
    secrets,
    service_accounts,
)

POLICIES: list[Policy] = [
    # Pods: the restricted security context, requests and limits; nothing reaches the node
    pods.workload_hardened,
    host.no_privileged_or_host_namespaces,
    images.image_by_digest,
    pods.serving_probes,
    # Namespaces: Pod Security Admission enforces restricted; traffic closed by default
    namespaces.namespace_restricted,
    namespaces.namespace_default_deny,
    # Secrets come from the client's store; tokens only where needed
    secrets.no_plain_secrets,
    service_accounts.service_account_token,
    # Traffic enters through the gateway, over TLS, and every route asks for credentials
    exposure.service_not_exposed,
    exposure.gateway_tls,
    routes.route_authenticated,
]

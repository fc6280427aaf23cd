"""The kubernetes target's bootstrap: what the client's platform team applies once per cluster.

A stack's CI deployer must never be able to relax the guard rails it runs under. So the
namespace of each environment and everything that bounds it belong here, not to the stacks:
the Namespace with Pod Security ``restricted`` (pinned to the cluster's minor), its
ResourceQuota and LimitRange, and its default-deny NetworkPolicy (components/kubernetes/
namespace.py). The stacks deploy *into* that namespace with a Role that has no rights on
namespaces, quotas or limit ranges, and a ValidatingAdmissionPolicy refuses the deployers any
change to the default-deny policy (they do need to write the allow policies their flows name).

CI reaches the cluster with its own OIDC token, mapped to a user name by the API server's
structured authentication (docs/patterns/kubernetes.md, "CI access"):
``ci:<ci system>:<repository>:<CI environment>``. Each identity role of components/bootstrap.py
becomes one such user per CI environment, bound in the namespaces it works on: a deployer to
the ``aideploy-deployer`` Role of its environment's namespace, a previewer to the built-in
``view`` ClusterRole of the namespaces it previews. No static token or kubeconfig exists.

The generated bootstrap program passes each environment's namespace plan, derived from that
stack's file (``bootstrap_inputs``), so the quota follows the capacity the stack declares.
Bootstrap does not create the state store, the secrets keys or the registry: on premises they are
the client's (an S3-compatible store, Vault's transit engine, the registry the model image is
in); the outputs name them the way `pulumi login`, `pulumi stack init` and CI take them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.bootstrap import (
    BOOTSTRAP_OUTPUTS,
    IDENTITY_STACKS,
    READ_ONLY_ROLES,
    BootstrapSpec,
    IdentityRole,
)
from components.kubernetes import namespace
from components.kubernetes.meta import metadata, namespace_name
from components.kubernetes.patterns import cluster_of
from components.spec import (
    CANDIDATE_PATTERNS,
    Cloud,
    DeploymentSpec,
    Environment,
    spec_from_config,
)

# What the stacks create in their namespace (components/kubernetes/*): the deployer's Role
# grants exactly these, in that namespace only. Namespaces, quotas and limit ranges are absent
# on purpose (they are bootstrap's); so are secrets' contents (External Secrets writes them).
DEPLOYER_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("services", "serviceaccounts", "configmaps")),
    ("apps", ("deployments",)),
    ("autoscaling", ("horizontalpodautoscalers",)),
    ("policy", ("poddisruptionbudgets",)),
    ("networking.k8s.io", ("networkpolicies",)),
    ("rbac.authorization.k8s.io", ("roles", "rolebindings")),
    ("gateway.networking.k8s.io", ("gateways", "httproutes")),
    (
        "gateway.envoyproxy.io",
        ("securitypolicies", "backendtrafficpolicies", "clienttrafficpolicies"),
    ),
    ("external-secrets.io", ("externalsecrets",)),
    ("keda.sh", ("scaledobjects", "triggerauthentications")),
    ("monitoring.coreos.com", ("servicemonitors", "podmonitors", "prometheusrules")),
    ("monitoring.coreos.com", ("alertmanagerconfigs",)),
    ("serving.kserve.io", ("inferenceservices",)),
)
WRITE_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
# Read-only: what `pulumi refresh` and the pipeline's checks read (pods and events for a failed
# rollout's reason); never secrets.
READ_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (("", ("pods", "events", "endpoints")),)
READ_VERBS = ("get", "list", "watch")
DEPLOYER_ROLE = "aideploy-deployer"
# Built in: read access to a namespace's objects, without secrets.
VIEW_CLUSTER_ROLE = "view"
# The user name the API server gives a CI job's token (its structured authentication's
# claimMappings.username expression, docs/patterns/kubernetes.md).
CI_USER = "ci:{ci}:{repo}:{environment}"
# The label that marks the objects the deployers may not touch (the admission policy's match).
GUARD_LABEL = "aideploy.io/guard"


@dataclass(frozen=True)
class NamespacePlan:
    """One environment's namespace: its name, the cluster minor Pod Security is pinned to, its
    quota (components.kubernetes.namespace.quota_for the stack's capacity) and whether it is
    protected from deletion (the profile's deletion protection)."""

    name: str
    kubernetes_version: str
    quota: Mapping[str, str]
    protect: bool


def namespace_plan(spec: DeploymentSpec) -> NamespacePlan:
    """One stack's namespace as bootstrap creates it, derived from the stack's own spec (the
    generated bootstrap reads the stack files, so a capacity change there resizes the quota at
    the next bootstrap run). Patterns that serve a candidate beside the stable version are
    budgeted for both at their ceiling: a release may start at any time."""
    cluster = cluster_of(spec)
    workloads = 2 if spec.pattern in CANDIDATE_PATTERNS else 1
    return NamespacePlan(
        name=namespace_name(spec),
        kubernetes_version=cluster.kubernetes_version,
        quota=namespace.quota_for(spec.capacity, workloads, cluster.gpus),
        protect=spec.retention.deletion_protection,
    )


def bootstrap_inputs(
    spec: BootstrapSpec, stack_sections: Callable[[Environment], Mapping[str, Any]]
) -> dict[str, Any]:
    """The registry's hook (components.registry.bootstrap_inputs): ``namespaces``, one plan per
    environment of this cluster, from that environment's stack file."""
    plans = {}
    for env in spec.environments:
        stack = spec_from_config(spec.project, dict(stack_sections(env)))
        if stack.environment is not env or stack.cloud is not Cloud.KUBERNETES:
            raise ValueError(
                f"stack file of {env.value} describes {stack.cloud.value} {stack.environment.value}"
            )
        plans[env] = namespace_plan(stack)
    return {"namespaces": plans}


def ci_user(spec: BootstrapSpec, ci_environment: str) -> str:
    """The cluster user name of a CI job running in ``ci_environment`` of the project's repo."""
    return CI_USER.format(ci=spec.ci.value, repo=spec.repo, environment=ci_environment)


def role_users(spec: BootstrapSpec, role: IdentityRole) -> tuple[str, ...]:
    """The cluster users one identity role is (one per CI environment it runs in)."""
    return tuple(ci_user(spec, e) for e in spec.ci_environments(role))


def deployer_rules() -> list[k8s.rbac.v1.PolicyRuleArgs]:
    """The deployer Role's rules: write what the stacks create, read what a rollout reports."""
    rules = [
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[group], resources=list(kinds), verbs=list(WRITE_VERBS)
        )
        for group, kinds in DEPLOYER_RULES
    ]
    rules += [
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[group], resources=list(kinds), verbs=list(READ_VERBS)
        )
        for group, kinds in READ_RULES
    ]
    return rules


def guard_policy_expression(deployers: tuple[str, ...]) -> str:
    """The CEL the admission policy validates: a deployer never changes or deletes an object
    labelled ``aideploy.io/guard`` (on delete the old object carries the label)."""
    users = ", ".join(f"'{u}'" for u in deployers)
    return f"!(request.userInfo.username in [{users}])"


class KubernetesBootstrap(pulumi.ComponentResource):
    """One cluster's bootstrap: per environment its guarded namespace and the CI identities'
    bindings; for the whole cluster the admission policy that keeps deployers off the guards.

    ``namespaces`` gives each of ``spec.environments`` its plan. Outputs: ``namespaces``
    ({environment: namespace}), ``identities`` ({role: [cluster user names]}) and
    ``stack_prerequisites`` ({environment: {"namespace": name}}).
    """

    def __init__(
        self,
        name: str,
        spec: BootstrapSpec,
        namespaces: Mapping[Environment, NamespacePlan],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aideploy:kubernetes:Bootstrap", name, None, opts)
        if spec.cloud is not Cloud.KUBERNETES:
            raise ValueError(f"KubernetesBootstrap takes a kubernetes spec, not {spec.cloud.value}")
        missing = [e.value for e in spec.environments if e not in namespaces]
        if missing:
            raise ValueError(f"namespaces: no plan for {', '.join(missing)}")
        self.spec = spec
        labels = {"app.kubernetes.io/managed-by": "aideploy", "aideploy.io/project": spec.project}
        self.created: dict[Environment, namespace.Namespace] = {}
        for env in spec.environments:
            plan = namespaces[env]
            self.created[env] = namespace.create_namespace(
                f"{name}-{env.value}",
                pulumi.ResourceOptions(parent=self),
                name=plan.name,
                kubernetes_version=plan.kubernetes_version,
                labels={**labels, GUARD_LABEL: "true"},
                hard=plan.quota,
                protect=plan.protect,
            )  # fmt: skip
            self._bind(name, env, plan.name)
        self._guard(name)
        # The publish role has no cluster user: it pushes with the registry's robot account.
        self.identities = {
            role.value: [] if role is IdentityRole.PUBLISH else list(role_users(spec, role))
            for role in spec.identities
        }
        self.stack_prerequisites = {
            env.value: {"namespace": namespaces[env].name} for env in spec.environments
        }
        self._outputs = self._collect_outputs(namespaces)
        self.register_outputs(
            {**self._outputs, "namespaces": {e.value: p.name for e, p in namespaces.items()}}
        )

    def outputs(self) -> dict[str, pulumi.Output[Any]]:
        """Exactly ``BOOTSTRAP_OUTPUTS``, by name (the same keys as every cloud's bootstrap)."""
        return dict(self._outputs)

    def _collect_outputs(
        self, namespaces: Mapping[Environment, NamespacePlan]
    ) -> dict[str, pulumi.Output[Any]]:
        spec = self.spec
        # What CI needs per CI environment beyond what the client sets itself (KUBE_SERVER,
        # KUBE_CA_DATA, KUBE_OIDC_AUDIENCE, VAULT_SERVER_URL, the store's keys: docs/ci.md).
        # The release environment only pushes images, with the registry's own robot account.
        ci_variables = {
            ci_environment: {"PULUMI_BACKEND_URL": spec.backend_url, "KUBE_CONTEXT": spec.account}
            for role in spec.identities
            if role is not IdentityRole.PUBLISH
            for ci_environment in spec.ci_environments(role)
        }
        values: dict[str, Any] = {
            "backend_url": spec.backend_url,
            "secrets_providers": {e.value: spec.secrets_provider(e) for e in spec.environments},
            "identities": self.identities,
            "ci_variables": ci_variables,
            "image_repository": spec.image_repository if spec.registry else "",
            "stack_prerequisites": self.stack_prerequisites,
        }
        if set(values) != set(BOOTSTRAP_OUTPUTS):
            raise TypeError(f"bootstrap outputs {sorted(values)} != {sorted(BOOTSTRAP_OUTPUTS)}")
        return {key: pulumi.Output.from_input(value) for key, value in values.items()}

    def _bind(self, name: str, env: Environment, ns: str) -> None:
        """The deployer Role and its binding in ``ns``; the previewers' view bindings."""
        inside = pulumi.ResourceOptions(parent=self, depends_on=[self.created[env].resource])
        labels = {"app.kubernetes.io/managed-by": "aideploy"}
        role = k8s.rbac.v1.Role(
            f"{name}-{env.value}-deployer",
            metadata=metadata(DEPLOYER_ROLE, ns, labels),
            rules=deployer_rules(),
            opts=inside,
        )
        for identity in self.spec.identities:
            if env not in IDENTITY_STACKS[identity]:
                continue
            users = role_users(self.spec, identity)
            read_only = identity in READ_ONLY_ROLES
            k8s.rbac.v1.RoleBinding(
                f"{name}-{env.value}-{identity.value}",
                metadata=metadata(f"aideploy-{identity.value}", ns, labels),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io",
                    kind="ClusterRole" if read_only else "Role",
                    name=VIEW_CLUSTER_ROLE if read_only else DEPLOYER_ROLE,
                ),
                subjects=[
                    k8s.rbac.v1.SubjectArgs(
                        kind="User", name=user, api_group="rbac.authorization.k8s.io"
                    )
                    for user in users
                ],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
            )

    def _guard(self, name: str) -> None:
        """Deployers may write NetworkPolicies (their flows) but not the guarded default deny."""
        deployers = tuple(
            user
            for role in self.spec.identities
            if role not in READ_ONLY_ROLES and role is not IdentityRole.PUBLISH
            for user in role_users(self.spec, role)
        )
        match = k8s.admissionregistration.v1.MatchResourcesArgs(
            resource_rules=[
                k8s.admissionregistration.v1.NamedRuleWithOperationsArgs(
                    api_groups=["networking.k8s.io"],
                    api_versions=["v1"],
                    operations=["UPDATE", "DELETE"],
                    resources=["networkpolicies"],
                )
            ],
            object_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={GUARD_LABEL: "true"}),
        )
        policy_name = f"aideploy-{self.spec.project}-guards"
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-guards",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name),
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=match,
                validations=[
                    k8s.admissionregistration.v1.ValidationArgs(
                        expression=guard_policy_expression(deployers),
                        message="the namespace's guard rails belong to the platform team",
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-guards-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name),
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs(
                policy_name=policy_name, validation_actions=["Deny"]
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

"""The event-driven pattern on the client's Kubernetes cluster.

    producers --AMQPS--> the client's RabbitMQ: queue <project>-<env>-jobs (quorum queue,
                         x-delivery-limit 5, dead-lettered to <project>-<env>-jobs-dlq)
      --> Deployment <name>-worker (the hardened pod, one job per worker), scaled by KEDA on
          the queue length (to zero where the profile allows) or, without KEDA, an HPA on CPU
      --> the client's S3-compatible object store: <project>-<env>-input (read),
          <project>-<env>-results (written; job status under its status/ prefix)
      --> exchange <project>-<env>-notifications (completed / failed notices)

The broker and the store are the client's, outside the cluster's API: the queues and the
exchange are declared by the worker on start (idempotent AMQP declarations with the arguments
above) and the buckets by the client's storage administrators (docs/patterns/kubernetes.md,
"What the cluster must provide"; the generated bootstrap/README.md), so the stack
holds their names (its outputs) and the credentials' ExternalSecrets, never the services. The
worker reaches each only on its own port and at its own addresses (NetworkPolicy: one rule per
service, to ``cluster.queue.cidrs`` and ``cluster.object_store.cidrs``; dev may leave them
empty, then the port is the only limit). With ``cluster.ca_bundle_key`` (services whose
certificates the client's internal CA signed) the worker mounts that bundle and KEDA verifies
the broker against it.
``status_table`` is the results bucket's ``status/`` prefix: one JSON object per job, which
the object store's lifecycle expires with the results; no database is added on-prem for it.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pulumi

from components.alarms import MAX_DELIVERIES, event_alarms, max_processing_seconds, worker_bounds
from components.base import PatternComponent
from components.kubernetes import monitoring, network, scaling, secrets, workload
from components.kubernetes.meta import (
    NAME_LABEL,
    VERSION_LABEL,
    label_value,
    namespace_name,
    object_name,
    selector,
    stack_labels,
)
from components.kubernetes.patterns import cluster_of, create_alerting
from components.spec import ClusterQueue, DeploymentSpec, ObjectStore

ROLE = "worker"
HTTPS_PORT = 443
# The object store's credentials in the client's store (cluster.object_store.credentials_key):
# these two properties, handed to the worker under the names every S3 SDK reads.
OBJECT_STORE_PROPERTIES = {
    "AWS_ACCESS_KEY_ID": "access_key_id",
    "AWS_SECRET_ACCESS_KEY": "secret_access_key",
}
QUEUE_URL_KEY = "url"  # the key of the queue Secret that holds the broker URL
# The property of cluster.queue.url_key in the store that holds the URL (a Vault KV entry is a
# map: without a property External Secrets would copy its whole JSON).
QUEUE_URL_PROPERTY = "url"
STATUS_PREFIX = "status/"


def stack_name(spec: DeploymentSpec, *role: str) -> str:
    """``<project>-<environment>-<role>``: names in the client's broker and object store."""
    return object_name(spec.project, spec.environment.value, *role)


def store_port(endpoint: str) -> int:
    """The object store's port (its https endpoint's, 443 by default)."""
    return urlparse(endpoint).port or HTTPS_PORT


class KubernetesEventDriven(PatternComponent):
    """Jobs from the client's RabbitMQ, processed by workers in the client's cluster."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, spec, opts)
        self.cluster = cluster_of(spec)
        if self.cluster.queue is None or self.cluster.object_store is None:
            raise ValueError("cluster.queue and cluster.object_store: event-driven needs both")
        queue, store = self.cluster.queue, self.cluster.object_store
        self.labels = stack_labels(spec)
        # The namespace, its quota and its default deny are bootstrap's (bootstrap.py).
        self.namespace = namespace_name(spec)
        self.inside = self.child_opts()
        self.input_bucket = stack_name(spec, "input")
        self.results_bucket = stack_name(spec, "results")
        self.queue_name = stack_name(spec, "jobs")
        self.dead_letter_queue_name = stack_name(spec, "jobs", "dlq")
        self.notification_topic = stack_name(spec, "notifications")
        self.status_table = f"s3://{self.results_bucket}/{STATUS_PREFIX}"
        self._create_secrets(name, queue, store)
        self.worker_service = self._create_worker(name, spec, queue, store)
        self._create_network(name, spec, queue, store)
        targets = monitoring.Targets(
            namespace=self.namespace,
            worker_service=self.worker_service,
            queue=self.queue_name,
            dead_letter_queue=self.dead_letter_queue_name,
        )
        self.alerting = create_alerting(
            name, spec, self.labels, event_alarms(spec), targets, api=False, opts=self.inside
        )
        # No KMS in the cluster: the store holding every credential is the key custodian.
        self.kms_key_id = self.cluster.secret_store
        self.alert_topic = self.alerting.routing
        self._finish()

    # -- Credentials: synced from the client's store, never in the stack ---------------------
    def _create_secrets(self, name: str, queue: ClusterQueue, store: ObjectStore) -> None:
        self.queue_secret = object_name(name, "queue")
        self.store_secret = object_name(name, "object-store")
        self.ca_secret: str | None = None
        self.secrets = [
            secrets.external_secret(
                f"{name}-queue", self.inside, name=self.queue_secret,
                store=self.cluster.secret_store,
                entries=[secrets.Entry(QUEUE_URL_KEY, queue.url_key, QUEUE_URL_PROPERTY)],
                namespace=self.namespace,
                labels=self.labels,
            ),
            secrets.external_secret(
                f"{name}-object-store", self.inside, name=self.store_secret,
                store=self.cluster.secret_store,
                entries=[
                    secrets.Entry(env, store.credentials_key, prop)
                    for env, prop in OBJECT_STORE_PROPERTIES.items()
                ],
                namespace=self.namespace, labels=self.labels,
            ),
        ]  # fmt: skip
        if self.cluster.ca_bundle_key is not None:
            self.ca_secret = object_name(name, "ca")
            self.secrets.append(
                secrets.ca_bundle(
                    f"{name}-ca", self.inside, name=self.ca_secret, namespace=self.namespace,
                    labels=self.labels, store=self.cluster.secret_store,
                    remote_key=self.cluster.ca_bundle_key,
                    # KEDA reads its TLS switch from the same Secret (scaling.py).
                    literals=scaling.KEDA_TLS_LITERALS if self.cluster.keda else None,
                )
            )  # fmt: skip

    # -- Workers -----------------------------------------------------------------------------
    def _create_worker(
        self, name: str, spec: DeploymentSpec, queue: ClusterQueue, store: ObjectStore
    ) -> str:
        worker = object_name(name, ROLE)
        pods = selector(name, ROLE)
        labels = {**self.labels, **pods, VERSION_LABEL: label_value(spec.model.version)}
        cap, model = spec.capacity, spec.model
        account_name = object_name(name, ROLE)
        account = workload.service_account(
            f"{name}-{ROLE}-account", self.inside, name=account_name, namespace=self.namespace,
            labels=self.labels,
        )  # fmt: skip
        c = workload.Container(
            image=model.serving_image, port=model.port, health_path=model.health_path,
            cpu=cap.cpu, memory_mb=cap.memory_mb, gpus=self.cluster.gpus,
            env={
                "MODEL_VERSION": model.version,
                "MODEL_PORT": str(model.port),
                "QUEUE_NAME": self.queue_name,
                "DEAD_LETTER_QUEUE": self.dead_letter_queue_name,
                "NOTIFICATION_EXCHANGE": self.notification_topic,
                "MAX_DELIVERIES": str(MAX_DELIVERIES),
                "MAX_PROCESSING_SECONDS": str(max_processing_seconds(spec)),
                "OBJECT_STORE_ENDPOINT": store.endpoint,
                "INPUT_BUCKET": self.input_bucket,
                "RESULTS_BUCKET": self.results_bucket,
                "STATUS_PREFIX": STATUS_PREFIX,
                "STATUS_TTL_DAYS": str(spec.retention.data_days),
            },
            secret_env={
                "QUEUE_URL": (self.queue_secret, QUEUE_URL_KEY),
                **{env: (self.store_secret, env) for env in OBJECT_STORE_PROPERTIES},
            },
            ca_secret=self.ca_secret,
        )  # fmt: skip
        # The pod needs its identity and the Secrets its environment reads.
        after = self.child_opts(depends_on=[account, *self.secrets])
        template = workload.pod_template(
            c, container_name=ROLE, service_account=account_name, selector_labels=pods,
            labels=labels,
        )  # fmt: skip
        workload.create_deployment(
            f"{name}-{ROLE}", after, name=worker, namespace=self.namespace, labels=labels,
            selector_labels=pods, template=template,
        )  # fmt: skip
        low, high = worker_bounds(spec)
        if self.cluster.keda:
            scaling.create_queue_scaler(
                f"{name}-{ROLE}-scaling", after, name=worker, namespace=self.namespace,
                labels=labels, deployment=worker, queue=self.queue_name,
                url_secret=self.queue_secret, url_key=QUEUE_URL_KEY,
                min_replicas=low, max_replicas=high, ca_secret=self.ca_secret,
            )  # fmt: skip
        else:
            # Without KEDA nothing reads the queue's length: CPU it is, and never zero workers
            # (an HPA cannot wake a Deployment at zero), so scale_to_zero has no effect here.
            scaling.create_hpa(
                f"{name}-{ROLE}-scaling", after, name=worker, namespace=self.namespace,
                labels=labels, deployment=worker, min_replicas=max(1, low), max_replicas=high,
                target_cpu_percent=cap.target_cpu_percent,
            )  # fmt: skip
        scaling.create_pdb(
            f"{name}-{ROLE}-budget", self.inside, name=worker, namespace=self.namespace,
            labels=labels, selector_labels=pods, floor=low if self.cluster.keda else max(1, low),
        )  # fmt: skip
        if self.cluster.prometheus:
            # Only the ServiceMonitor's target: workers take no requests.
            workload.create_service(
                f"{name}-{ROLE}-service", self.inside, name=worker, namespace=self.namespace,
                labels={**self.labels, NAME_LABEL: label_value(name)}, selector_labels=pods,
                ports={"metrics": workload.metrics_port(model.port)},
            )  # fmt: skip
        return worker

    # -- Network: the broker, the object store, DNS, and the monitoring's scrape -------------
    def _create_network(
        self, name: str, spec: DeploymentSpec, queue: ClusterQueue, store: ObjectStore
    ) -> None:
        pods = {NAME_LABEL: label_value(name)}
        cluster = self.cluster
        network.allow_dns(
            f"{name}-to-dns", self.inside, name=object_name(name, "to-dns"),
            namespace=self.namespace, labels=self.labels, pods=pods,
            dns_namespace=cluster.dns_namespace, dns_port=cluster.dns_port,
            dns_cidrs=cluster.dns_cidrs,
        )  # fmt: skip
        # One rule per service: the broker's port to the broker's ranges, the store's port to
        # the store's. Ranges are required outside dev (the spec); a dev stack without them
        # keeps a port-only rule per service (any address, that port only).
        network.allow_egress(
            f"{name}-to-services", self.inside, name=object_name(name, "to-services"),
            upstreams=[
                network.Upstream(queue.port, queue.cidrs),
                network.Upstream(store_port(store.endpoint), store.cidrs),
            ],
            namespace=self.namespace, labels=self.labels, pods=pods,
        )  # fmt: skip
        if self.cluster.prometheus:
            network.allow_from_namespace(
                f"{name}-from-monitoring", self.inside, name=object_name(name, "from-monitoring"),
                source_namespace=self.cluster.monitoring_namespace,
                port=workload.metrics_port(spec.model.port), namespace=self.namespace,
                labels=self.labels, pods=pods,
            )  # fmt: skip

"""Pulumi dynamic providers for what pulumi-gcp cannot declare on Vertex AI.

pulumi-gcp 10.x has a Vertex AI endpoint (``gcp.vertex.AiEndpoint``) but no resource that uploads
a custom-container model, none that deploys a model to an endpoint (the endpoint's
``deployedModels`` is an output only) and, because deployed-model ids exist only after deployment,
no usable way to set its ``trafficSplit`` between two of them, and no Model Monitoring job.
Three small dynamic resources close that gap with the Vertex AI REST API (v1):

- :class:`VertexModel`: ``models.upload`` on create (custom container, CMEK), ``models.delete``
  on delete; any change replaces the model (Vertex models are immutable).
- :class:`VertexModelMonitoring`: a model deployment monitoring job (prediction drift of every
  deployed model, alerts to the stack's channels and emails, CMEK); patched when the deployed
  models change.
- :class:`VertexDeployment`: the deployed models of one endpoint, by slot (``stable``,
  ``candidate``), and the traffic split between them. Create deploys each slot
  (``endpoints.deployModel``) then sets the split (``endpoints.patch``); update deploys changed
  slots at 0% first, moves traffic, then undeploys what was replaced (no moment without a
  serving model); delete undeploys the candidate, then the stable model.

The API client is injected (tests pass a fake; the default is built only when Pulumi calls the
provider, so nothing is serialized but configuration). It uses the standard library only; the
access token comes from, in order: ``GOOGLE_OAUTH_ACCESS_TOKEN``, google-auth if installed, the
metadata server (CI on GCP), or ``gcloud auth application-default print-access-token``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pulumi
import pulumi.dynamic

Transport = Callable[[str, str, "dict[str, Any] | None"], "dict[str, Any]"]
SLOT_ORDER = ("stable", "candidate")  # deploy stable first, undeploy it last
CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
# What an update of a monitoring job may change (everything else is fixed at creation).
MONITORING_UPDATE_MASK = (
    "modelDeploymentMonitoringObjectiveConfigs",
    "modelDeploymentMonitoringScheduleConfig",
    "modelMonitoringAlertConfig",
    "loggingSamplingStrategy",
    "labels",
)
_METADATA = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/"


class VertexApiError(RuntimeError):
    """A Vertex AI call failed; the message names the call and the API's error."""


class VertexApi(Protocol):
    """The Vertex AI operations the providers need (the REST client, or a fake in tests)."""

    def upload_model(self, region: str, parent: str, model: dict[str, Any]) -> str:
        """Upload a model; returns its resource name."""
        ...

    def delete_model(self, region: str, name: str) -> None:
        """Delete a model (it must not be deployed)."""
        ...

    def deploy_model(
        self, region: str, endpoint: str, deployed: dict[str, Any], split: dict[str, int]
    ) -> str:
        """Deploy to ``endpoint`` with ``split`` ("0" is the new model); returns its id."""
        ...

    def undeploy_model(
        self, region: str, endpoint: str, deployed_id: str, split: dict[str, int]
    ) -> None:
        """Undeploy ``deployed_id``; ``split`` is the endpoint's split afterwards."""
        ...

    def set_traffic_split(self, region: str, endpoint: str, split: dict[str, int]) -> None:
        """Set the endpoint's traffic split (percentages by deployed model id)."""
        ...

    def create_monitoring_job(self, region: str, parent: str, job: dict[str, Any]) -> str:
        """Create a model deployment monitoring job; returns its resource name."""
        ...

    def update_monitoring_job(
        self,
        region: str,
        name: str,
        job: dict[str, Any],
        mask: tuple[str, ...] = MONITORING_UPDATE_MASK,
    ) -> None:
        """Update the ``mask`` fields of a monitoring job (objectives, schedule, alerting)."""
        ...

    def delete_monitoring_job(self, region: str, name: str) -> None:
        """Delete a monitoring job."""
        ...

    def list_monitoring_jobs(self, region: str, parent: str) -> list[dict[str, Any]]:
        """Every model deployment monitoring job under ``parent`` (a project location)."""
        ...


# -- the REST client ---------------------------------------------------------------------------
def access_token() -> str:
    """A Google OAuth access token for the person or machine running Pulumi."""
    token = os.environ.get("GOOGLE_OAUTH_ACCESS_TOKEN")
    if token:
        return token
    try:  # optional dependency: used when the client has it installed
        auth: Any = importlib.import_module("google.auth")
        auth_requests: Any = importlib.import_module("google.auth.transport.requests")
    except ImportError:
        pass
    else:
        credentials, _ = auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(auth_requests.Request())
        return str(credentials.token)
    try:
        request = urllib.request.Request(  # noqa: S310 - fixed metadata-server URL
            _METADATA + "token", headers={"Metadata-Flavor": "Google"}
        )
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 # nosec B310
            return str(json.load(response)["access_token"])
    except (OSError, ValueError, KeyError):
        pass
    gcloud = shutil.which("gcloud")
    if gcloud:
        result = subprocess.run(
            [gcloud, "auth", "application-default", "print-access-token"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip()
    raise VertexApiError(
        "no Google credentials: set GOOGLE_OAUTH_ACCESS_TOKEN or run "
        "`gcloud auth application-default login`"
    )


def urllib_transport(token: Callable[[], str] = access_token) -> Transport:
    """JSON over HTTPS with a bearer token; API errors become :class:`VertexApiError`."""

    def send(method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        if not url.startswith("https://"):
            raise VertexApiError(f"refusing non-HTTPS URL {url!r}")
        request = urllib.request.Request(  # noqa: S310 - https checked above
            url,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 # nosec B310
                result = json.loads(response.read().decode() or "{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise VertexApiError(f"{method} {url}: HTTP {exc.code}: {detail}") from exc
        return result if isinstance(result, dict) else {}

    return send


class RestVertexApi:
    """Vertex AI v1 over REST; long-running operations are polled until done."""

    def __init__(
        self,
        send: Transport | None = None,
        poll_seconds: float = 10.0,
        timeout_seconds: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.send = send or urllib_transport()
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep

    @staticmethod
    def _base(region: str) -> str:
        return f"https://{region}-aiplatform.googleapis.com/v1"

    def _wait(self, region: str, operation: dict[str, Any], what: str) -> dict[str, Any]:
        waited = 0.0
        while not operation.get("done"):
            if waited >= self.timeout_seconds:
                raise VertexApiError(f"{what}: still running after {waited:.0f} s")
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds
            operation = self.send("GET", f"{self._base(region)}/{operation['name']}", None)
        if "error" in operation:
            error = operation["error"]
            raise VertexApiError(f"{what} failed: {error.get('message', error)}")
        response = operation.get("response", {})
        return response if isinstance(response, dict) else {}

    def upload_model(self, region: str, parent: str, model: dict[str, Any]) -> str:
        """``models.upload``."""
        op = self.send("POST", f"{self._base(region)}/{parent}/models:upload", {"model": model})
        return str(self._wait(region, op, "models.upload")["model"])

    def delete_model(self, region: str, name: str) -> None:
        """``models.delete``."""
        self._wait(region, self.send("DELETE", f"{self._base(region)}/{name}", None), "delete")

    def deploy_model(
        self, region: str, endpoint: str, deployed: dict[str, Any], split: dict[str, int]
    ) -> str:
        """``endpoints.deployModel``."""
        op = self.send(
            "POST",
            f"{self._base(region)}/{endpoint}:deployModel",
            {"deployedModel": deployed, "trafficSplit": split},
        )
        return str(self._wait(region, op, "endpoints.deployModel")["deployedModel"]["id"])

    def undeploy_model(
        self, region: str, endpoint: str, deployed_id: str, split: dict[str, int]
    ) -> None:
        """``endpoints.undeployModel``."""
        op = self.send(
            "POST",
            f"{self._base(region)}/{endpoint}:undeployModel",
            {"deployedModelId": deployed_id, "trafficSplit": split},
        )
        self._wait(region, op, "endpoints.undeployModel")

    def set_traffic_split(self, region: str, endpoint: str, split: dict[str, int]) -> None:
        """``endpoints.patch`` of ``trafficSplit`` only (not a long-running operation)."""
        self.send(
            "PATCH",
            f"{self._base(region)}/{endpoint}?updateMask=trafficSplit",
            {"trafficSplit": split},
        )

    def create_monitoring_job(self, region: str, parent: str, job: dict[str, Any]) -> str:
        """``modelDeploymentMonitoringJobs.create`` (returns the job, not an operation)."""
        url = f"{self._base(region)}/{parent}/modelDeploymentMonitoringJobs"
        return str(self.send("POST", url, job)["name"])

    def update_monitoring_job(
        self,
        region: str,
        name: str,
        job: dict[str, Any],
        mask: tuple[str, ...] = MONITORING_UPDATE_MASK,
    ) -> None:
        """``modelDeploymentMonitoringJobs.patch`` of the ``mask`` fields."""
        url = f"{self._base(region)}/{name}?updateMask={','.join(mask)}"
        self._wait(region, self.send("PATCH", url, job), "modelDeploymentMonitoringJobs.patch")

    def list_monitoring_jobs(self, region: str, parent: str) -> list[dict[str, Any]]:
        """``modelDeploymentMonitoringJobs.list``, every page."""
        jobs: list[dict[str, Any]] = []
        token = ""
        while True:
            url = f"{self._base(region)}/{parent}/modelDeploymentMonitoringJobs"
            page = self.send("GET", url + (f"?pageToken={token}" if token else ""), None)
            jobs.extend(page.get("modelDeploymentMonitoringJobs") or [])
            token = str(page.get("nextPageToken") or "")
            if not token:
                return jobs

    def delete_monitoring_job(self, region: str, name: str) -> None:
        """``modelDeploymentMonitoringJobs.delete``."""
        op = self.send("DELETE", f"{self._base(region)}/{name}", None)
        self._wait(region, op, "modelDeploymentMonitoringJobs.delete")


# -- providers -----------------------------------------------------------------------------------
class _VertexProvider(pulumi.dynamic.ResourceProvider):
    """Holds the injected client; the real one is built lazily where Pulumi runs the provider."""

    serialize_as_secret_always = False

    def __init__(self, api: VertexApi | None = None) -> None:
        super().__init__()
        self._api = api

    @property
    def api(self) -> VertexApi:
        if self._api is None:
            self._api = RestVertexApi()
        return self._api


MODEL_KEYS = (
    "project",
    "region",
    "display_name",
    "image",
    "port",
    "predict_route",
    "health_route",
    "kms_key_name",
    "labels",
)


class VertexModelProvider(_VertexProvider):
    """Uploads a custom-container model with CMEK; replaced on any change."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """``models.upload``."""
        model = {
            "displayName": props["display_name"],
            "labels": dict(props.get("labels") or {}),
            "encryptionSpec": {"kmsKeyName": props["kms_key_name"]},
            "containerSpec": {
                "imageUri": props["image"],
                "ports": [{"containerPort": int(props["port"])}],
                "predictRoute": props["predict_route"],
                "healthRoute": props["health_route"],
            },
        }
        parent = f"projects/{props['project']}/locations/{props['region']}"
        name = self.api.upload_model(str(props["region"]), parent, model)
        return pulumi.dynamic.CreateResult(name, {**_inputs(props, MODEL_KEYS), "model_name": name})

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Every input is part of the uploaded model, so any change means a new model."""
        changed = [k for k in MODEL_KEYS if olds.get(k) != news.get(k)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=changed)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """``models.delete``."""
        self.api.delete_model(str(props["region"]), _id)


DEPLOYMENT_KEYS = ("project", "region", "endpoint", "slots", "traffic")
REPLACING_KEYS = ("project", "region", "endpoint")


def _inputs(props: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: props[k] for k in keys if k in props}


def _deployed_model(slot: Mapping[str, Any], role: str) -> dict[str, Any]:
    """The ``DeployedModel`` body of one slot: dedicated replicas, CPU autoscaling, logging."""
    return {
        "id": str(slot["deployed_id"]),
        "model": slot["model"],
        "displayName": f"{slot['display_name']}-{role}",
        "serviceAccount": slot["service_account"],
        "enableAccessLogging": True,
        "dedicatedResources": {
            "machineSpec": {"machineType": slot["machine_type"]},
            "minReplicaCount": int(slot["min_replicas"]),
            "maxReplicaCount": int(slot["max_replicas"]),
            "autoscalingMetricSpecs": [
                {"metricName": CPU_METRIC, "target": int(slot["target_cpu_percent"])}
            ],
        },
    }


def split_by_id(traffic: Mapping[str, Any], ids: Mapping[str, str]) -> dict[str, int]:
    """The endpoint's split keyed by deployed-model id, from percentages keyed by slot."""
    split = {ids[role]: int(traffic.get(role, 0)) for role in ids}
    if split and sum(split.values()) != 100:
        raise VertexApiError(f"traffic split {dict(traffic)} does not sum to 100")
    return split


class VertexDeploymentProvider(_VertexProvider):
    """The deployed models of one endpoint (by slot) and the traffic split between them."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        """Every slot with traffic must be deployed, and the split must sum to 100."""
        failures = []
        slots, traffic = news.get("slots") or {}, news.get("traffic") or {}
        if sum(int(v) for v in traffic.values()) != 100:
            failures.append(pulumi.dynamic.CheckFailure("traffic", "must sum to 100"))
        for role, percent in traffic.items():
            if int(percent) and role not in slots:
                failures.append(
                    pulumi.dynamic.CheckFailure("traffic", f"{role} has traffic but no model")
                )
        return pulumi.dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Deploy every slot (the first takes all traffic, later ones 0%), then set the split."""
        region, endpoint = str(props["region"]), str(props["endpoint"])
        ids: dict[str, str] = {}
        for role in _ordered(props["slots"]):
            split = {"0": 0 if ids else 100, **{i: 100 if n == 0 else 0 for n, i in _numbered(ids)}}
            ids[role] = self.api.deploy_model(
                region, endpoint, _deployed_model(props["slots"][role], role), split
            )
        split = split_by_id(props["traffic"], ids)
        if len(ids) > 1:
            self.api.set_traffic_split(region, endpoint, split)
        outs = {**_inputs(props, DEPLOYMENT_KEYS), "deployed_ids": ids, "traffic_split": split}
        return pulumi.dynamic.CreateResult(f"{endpoint}/deployments", outs)

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Moving to another endpoint replaces; slot or traffic changes update in place."""
        replaces = [k for k in REPLACING_KEYS if olds.get(k) != news.get(k)]
        changed = replaces or [k for k in ("slots", "traffic") if olds.get(k) != news.get(k)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=replaces, delete_before_replace=True
        )

    def update(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        """Deploy changed slots at 0%, move traffic, then undeploy what they replaced."""
        region, endpoint = str(news["region"]), str(news["endpoint"])
        old_ids: dict[str, str] = dict(olds.get("deployed_ids") or {})
        old_slots: dict[str, Any] = dict(olds.get("slots") or {})
        current = dict(olds.get("traffic_split") or {})
        ids = dict(old_ids)
        retired: list[str] = []
        for role in _ordered(news["slots"]):
            slot = news["slots"][role]
            if role in old_ids and old_slots.get(role) == slot:
                continue
            if str(slot["deployed_id"]) in current:
                raise VertexApiError(
                    f"slot {role} changed but keeps deployed id {slot['deployed_id']}: "
                    "a changed deployment needs a new id"
                )
            new_id = self.api.deploy_model(
                region, endpoint, _deployed_model(slot, role), {"0": 0, **current}
            )
            current[new_id] = 0
            if role in old_ids:
                retired.append(old_ids[role])
            ids[role] = new_id
        for role in [r for r in old_ids if r not in news["slots"]]:
            retired.append(ids.pop(role))
        split = split_by_id(news["traffic"], ids)
        self.api.set_traffic_split(region, endpoint, split)
        if retired:
            # Vertex refuses to undeploy a model a monitoring job still watches, and the job
            # (which depends on this deployment) is updated only after it: move its objectives
            # to the models deployed now first (review A16).
            follow_deployed_models(self.api, news, list(ids.values()))
        for deployed_id in retired:
            self.api.undeploy_model(region, endpoint, deployed_id, split)
        outs = {**_inputs(news, DEPLOYMENT_KEYS), "deployed_ids": ids, "traffic_split": split}
        return pulumi.dynamic.UpdateResult(outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Undeploy the candidate (traffic to stable), then the stable model (split emptied)."""
        region, endpoint = str(props["region"]), str(props["endpoint"])
        ids: dict[str, str] = dict(props.get("deployed_ids") or {})
        for role in reversed(_ordered(ids)):
            deployed_id = ids.pop(role)
            remaining = {i: 100 if n == 0 else 0 for n, i in _numbered(ids)}
            self.api.undeploy_model(region, endpoint, deployed_id, remaining)


MONITORING_KEYS = (
    "project",
    "region",
    "endpoint",
    "display_name",
    "deployed_ids",
    "drift_threshold",
    "interval_hours",
    "sample_rate",
    "emails",
    "notification_channels",
    "kms_key_name",
    "log_ttl_days",
    "labels",
)
MONITORING_REPLACING_KEYS = ("project", "region", "endpoint", "kms_key_name", "log_ttl_days")


def monitoring_job_body(props: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ModelDeploymentMonitoringJob``: prediction drift of every deployed model.

    Prediction drift needs no training data: Vertex compares recent request features with the
    earlier ones it logged. The job encrypts what it stores with the stack key.
    """
    drift = {"defaultDriftThreshold": {"value": float(props["drift_threshold"])}}
    return {
        "displayName": props["display_name"],
        "endpoint": props["endpoint"],
        "modelDeploymentMonitoringObjectiveConfigs": [
            {
                "deployedModelId": str(deployed_id),
                "objectiveConfig": {"predictionDriftDetectionConfig": drift},
            }
            for deployed_id in sorted(set(props["deployed_ids"]))
        ],
        "modelDeploymentMonitoringScheduleConfig": {
            "monitorInterval": f"{int(props['interval_hours']) * 3600}s"
        },
        "loggingSamplingStrategy": {
            "randomSampleConfig": {"sampleRate": float(props["sample_rate"])}
        },
        "modelMonitoringAlertConfig": {
            "emailAlertConfig": {"userEmails": list(props["emails"])},
            "notificationChannels": list(props.get("notification_channels") or []),
            "enableLogging": True,
        },
        "logTtl": f"{int(props['log_ttl_days']) * 86400}s",
        "encryptionSpec": {"kmsKeyName": props["kms_key_name"]},
        "enableMonitoringPipelineLogs": True,
        "labels": dict(props.get("labels") or {}),
    }


OBJECTIVES = "modelDeploymentMonitoringObjectiveConfigs"


def follow_deployed_models(api: VertexApi, props: Mapping[str, Any], deployed: list[str]) -> None:
    """Point every monitoring job of the endpoint at exactly the ``deployed`` model ids.

    Each new id takes the objective the job already has (our jobs use one objective for every
    model); only the objectives are patched, the rest of the job stays as its resource set it.
    """
    region, endpoint = str(props["region"]), str(props["endpoint"])
    parent = f"projects/{props['project']}/locations/{region}"
    for job in api.list_monitoring_jobs(region, parent):
        if job.get("endpoint") != endpoint:
            continue
        current = list(job.get(OBJECTIVES) or [])
        watched = {str(o.get("deployedModelId")) for o in current}
        if not current or watched == set(deployed):
            continue
        objective = current[0].get("objectiveConfig", {})
        body = {
            OBJECTIVES: [
                {"deployedModelId": deployed_id, "objectiveConfig": objective}
                for deployed_id in sorted(set(deployed))
            ]
        }
        api.update_monitoring_job(region, str(job["name"]), body, (OBJECTIVES,))


class VertexModelMonitoringProvider(_VertexProvider):
    """A model deployment monitoring job (drift) over the endpoint's deployed models."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """``modelDeploymentMonitoringJobs.create``."""
        parent = f"projects/{props['project']}/locations/{props['region']}"
        name = self.api.create_monitoring_job(
            str(props["region"]), parent, monitoring_job_body(props)
        )
        return pulumi.dynamic.CreateResult(
            name, {**_inputs(props, MONITORING_KEYS), "job_name": name}
        )

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Objectives, schedule and alerting update in place; the rest replaces the job."""
        replaces = [k for k in MONITORING_REPLACING_KEYS if olds.get(k) != news.get(k)]
        changed = [k for k in MONITORING_KEYS if olds.get(k) != news.get(k)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=replaces, delete_before_replace=True
        )

    def update(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        """``modelDeploymentMonitoringJobs.patch`` (e.g. new deployed-model ids)."""
        body = monitoring_job_body(news)
        self.api.update_monitoring_job(
            str(news["region"]), _id, {k: body[k] for k in MONITORING_UPDATE_MASK}
        )
        return pulumi.dynamic.UpdateResult({**_inputs(news, MONITORING_KEYS), "job_name": _id})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """``modelDeploymentMonitoringJobs.delete``."""
        self.api.delete_monitoring_job(str(props["region"]), _id)


def _ordered(slots: Mapping[str, Any]) -> list[str]:
    return sorted(slots, key=lambda r: SLOT_ORDER.index(r) if r in SLOT_ORDER else len(SLOT_ORDER))


def _numbered(ids: Mapping[str, str]) -> list[tuple[int, str]]:
    return list(enumerate(ids[r] for r in _ordered(ids)))


# -- resources -----------------------------------------------------------------------------------
class VertexModel(pulumi.dynamic.Resource, module="gcp", name="VertexModel"):
    """A custom-container model uploaded to Vertex AI (``model_name`` is its resource name)."""

    model_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        props: Mapping[str, pulumi.Input[Any]],
        opts: pulumi.ResourceOptions | None = None,
        api: VertexApi | None = None,
    ) -> None:
        super().__init__(VertexModelProvider(api), name, {**props, "model_name": None}, opts)


class VertexDeployment(pulumi.dynamic.Resource, module="gcp", name="VertexDeployment"):
    """The models deployed to one endpoint by slot, and the traffic split between them."""

    deployed_ids: pulumi.Output[dict[str, str]]
    traffic_split: pulumi.Output[dict[str, int]]

    def __init__(
        self,
        name: str,
        props: Mapping[str, pulumi.Input[Any]],
        opts: pulumi.ResourceOptions | None = None,
        api: VertexApi | None = None,
    ) -> None:
        super().__init__(
            VertexDeploymentProvider(api),
            name,
            {**props, "deployed_ids": None, "traffic_split": None},
            opts,
        )


class VertexModelMonitoring(pulumi.dynamic.Resource, module="gcp", name="VertexModelMonitoring"):
    """Vertex AI Model Monitoring (prediction drift) of an endpoint's deployed models."""

    job_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        props: Mapping[str, pulumi.Input[Any]],
        opts: pulumi.ResourceOptions | None = None,
        api: VertexApi | None = None,
    ) -> None:
        super().__init__(
            VertexModelMonitoringProvider(api), name, {**props, "job_name": None}, opts
        )

"""The Vertex AI dynamic providers with a fake API client; the REST client with a fake transport."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from components.gcp.vertex_deployment import (
    MONITORING_UPDATE_MASK,
    OBJECTIVES,
    RestVertexApi,
    VertexApiError,
    VertexDeploymentProvider,
    VertexModelMonitoringProvider,
    VertexModelProvider,
    split_by_id,
)

REGION = "europe-west1"
SLOT_DIGIT = {"stable": 1, "candidate": 2}
ENDPOINT = "projects/p1/locations/europe-west1/endpoints/1234567890"


class FakeVertex:
    """Keeps an endpoint's deployed models and split the way Vertex AI does, and every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.deployed: dict[str, str] = {}  # id -> model
        self.split: dict[str, int] = {}
        self.ids = (str(n) for n in itertools.count(101))
        self.jobs: dict[str, dict[str, Any]] = {}  # name -> monitoring job

    def upload_model(self, region: str, parent: str, model: dict[str, Any]) -> str:
        self.calls.append(("upload", model))
        return f"{parent}/models/{len(self.calls)}"

    def delete_model(self, region: str, name: str) -> None:
        assert name not in self.deployed.values(), "a deployed model cannot be deleted"
        self.calls.append(("delete", name))

    def deploy_model(
        self, region: str, endpoint: str, deployed: dict[str, Any], split: dict[str, int]
    ) -> str:
        new_id = str(deployed.get("id") or next(self.ids))
        assert new_id not in self.deployed, "deployed model ids are unique on an endpoint"
        self.calls.append(("deploy", deployed))
        self.deployed[new_id] = deployed["model"]
        self.split = {(new_id if k == "0" else k): v for k, v in split.items()}
        self._valid()
        return new_id

    def undeploy_model(
        self, region: str, endpoint: str, deployed_id: str, split: dict[str, int]
    ) -> None:
        # Vertex undeploys a model only if the split given with the call leaves it no traffic,
        # and never one that a model deployment monitoring job still watches.
        assert split.get(deployed_id, 0) == 0, "undeploying a model that keeps traffic"
        for job in (j for j in self.jobs.values() if j["endpoint"] == endpoint):
            watched = {o["deployedModelId"] for o in job[OBJECTIVES]}
            assert deployed_id not in watched, "undeploying a model a monitoring job watches"
        self.calls.append(("undeploy", deployed_id))
        del self.deployed[deployed_id]
        self.split = dict(split)
        self._valid()

    def set_traffic_split(self, region: str, endpoint: str, split: dict[str, int]) -> None:
        self.calls.append(("split", dict(split)))
        self.split = dict(split)
        self._valid()

    def create_monitoring_job(self, region: str, parent: str, job: dict[str, Any]) -> str:
        self.calls.append(("create-job", job))
        name = f"{parent}/modelDeploymentMonitoringJobs/9"
        self.jobs[name] = {**job, "name": name}
        return name

    def update_monitoring_job(
        self,
        region: str,
        name: str,
        job: dict[str, Any],
        mask: tuple[str, ...] = MONITORING_UPDATE_MASK,
    ) -> None:
        assert set(job) == set(mask), "a patch sends exactly the fields of its update mask"
        self.calls.append(("update-job", job))
        if name in self.jobs:
            self.jobs[name].update(job)

    def list_monitoring_jobs(self, region: str, parent: str) -> list[dict[str, Any]]:
        return [dict(job) for name, job in self.jobs.items() if name.startswith(parent)]

    def delete_monitoring_job(self, region: str, name: str) -> None:
        self.calls.append(("delete-job", name))

    def _valid(self) -> None:
        assert set(self.split) <= set(self.deployed), (self.split, self.deployed)
        assert sum(self.split.values()) in ((100,) if self.deployed else (0,)), self.split

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


def slot(model: str, role: str = "stable", replicas: tuple[int, int] = (1, 3)) -> dict[str, Any]:
    # Ids as the component chooses them: different for anything that differs (role included).
    deployed_id = f"{SLOT_DIGIT[role]}{model[-1]}{replicas[0]}{replicas[1]}"
    return {
        "deployed_id": deployed_id,
        "model": model,
        "display_name": "fraud",
        "machine_type": "n1-standard-2",
        "min_replicas": replicas[0],
        "max_replicas": replicas[1],
        "target_cpu_percent": 60,
        "service_account": "vertex@p1.iam.gserviceaccount.com",
    }


def props(slots: dict[str, Any], traffic: dict[str, int]) -> dict[str, Any]:
    return {
        "project": "p1",
        "region": REGION,
        "endpoint": ENDPOINT,
        "slots": slots,
        "traffic": traffic,
    }


def test_create_deploys_stable_then_candidate_and_splits_traffic() -> None:
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    result = provider.create(
        props(
            {"stable": slot("m/1"), "candidate": slot("m/2", "candidate")},
            {"stable": 90, "candidate": 10},
        )
    )
    assert api.kinds() == ["deploy", "deploy", "split"]
    assert result.outs["deployed_ids"] == {"stable": "1113", "candidate": "2213"}
    assert api.split == result.outs["traffic_split"] == {"1113": 90, "2213": 10}
    deployed = api.calls[0][1]
    resources = deployed["dedicatedResources"]
    assert (resources["minReplicaCount"], resources["maxReplicaCount"]) == (1, 3)
    assert resources["autoscalingMetricSpecs"][0]["target"] == 60
    assert deployed["serviceAccount"] == "vertex@p1.iam.gserviceaccount.com"


def test_create_with_only_stable_gives_it_all_traffic() -> None:
    api = FakeVertex()
    result = VertexDeploymentProvider(api).create(
        props({"stable": slot("m/1")}, {"stable": 100, "candidate": 0})
    )
    assert api.kinds() == ["deploy"]
    assert api.split == {"1113": 100}
    assert result.outs["traffic_split"] == {"1113": 100}


def test_update_of_traffic_only_patches_the_split() -> None:
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    old = provider.create(
        props(
            {"stable": slot("m/1"), "candidate": slot("m/2", "candidate")},
            {"stable": 90, "candidate": 10},
        )
    ).outs
    api.calls.clear()
    new = props(
        {"stable": slot("m/1"), "candidate": slot("m/2", "candidate")},
        {"stable": 50, "candidate": 50},
    )
    diff = provider.diff("id", old, new)
    assert diff.changes and not diff.replaces
    outs = provider.update("id", old, new).outs
    assert api.kinds() == ["split"]
    assert outs["traffic_split"] == {"1113": 50, "2213": 50}


def test_update_adds_a_candidate_at_zero_before_moving_traffic() -> None:
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    old = provider.create(props({"stable": slot("m/1")}, {"stable": 100, "candidate": 0})).outs
    api.calls.clear()
    new = props(
        {"stable": slot("m/1"), "candidate": slot("m/2", "candidate")},
        {"stable": 95, "candidate": 5},
    )
    outs = provider.update("id", old, new).outs
    assert api.kinds() == ["deploy", "split"]
    assert outs["deployed_ids"] == {"stable": "1113", "candidate": "2213"}
    assert api.split == {"1113": 95, "2213": 5}


def test_promotion_replaces_the_stable_model_without_a_gap() -> None:
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    old = provider.create(
        props(
            {"stable": slot("m/1"), "candidate": slot("m/2", "candidate")},
            {"stable": 90, "candidate": 10},
        )
    ).outs
    api.calls.clear()
    # The candidate becomes the stable model; the candidate slot is emptied.
    new = props({"stable": slot("m/2")}, {"stable": 100, "candidate": 0})
    outs = provider.update("id", old, new).outs
    assert api.kinds() == ["deploy", "split", "undeploy", "undeploy"]
    assert outs["deployed_ids"] == {"stable": "1213"}
    assert api.deployed == {"1213": "m/2"}
    assert api.split == {"1213": 100}


def test_replica_change_redeploys_that_slot_only() -> None:
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    old = provider.create(props({"stable": slot("m/1")}, {"stable": 100, "candidate": 0})).outs
    api.calls.clear()
    outs = provider.update(
        "id", old, props({"stable": slot("m/1", replicas=(2, 10))}, {"stable": 100, "candidate": 0})
    ).outs
    assert api.kinds() == ["deploy", "split", "undeploy"]
    assert outs["deployed_ids"] == {"stable": "11210"}


def test_delete_undeploys_candidate_then_stable() -> None:
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    outs = provider.create(
        props(
            {"stable": slot("m/1"), "candidate": slot("m/2", "candidate")},
            {"stable": 90, "candidate": 10},
        )
    ).outs
    api.split = {"1113": 100, "2213": 0}  # as after a rollback
    api.calls.clear()
    provider.delete("id", outs)
    assert api.calls == [("undeploy", "2213"), ("undeploy", "1113")]
    assert api.deployed == {} and api.split == {}


def test_moving_to_another_endpoint_replaces() -> None:
    provider = VertexDeploymentProvider(FakeVertex())
    old = props({"stable": slot("m/1")}, {"stable": 100})
    new = {**old, "endpoint": ENDPOINT.replace("1234567890", "1234567891")}
    diff = provider.diff("id", old, new)
    assert diff.replaces == ["endpoint"]
    assert diff.delete_before_replace is True
    assert provider.diff("id", old, dict(old)).changes is False


def test_check_rejects_splits_that_do_not_add_up_or_lack_a_model() -> None:
    provider = VertexDeploymentProvider(FakeVertex())
    both = {"stable": slot("m/1"), "candidate": slot("m/2", "candidate")}
    bad_sum = provider.check({}, props(both, {"stable": 90, "candidate": 5}))
    assert [f.reason for f in bad_sum.failures] == ["must sum to 100"]
    no_model = provider.check({}, props({"stable": slot("m/1")}, {"stable": 90, "candidate": 10}))
    assert [f.reason for f in no_model.failures] == ["candidate has traffic but no model"]
    assert provider.check({}, props({"stable": slot("m/1")}, {"stable": 100})).failures == []
    with pytest.raises(VertexApiError, match="does not sum to 100"):
        split_by_id({"stable": 90}, {"stable": "1"})


def test_model_provider_uploads_with_cmek_and_replaces_on_change() -> None:
    api = FakeVertex()
    provider = VertexModelProvider(api)
    model = {
        "project": "p1",
        "region": REGION,
        "display_name": "acme-v1-0-0",
        "image": "europe-docker.pkg.dev/p1/models/fraud:1.0.0",
        "port": 8080,
        "predict_route": "/predict",
        "health_route": "/health",
        "kms_key_name": "projects/p1/locations/europe-west1/keyRings/r/cryptoKeys/k",
        "labels": {"environment": "prod"},
    }
    result = provider.create(model)
    (_, body), *_ = api.calls
    assert body["encryptionSpec"]["kmsKeyName"] == model["kms_key_name"]
    assert body["containerSpec"]["imageUri"] == model["image"]
    assert body["containerSpec"]["ports"] == [{"containerPort": 8080}]
    assert result.id == result.outs["model_name"] == "projects/p1/locations/europe-west1/models/1"
    diff = provider.diff(result.id, result.outs, {**model, "image": "x:2"})
    assert diff.replaces == ["image"]
    provider.delete(result.id, result.outs)
    assert api.calls[-1] == ("delete", result.id)


class FakeTransport:
    """Answers the REST client like Vertex AI: operations finish after ``polls`` reads."""

    def __init__(self, final: dict[str, Any], polls: int = 2) -> None:
        self.final = final
        self.polls = polls
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []

    def __call__(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        self.requests.append((method, url, body))
        if method == "PATCH":
            return {"name": ENDPOINT}
        if method == "GET":
            self.polls -= 1
            return self.final if self.polls <= 0 else {"name": "operations/op1", "done": False}
        return {"name": "operations/op1", "done": False}


def test_rest_client_polls_operations_and_reads_the_result() -> None:
    sleeps: list[float] = []
    transport = FakeTransport({"done": True, "response": {"deployedModel": {"id": "777"}}})
    api = RestVertexApi(transport, poll_seconds=5, sleep=sleeps.append)
    deployed_id = api.deploy_model(REGION, ENDPOINT, {"model": "m/1"}, {"0": 100})
    assert deployed_id == "777"
    method, url, body = transport.requests[0]
    assert (method, url) == (
        "POST",
        f"https://{REGION}-aiplatform.googleapis.com/v1/{ENDPOINT}:deployModel",
    )
    assert body == {"deployedModel": {"model": "m/1"}, "trafficSplit": {"0": 100}}
    assert transport.requests[-1][1].endswith("/v1/operations/op1")
    assert sleeps == [5, 5]


def test_rest_client_patches_the_split_with_an_update_mask() -> None:
    transport = FakeTransport({})
    RestVertexApi(transport, sleep=lambda _: None).set_traffic_split(
        REGION, ENDPOINT, {"1": 100, "2": 0}
    )
    assert transport.requests == [
        (
            "PATCH",
            f"https://{REGION}-aiplatform.googleapis.com/v1/{ENDPOINT}?updateMask=trafficSplit",
            {"trafficSplit": {"1": 100, "2": 0}},
        )
    ]


def test_rest_client_reports_operation_errors_and_timeouts() -> None:
    failing = FakeTransport({"done": True, "error": {"code": 9, "message": "quota exceeded"}})
    with pytest.raises(VertexApiError, match=r"endpoints\.undeployModel failed: quota exceeded"):
        RestVertexApi(failing, sleep=lambda _: None).undeploy_model(REGION, ENDPOINT, "1", {})
    stuck = FakeTransport({}, polls=10**6)
    api = RestVertexApi(stuck, poll_seconds=60, timeout_seconds=120, sleep=lambda _: None)
    with pytest.raises(VertexApiError, match="still running after 120 s"):
        api.upload_model(REGION, "projects/p1/locations/europe-west1", {})


def test_a_changed_slot_must_come_with_a_new_deployed_id() -> None:
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    old = provider.create(props({"stable": slot("m/1")}, {"stable": 100})).outs
    changed = {**slot("m/1"), "machine_type": "n1-standard-4"}  # same id, different deployment
    with pytest.raises(VertexApiError, match="needs a new id"):
        provider.update("id", old, props({"stable": changed}, {"stable": 100}))
    assert api.kinds() == ["deploy"]


MONITORING = {
    "project": "p1",
    "region": REGION,
    "endpoint": ENDPOINT,
    "display_name": "acme-prod-drift",
    "deployed_ids": ["1113", "2213"],
    "drift_threshold": 0.3,
    "interval_hours": 1,
    "sample_rate": 1.0,
    "emails": ["ops@acme.example"],
    "notification_channels": ["projects/p1/notificationChannels/7"],
    "kms_key_name": "projects/p1/locations/europe-west1/keyRings/r/cryptoKeys/k",
    "log_ttl_days": 90,
    "labels": {"environment": "prod"},
}


def test_monitoring_job_watches_every_deployed_model_for_drift_with_cmek() -> None:
    api = FakeVertex()
    provider = VertexModelMonitoringProvider(api)
    result = provider.create(dict(MONITORING))
    ((kind, job),) = api.calls
    assert kind == "create-job"
    assert (
        result.id
        == result.outs["job_name"]
        == ("projects/p1/locations/europe-west1/modelDeploymentMonitoringJobs/9")
    )
    objectives = job["modelDeploymentMonitoringObjectiveConfigs"]
    assert [o["deployedModelId"] for o in objectives] == ["1113", "2213"]
    drift = objectives[0]["objectiveConfig"]["predictionDriftDetectionConfig"]
    assert drift == {"defaultDriftThreshold": {"value": 0.3}}
    assert job["modelDeploymentMonitoringScheduleConfig"] == {"monitorInterval": "3600s"}
    assert job["encryptionSpec"]["kmsKeyName"] == MONITORING["kms_key_name"]
    assert job["logTtl"] == f"{90 * 86400}s"
    alerts = job["modelMonitoringAlertConfig"]
    assert alerts["emailAlertConfig"]["userEmails"] == ["ops@acme.example"]
    assert alerts["notificationChannels"] == ["projects/p1/notificationChannels/7"]


def test_monitoring_job_follows_new_deployed_models_in_place() -> None:
    api = FakeVertex()
    provider = VertexModelMonitoringProvider(api)
    old = provider.create(dict(MONITORING)).outs
    new = {**MONITORING, "deployed_ids": ["1213"]}
    diff = provider.diff("job", old, new)
    assert diff.changes and not diff.replaces
    provider.update("job", old, new)
    kind, job = api.calls[-1]
    assert kind == "update-job"
    assert set(job) == set(MONITORING_UPDATE_MASK)
    assert [o["deployedModelId"] for o in job["modelDeploymentMonitoringObjectiveConfigs"]] == [
        "1213"
    ]
    assert provider.diff("job", old, {**MONITORING, "kms_key_name": "other"}).replaces == [
        "kms_key_name"
    ]
    provider.delete("job", old)
    assert api.calls[-1] == ("delete-job", "job")


def test_rest_client_patches_monitoring_jobs_with_an_update_mask() -> None:
    transport = FakeTransport({"done": True})
    api = RestVertexApi(transport, sleep=lambda _: None)
    api.update_monitoring_job(REGION, "projects/p1/locations/x/modelDeploymentMonitoringJobs/9", {})
    method, url, _ = transport.requests[0]
    assert method == "PATCH"
    assert url.endswith("?updateMask=" + ",".join(MONITORING_UPDATE_MASK))


def _monitored(api: FakeVertex, deployed_ids: list[str]) -> None:
    """A monitoring job on ENDPOINT watching ``deployed_ids``, as the component creates it."""
    VertexModelMonitoringProvider(api).create({**MONITORING, "deployed_ids": deployed_ids})


def test_promotion_moves_the_monitoring_job_before_undeploying_what_it_watched() -> None:
    # Review A16: Vertex refuses to undeploy a model a monitoring job watches, and the job's own
    # update runs only after the deployment's. The fake refuses exactly that.
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    old = provider.create(
        props(
            {"stable": slot("m/1"), "candidate": slot("m/2", "candidate")},
            {"stable": 90, "candidate": 10},
        )
    ).outs
    _monitored(api, list(old["deployed_ids"].values()))
    api.calls.clear()
    provider.update("id", old, props({"stable": slot("m/2")}, {"stable": 100, "candidate": 0}))
    assert api.kinds() == ["deploy", "split", "update-job", "undeploy", "undeploy"]
    (job,) = api.jobs.values()
    assert [o["deployedModelId"] for o in job[OBJECTIVES]] == ["1213"]
    # The new model keeps the objective the job had; nothing else of the job is sent.
    _, patch = api.calls[2]
    assert set(patch) == {OBJECTIVES}
    drift = patch[OBJECTIVES][0]["objectiveConfig"]["predictionDriftDetectionConfig"]
    assert drift == {"defaultDriftThreshold": {"value": MONITORING["drift_threshold"]}}


def test_a_traffic_change_leaves_the_monitoring_job_alone() -> None:
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    both = {"stable": slot("m/1"), "candidate": slot("m/2", "candidate")}
    old = provider.create(props(both, {"stable": 90, "candidate": 10})).outs
    _monitored(api, list(old["deployed_ids"].values()))
    api.calls.clear()
    provider.update("id", old, props(both, {"stable": 50, "candidate": 50}))
    assert api.kinds() == ["split"]


def test_jobs_of_other_endpoints_are_not_touched() -> None:
    api = FakeVertex()
    provider = VertexDeploymentProvider(api)
    old = provider.create(props({"stable": slot("m/1")}, {"stable": 100})).outs
    other = ENDPOINT.replace("1234567890", "1234567891")
    VertexModelMonitoringProvider(api).create({**MONITORING, "endpoint": other})
    api.calls.clear()
    provider.update("id", old, props({"stable": slot("m/1", replicas=(2, 4))}, {"stable": 100}))
    assert "update-job" not in api.kinds()


def test_rest_client_lists_monitoring_jobs_across_pages() -> None:
    pages = [
        {"modelDeploymentMonitoringJobs": [{"name": "j1"}], "nextPageToken": "t2"},
        {"modelDeploymentMonitoringJobs": [{"name": "j2"}]},
    ]
    requests: list[str] = []

    def send(method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        requests.append(url)
        return pages[len(requests) - 1]

    jobs = RestVertexApi(send, sleep=lambda _: None).list_monitoring_jobs(REGION, "projects/p1/x")
    assert [j["name"] for j in jobs] == ["j1", "j2"]
    assert requests[1].endswith("/modelDeploymentMonitoringJobs?pageToken=t2")


def test_rest_client_patches_only_the_fields_it_is_given() -> None:
    transport = FakeTransport({"done": True})
    api = RestVertexApi(transport, sleep=lambda _: None)
    api.update_monitoring_job(
        REGION, "projects/p1/x/modelDeploymentMonitoringJobs/9", {}, (OBJECTIVES,)
    )
    assert transport.requests[0][1].endswith(f"?updateMask={OBJECTIVES}")

"""The AWS post-window rollback (review E5): a Lambda woken by EventBridge when one of its
stack's rollback alarms enters ALARM, at any time, not only during an ECS deployment or a
SageMaker blue/green update.

"Verify the trigger, then fail safe" (components/rollout.py, shipped beside this file as
``rollout_decision.py``): the function reads the alarms back by exactly its stack's names
(DescribeAlarms with its own identity), reads fresh candidate/stable samples from the alarms'
own metrics (``release_watch.py``, shipped beside it too), and calls ``decide``:

* ROLLBACK: all traffic to stable (the stage's canary share to 0%, or the endpoint's candidate
  variant weight to 0), the rolled-back marker written (an SSM parameter holding the candidate
  version, which the pipeline's ``rolled_back`` reads), reported on the ticket topic;
* HOLD with page (the trigger cannot be verified): the page topic; HOLD without: the ticket
  topic ("alert not reproduced"); IGNORE: nothing.

Its role holds exactly the calls this file and the release_watch functions it uses make
(``API_CALLS``; tests/journey/test_aws_release.py parses the code and the captured policy).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the archive ships these two files beside this one under these names
    from components import rollout as rollout_decision
    from components.aws import release_watch
else:
    import release_watch
    import rollout_decision

API_FIRST, MANAGED_PLATFORM = "api-first", "managed-platform"
# The EventBridge event this function accepts (CloudWatch's alarm state-change event).
EVENT_SOURCE = "aws.cloudwatch"
EVENT_DETAIL_TYPE = "CloudWatch Alarm State Change"


@dataclass(frozen=True)
class Config:
    """What the function acts on, from its environment (set by components/aws/release.py)."""

    pattern: str
    alarm_names: tuple[str, ...]
    settings: Mapping[str, Any]
    window_minutes: float
    candidate_version: str  # empty: no candidate (nothing to move)
    marker_parameter: str
    ticket_topic: str
    page_topic: str
    rest_api_id: str = ""
    stage_name: str = ""
    endpoint_name: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """The configuration from ``os.environ``-like ``env``."""
        return cls(
            pattern=env["PATTERN"],
            alarm_names=tuple(json.loads(env["ALARM_NAMES"])),
            settings=json.loads(env["SETTINGS"]),
            window_minutes=float(env["WINDOW_MINUTES"]),
            candidate_version=env.get("CANDIDATE_VERSION", ""),
            marker_parameter=env["MARKER_PARAMETER"],
            ticket_topic=env["TICKET_TOPIC_ARN"],
            page_topic=env["PAGE_TOPIC_ARN"],
            rest_api_id=env.get("REST_API_ID", ""),
            stage_name=env.get("STAGE_NAME", ""),
            endpoint_name=env.get("ENDPOINT_NAME", ""),
        )


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


class BotoApi:
    """release_watch.Api through boto3 (Lambda's runtime ships it); errors become ApiError."""

    def __init__(self, **client_args: Any) -> None:
        import boto3  # imported here so the module loads without boto3 (tests of pure parts)
        from botocore.config import Config as BotoConfig

        self._boto3 = boto3
        self._args = {
            "config": BotoConfig(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3}),
            **client_args,
        }
        self._clients: dict[str, Any] = {}

    def call(self, service: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One call; any client or transport error is a release_watch.ApiError."""
        from botocore.exceptions import BotoCoreError, ClientError

        if service not in self._clients:
            self._clients[service] = self._boto3.client(service, **self._args)
        try:
            answer = getattr(self._clients[service], _snake(operation))(**params)
        except (BotoCoreError, ClientError) as error:
            raise release_watch.ApiError(f"{service} {operation}: {error}") from None
        return dict(answer)


def _verify(
    event: Mapping[str, Any], config: Config, api: release_watch.Api
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(trigger, alarms read back): verified only when the monitor confirms the event's alarm
    is one of this stack's rollback alarms; its state is the one read now, not the event's."""
    detail = event.get("detail") if isinstance(event, Mapping) else None
    rule = detail.get("alarmName") if isinstance(detail, Mapping) else None
    if (
        not isinstance(rule, str)
        or event.get("source") != EVENT_SOURCE
        or event.get("detail-type") != EVENT_DETAIL_TYPE
    ):
        return {"verified": False, "firing": True, "rule": "malformed event"}, {}
    if rule not in config.alarm_names:
        return {"verified": False, "firing": True, "rule": f"unknown alarm {rule}"}, {}
    try:
        alarms = release_watch.read_alarms(api, config.alarm_names)
    except release_watch.ApiError as error:
        return {"verified": False, "firing": True, "rule": f"{rule}: {error}"}, {}
    alarm = alarms.get(rule)
    if alarm is None:
        return {"verified": False, "firing": True, "rule": f"{rule}: not found"}, alarms
    return {"verified": True, "firing": alarm.get("StateValue") == "ALARM", "rule": rule}, alarms


def observe(event: Mapping[str, Any], config: Config, api: release_watch.Api) -> dict[str, Any]:
    """The observation ``decide`` judges: the verified trigger and fresh samples."""
    trigger, alarms = _verify(event, config, api)
    observation: dict[str, Any] = {
        "trigger": trigger,
        "candidate": {"requests": 0, "errors_5xx": 0, "p99_ms": None},
        "stable": {"requests": 0, "errors_5xx": 0, "p99_ms": None},
        "settings": dict(config.settings),
    }
    if trigger["verified"] and trigger["firing"]:
        # Unreadable metrics cannot prove the candidate healthy: decide() rolls back a
        # verified firing trigger without data (fail safe after verification).
        with contextlib.suppress(release_watch.ApiError):
            observation.update(
                release_watch.read_samples(api, alarms.values(), config.window_minutes)
            )
    return observation


def _publish(api: release_watch.Api, topic: str, subject: str, body: Mapping[str, Any]) -> None:
    api.call(
        "sns",
        "Publish",
        {
            "TopicArn": topic,
            "Subject": subject[:100],
            "Message": json.dumps(body, sort_keys=True, default=str),
        },
    )


def _drain(api: release_watch.Api, config: Config) -> str:
    """All traffic to stable, through the same split the stack declares."""
    if config.pattern == API_FIRST:
        api.call(
            "apigateway",
            "UpdateStage",
            {
                "restApiId": config.rest_api_id,
                "stageName": config.stage_name,
                "patchOperations": release_watch.stage_patch(),
            },
        )
        return f"stage {config.stage_name} of api {config.rest_api_id}: canary share 0%"
    api.call(
        "sagemaker",
        "UpdateEndpointWeightsAndCapacities",
        {
            "EndpointName": config.endpoint_name,
            "DesiredWeightsAndCapacities": release_watch.stable_weights(),
        },
    )
    return f"endpoint {config.endpoint_name}: candidate variant weight 0"


def _rollback(api: release_watch.Api, config: Config, report: dict[str, Any]) -> None:
    if not config.candidate_version:
        report["done"] = "no candidate in this stack: nothing to move"
        _publish(api, config.ticket_topic, "Rollback decided, no candidate", report)
        return
    try:
        report["done"] = _drain(api, config)
        # The same writer the pipeline's drain uses: one marker, one shape (E8).
        release_watch.write_marker(api, config.marker_parameter, config.candidate_version)
    except release_watch.ApiError as error:
        report["error"] = str(error)
        _publish(api, config.page_topic, "Automatic rollback FAILED: act now", report)
        raise
    _publish(api, config.ticket_topic, f"Rolled back {config.candidate_version}", report)


def handle(event: Mapping[str, Any], config: Config, api: release_watch.Api) -> dict[str, Any]:
    """Decide and act on one event; returns the decision (and what was done)."""
    observation = observe(event, config, api)
    decision = rollout_decision.decide(rollout_decision.parse_observation(observation))
    report: dict[str, Any] = {**decision.to_dict(), "observation": observation}
    action = decision.action
    if action is rollout_decision.Action.ROLLBACK:
        _rollback(api, config, report)
    elif action is rollout_decision.Action.HOLD:
        topic, subject = (
            (config.page_topic, "Rollback trigger unverifiable: a person decides")
            if decision.page
            else (config.ticket_topic, "Rollback alarm not reproduced: holding")
        )
        _publish(api, topic, subject, report)
    return report


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point."""
    del context
    return handle(event, Config.from_env(os.environ), BotoApi())

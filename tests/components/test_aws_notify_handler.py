"""The chat forwarder's handler (components/aws/notify_fn/handler.py) against recorded SNS events
and a local HTTP double of the webhook; its SSM read signed as botocore signs and answered by
moto's SSM server."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from components.aws.notify_fn import handler

ALARM_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:acme-support-prod-uptime"
# A CloudWatch alarm notification as SNS delivers it to Lambda (the Message is a JSON string).
ALARM_MESSAGE: dict[str, Any] = {
    "AlarmName": "acme-support-prod-uptime",
    "AlarmDescription": "health_url probe success below 100%",
    "AWSAccountId": "123456789012",
    "AlarmConfigurationUpdatedTimestamp": "2026-12-01T09:00:00.000+0000",
    "NewStateValue": "ALARM",
    "NewStateReason": (
        "Threshold Crossed: 2 out of the last 2 datapoints [0.0, 0.0] were less than the "
        "threshold (100.0)."
    ),
    "StateChangeTime": "2026-12-04T10:15:00.123+0000",
    "Region": "EU (Ireland)",
    "AlarmArn": ALARM_ARN,
    "OldStateValue": "OK",
    "Trigger": {"MetricName": "SuccessPercent", "Namespace": "CloudWatchSynthetics"},
}
# What the rollback function publishes (rollback_fn/handler.py _publish: the decision report).
ROLLBACK_MESSAGE: dict[str, Any] = {
    "action": "rollback",
    "page": False,
    "reason": "candidate 5xx rate 0.12 above 0.05",
    "done": "stage prod of api abc123: canary share 0%",
    "observation": {
        "trigger": {"verified": True, "firing": True, "rule": "acme-support-prod-canary-error-rate"}
    },
}


def sns_event(message: str, subject: str | None) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:eu-west-1:123456789012:acme-alerts-page:1",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": "arn:aws:sns:eu-west-1:123456789012:acme-alerts-page",
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": "2026-12-04T10:15:01.000Z",
                },
            }
        ]
    }


EVENTS = {
    "alarm": sns_event(
        json.dumps(ALARM_MESSAGE), 'ALARM: "acme-support-prod-uptime" in EU (Ireland)'
    ),
    "rollback": sns_event(json.dumps(ROLLBACK_MESSAGE), "Rolled back 1.1.0"),
    "plain": sns_event("disk almost full on the bastion", None),
}


class Webhook:
    """A local HTTP double: records each POST, answers ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.posts: list[tuple[str, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.posts.append(
                    (self.headers["Content-Type"], json.loads(self.rfile.read(length)))
                )
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(200)
    yield hook
    hook.close()


def _text(fmt: str, body: dict[str, Any]) -> str:
    """Everything a person reads in the posted message."""
    if fmt == "slack":
        assert set(body) == {"text"}
        return str(body["text"])
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"]
    parts = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]
    parts += [a["url"] for a in card.get("actions", []) if a["type"] == "Action.OpenUrl"]
    return "\n".join(parts)


@pytest.mark.parametrize("fmt", sorted(handler.FORMATS))
def test_an_alarm_posts_its_name_state_reason_region_and_console_link(
    fmt: str, webhook: Webhook
) -> None:
    assert handler.handle(EVENTS["alarm"], fmt, lambda: webhook.url) == 1
    [(content_type, body)] = webhook.posts
    assert content_type == "application/json"
    text = _text(fmt, body)
    for expected in ("acme-support-prod-uptime", "ALARM", "Threshold Crossed", "eu-west-1"):
        assert expected in text
    assert (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#alarmsV2:alarm/acme-support-prod-uptime"
    ) in text


@pytest.mark.parametrize("fmt", sorted(handler.FORMATS))
def test_a_rollback_report_posts_its_subject_and_text(fmt: str, webhook: Webhook) -> None:
    handler.handle(EVENTS["rollback"], fmt, lambda: webhook.url)
    text = _text(fmt, webhook.posts[0][1])
    for expected in (
        "Rolled back 1.1.0",
        "rollback",
        ROLLBACK_MESSAGE["reason"],
        ROLLBACK_MESSAGE["done"],
        "acme-support-prod-canary-error-rate",
    ):
        assert expected in text


def test_the_rollback_functions_reports_are_the_shape_the_forwarder_reads() -> None:
    # Held against the rollback function's own code: it publishes the decision's keys.
    from components import rollout

    keys = set(rollout.Decision(rollout.Action.ROLLBACK, False, "r").to_dict())
    assert {"action", "reason"} <= keys
    assert handler.notice({"Subject": "s", "Message": json.dumps({"action": "hold"})}).title == "s"


@pytest.mark.parametrize("fmt", sorted(handler.FORMATS))
def test_a_message_that_is_not_json_posts_its_text(fmt: str, webhook: Webhook) -> None:
    handler.handle(EVENTS["plain"], fmt, lambda: webhook.url)
    assert "disk almost full on the bastion" in _text(fmt, webhook.posts[0][1])


def test_a_long_reason_is_cut() -> None:
    long = {**ALARM_MESSAGE, "NewStateReason": "x" * 10_000}
    n = handler.notice({"Message": json.dumps(long)})
    assert len(n.text) <= handler.MAX_TEXT


@pytest.mark.parametrize("status", [400, 403, 404, 410, 429, 500, 503])
def test_a_refusing_webhook_raises_so_lambda_retries_and_the_url_stays_out_of_the_error(
    status: int,
) -> None:
    hook = Webhook(status)
    try:
        with pytest.raises(handler.WebhookError, match=str(status)) as raised:
            handler.handle(EVENTS["alarm"], "slack", lambda: hook.url)
        assert hook.url not in str(raised.value)
    finally:
        hook.close()


def test_an_unreachable_webhook_raises() -> None:
    hook = Webhook(200)
    url = hook.url
    hook.close()
    with pytest.raises(handler.WebhookError, match="unreachable"):
        handler.handle(EVENTS["alarm"], "teams", lambda: url)


def test_only_https_urls_are_accepted_from_the_parameter() -> None:
    assert handler.webhook_url(" https://hooks.example/x \n") == "https://hooks.example/x"
    with pytest.raises(handler.ParameterError):
        handler.webhook_url("http://hooks.example/x")


# --- the SSM read --------------------------------------------------------------------------------


def test_the_signature_is_the_one_botocore_computes() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    creds = handler.Credentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok/en="
    )
    url = "https://ssm.eu-west-1.amazonaws.com/"
    body = json.dumps({"Name": "/acme/prod/alerts/page-slack-0", "WithDecryption": True}).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonSSM.GetParameter",
    }
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    signer = SigV4Auth(
        BotoCredentials(creds.access_key, creds.secret_key, creds.token), "ssm", "eu-west-1"
    )
    signer.add_auth(request)
    # botocore signs at its own clock: sign at the same instant
    now = dt.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=dt.UTC
    )
    ours = handler.sign(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        region="eu-west-1",
        service="ssm",
        credentials=creds,
        now=now,
    )
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Security-Token"] == creds.token


def test_the_url_is_read_from_a_securestring_on_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}/"
        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            monkeypatch.setenv(k, v)
        ssm = boto3.client("ssm", region_name="eu-west-1", endpoint_url=endpoint)
        name = "/acme-support/prod/alerts/page-slack-0"
        ssm.put_parameter(Name=name, Value="https://hooks.slack.example/T/B/X", Type="SecureString")
        value = handler.read_parameter(
            name,
            region="eu-west-1",
            credentials=handler.Credentials("testing", "testing"),
            endpoint=endpoint,
        )
        assert handler.webhook_url(value) == "https://hooks.slack.example/T/B/X"
        with pytest.raises(handler.ParameterError, match="ParameterNotFound"):
            handler.read_parameter(
                name + "-missing",
                region="eu-west-1",
                credentials=handler.Credentials("testing", "testing"),
                endpoint=endpoint,
            )
    finally:
        server.stop()

"""The chat forwarder (issue 10, item 5): SNS -> Slack or Teams webhook. Standard library only.

One function per chat destination of a tier (components/aws/notify.py). It is subscribed to that
tier's SNS topic; each record it receives becomes one short message posted to the webhook:

* a CloudWatch alarm notification (JSON with ``AlarmName``): the alarm's name, its new state,
  the reason, the region and a link to the alarm in the console;
* a message of the rollback function (components/aws/rollback_fn/handler.py publishes its
  decision as JSON with ``action``/``reason``, and ``done`` or ``error``): its subject and text;
* anything else: the subject and the message text, cut to :data:`MAX_TEXT`.

The webhook URL is a SecureString parameter read at run time (SSM ``GetParameter`` with
decryption, signed with SigV4 by this file: no boto3, no packaged dependency); the function's
environment names the parameter and the format only. A webhook answering 4xx/5xx (or not at all)
raises, so Lambda's asynchronous invoke retries and then dead-letters the event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# A chat line is read on a phone: the reason of an alarm can be long, the rest is short.
MAX_TEXT = 1500
TIMEOUT_SECONDS = 10
# The URL is read once per container and kept this long: a rotated secret is picked up within
# minutes without one SSM call per alert.
URL_CACHE_SECONDS = 300
CONSOLE_ALARM = (
    "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{name}"
)


class WebhookError(RuntimeError):
    """The webhook refused or did not answer; the message never carries the URL (a secret)."""


class ParameterError(RuntimeError):
    """The parameter holding the webhook URL could not be read."""


@dataclass(frozen=True)
class Notice:
    """What one SNS record says, before it is shaped for a chat format."""

    title: str
    text: str
    link: str | None = None


# --- reading what SNS delivered ------------------------------------------------------------------


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alarm_notice(message: Mapping[str, Any]) -> Notice:
    name = str(message.get("AlarmName", ""))
    state = str(message.get("NewStateValue", "?"))
    old = message.get("OldStateValue")
    arn = str(message.get("AlarmArn", ""))
    # The ARN carries the region code (the message's "Region" is a display name, "EU (Ireland)").
    parts = arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else ""
    reason = str(message.get("NewStateReason", ""))
    text = f"{state}" + (f" (was {old})" if old else "") + f": {reason}"
    if region:
        text += f"\nregion {region}"
    link = (
        CONSOLE_ALARM.format(region=region, name=urllib.parse.quote(name, safe=""))
        if region and name
        else None
    )
    return Notice(f"{state}: {name}", _cut(text), link)


def _rollback_notice(subject: str, message: Mapping[str, Any]) -> Notice:
    lines = [f"decision: {message.get('action')}" + (" (page)" if message.get("page") else "")]
    for key in ("reason", "done", "error"):
        if message.get(key):
            lines.append(f"{key}: {message[key]}")
    trigger = (message.get("observation") or {}).get("trigger")
    if isinstance(trigger, Mapping) and trigger.get("rule"):
        lines.append(f"alarm: {trigger['rule']}")
    return Notice(subject or "Automatic rollback", _cut("\n".join(lines)))


def notice(sns: Mapping[str, Any]) -> Notice:
    """The notice of one record's ``Sns`` part (subject, message)."""
    subject = str(sns.get("Subject") or "")
    raw = str(sns.get("Message") or "")
    try:
        message = json.loads(raw)
    except ValueError:
        message = None
    if isinstance(message, Mapping) and "AlarmName" in message:
        return _alarm_notice(message)
    if isinstance(message, Mapping) and "action" in message:
        return _rollback_notice(subject, message)
    return Notice(subject or "Notification", _cut(raw))


# --- the formats ---------------------------------------------------------------------------------


def slack(n: Notice) -> dict[str, Any]:
    """A Slack incoming webhook message (mrkdwn text)."""
    text = f"*{n.title}*\n{n.text}"
    if n.link:
        text += f"\n<{n.link}|Open in the AWS console>"
    return {"text": text}


def teams(n: Notice) -> dict[str, Any]:
    """A Teams Workflows webhook message: one Adaptive Card attachment."""
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": n.title, "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": n.text, "wrap": True},
        ],
    }
    if n.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in the AWS console", "url": n.link}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


# The destination kind (spec DestinationKind value) -> the webhook's message format.
FORMATS: Mapping[str, Callable[[Notice], dict[str, Any]]] = {"slack": slack, "teams": teams}


# --- posting -------------------------------------------------------------------------------------

Opener = Callable[..., Any]


def post(url: str, payload: Mapping[str, Any], *, opener: Opener = urllib.request.urlopen) -> int:
    """POST ``payload`` as JSON; the status on 2xx, else :class:`WebhookError`."""
    # The URL is https (webhook_url) in the function; tests post to a local double.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with opener(request, timeout=TIMEOUT_SECONDS) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        raise WebhookError(f"webhook answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise WebhookError(f"webhook unreachable: {type(reason).__name__}") from None
    if not 200 <= status < 300:
        raise WebhookError(f"webhook answered HTTP {status}")
    return status


# --- the URL: SSM GetParameter, SigV4-signed with the function's credentials ---------------------


@dataclass(frozen=True)
class Credentials:
    """The role's temporary credentials (Lambda's environment)."""

    access_key: str
    secret_key: str
    token: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        """From AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN."""
        return cls(
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN", "")
        )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    region: str,
    service: str,
    credentials: Credentials,
    now: dt.datetime,
) -> dict[str, str]:
    """The request's headers plus SigV4's (X-Amz-Date, X-Amz-Security-Token, Authorization)."""
    parsed = urllib.parse.urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed["host"] = parsed.netloc
    signed["x-amz-date"] = amz_date
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(parsed.path or "/", safe="/-_.~"),
            parsed.query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + credentials.secret_key).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in headers.items()}
    out["X-Amz-Date"] = amz_date
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def read_parameter(
    name: str,
    *,
    region: str,
    credentials: Credentials,
    endpoint: str | None = None,
    opener: Opener = urllib.request.urlopen,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> str:
    """The decrypted value of SecureString ``name`` (ssm:GetParameter + kms:Decrypt)."""
    url = endpoint or f"https://ssm.{region}.amazonaws.com/"
    body = json.dumps({"Name": name, "WithDecryption": True}).encode()
    headers = sign(
        method="POST",
        url=url,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonSSM.GetParameter",
        },
        body=body,
        region=region,
        service="ssm",
        credentials=credentials,
        now=now(),
    )
    # The regional https endpoint unless a test points it at a local server.
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with opener(request, timeout=TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read()[:300].decode(errors="replace")
        raise ParameterError(f"GetParameter {name}: HTTP {error.code} {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ParameterError(f"GetParameter {name}: {type(error).__name__}") from None
    value = answer.get("Parameter", {}).get("Value") if isinstance(answer, dict) else None
    if not isinstance(value, str):
        raise ParameterError(f"GetParameter {name}: no value in the answer")
    return value


def webhook_url(value: str) -> str:
    """The parameter's value as a webhook URL: HTTPS only (it carries its own credential)."""
    url = value.strip()
    if urllib.parse.urlsplit(url).scheme != "https":
        raise ParameterError("the webhook parameter does not hold an https:// URL")
    return url


# --- the entry point -----------------------------------------------------------------------------


def handle(
    event: Mapping[str, Any],
    fmt: str,
    url: Callable[[], str],
    *,
    opener: Opener = urllib.request.urlopen,
) -> int:
    """Post every SNS record of ``event`` in format ``fmt``; the number posted."""
    shape = FORMATS[fmt]
    records = event.get("Records") or []
    posted = 0
    for record in records:
        sns = record.get("Sns") if isinstance(record, Mapping) else None
        if not isinstance(sns, Mapping):
            continue
        post(url(), shape(notice(sns)), opener=opener)
        posted += 1
    return posted


_cache: dict[str, tuple[float, str]] = {}


def _cached_url(name: str, region: str) -> str:
    hit = _cache.get(name)
    if hit and time.monotonic() - hit[0] < URL_CACHE_SECONDS:
        return hit[1]
    value = webhook_url(
        read_parameter(name, region=region, credentials=Credentials.from_env(os.environ))
    )
    _cache[name] = (time.monotonic(), value)
    return value


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point: PARAMETER_NAME and FORMAT from the environment."""
    del context
    name, region = os.environ["PARAMETER_NAME"], os.environ["AWS_REGION"]
    posted = handle(event, os.environ["FORMAT"], lambda: _cached_url(name, region))
    return {"posted": posted}

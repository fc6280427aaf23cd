"""The sample app: how a client's app or device takes a model release and runs it offline.

    python -m app [--state DIR] update --api URL --public-key PEM     # fetch, verify, install
    python -m app [--state DIR] predict TEXT --public-key PEM         # offline, verified first
    python -m app [--state DIR] report --api URL                      # opt-in telemetry

``update`` asks the device API for the current release (``GET <api>/releases/latest`` with the
device's JWT from ``DEVICE_TOKEN``), downloads the bundle and each file from the short-lived
URLs it answers with, verifies everything **before** anything is installed (the environment's
pinned public key, every file's SHA-256, no older sequence than the last one accepted, not
expired) and only then swaps the new release in with one rename. A release that fails
verification is never installed and is counted for telemetry. ``predict`` verifies the
installed release again offline, then runs it: nothing here needs the network to infer.
``report`` sends the counters only when ``APP_TELEMETRY=on`` (the user opted in). The sample
reports its mean latency as both percentiles and no drift (it keeps no input statistics): a
real app computes them. ``DEVICE_TOKEN`` is the device's JWT from your identity provider.

Exit codes: 0 done, 1 refused (one line saying why), 2 bad usage or unreachable service.
The verifier is ``components/release_manifest.py``: copy it into your app (it needs only the
``cryptography`` package) and pin your environment's public key (``python -m ci.release
public-key``), never a key fetched at run time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from components import release_manifest as rm

APP_VERSION = "1.0.0"
CURRENT, ACCEPTED, COUNTERS = "current", "accepted.json", "telemetry.json"
MAX_DOWNLOAD_BYTES = 2 << 30
TIMEOUT_SECONDS = 30


class AppError(Exception):
    """Exit 2 with this one line: bad usage or a service that cannot be reached."""


def _state(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _count(state: Path, key: str, amount: float = 1) -> None:
    counters = _read_json(state / COUNTERS, {})
    counters[key] = counters.get(key, 0) + amount
    _write_json(state / COUNTERS, counters)


def _get(url: str, token: str | None = None) -> bytes:
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise AppError(f"refusing a non-HTTPS URL: {url[:60]}")
    request = urllib.request.Request(url)  # noqa: S310 - scheme checked above
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            data: bytes = answer.read(MAX_DOWNLOAD_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise AppError(f"{url.split('?')[0]} answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise AppError(f"cannot reach {url.split('?')[0]}: {exc}") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise AppError(f"{url.split('?')[0]}: larger than {MAX_DOWNLOAD_BYTES} bytes")
    return data


def _accepted_sequence(state: Path) -> int | None:
    accepted = _read_json(state / ACCEPTED, {})
    value = accepted.get("sequence")
    return value if isinstance(value, int) else None


def _download(latest: dict[str, Any], into: Path) -> dict[str, Any]:
    """The bundle, with every file written under ``into`` (names checked before any write)."""
    bundle = json.loads(_get(str(latest["bundle"])))
    if not isinstance(bundle, dict):
        raise AppError("the bundle is not a JSON object")
    for name, url in latest["files"].items():
        target = into / rm.safe_name(name)  # a name may never leave the folder
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_get(str(url)))
    return bundle


def update(api: str, public_pem: bytes, state: Path) -> str:
    """Install the current release if it is newer and verifies; the message says what happened."""
    latest = json.loads(_get(f"{api.rstrip('/')}/releases/latest", os.environ.get("DEVICE_TOKEN")))
    if not isinstance(latest, dict) or not isinstance(latest.get("files"), dict):
        raise AppError("the device API answered something that is not a release")
    known = _accepted_sequence(state)
    if known is not None and latest.get("sequence") == known:
        return f"already current: sequence {known}"
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=state))
    try:
        try:
            bundle = _download(latest, incoming)
        except (AppError, ValueError, KeyError):
            _count(state, "download_failures")
            raise
        try:
            release = rm.verify(
                incoming, bundle, public_pem, min_sequence=known, app_version=APP_VERSION
            )
        except rm.RefusedError as exc:
            # Only what says the bundle or files are not what was signed pages on-call; an older
            # sequence, an expired release or an app too old are counted apart (not reported).
            tampered = str(exc).split(":", 1)[0] in ("signature", "digest", "format")
            _count(state, "signature_failures" if tampered else "refused_other")
            raise
        # Verified: swap it in with renames, then record it. A crash in between leaves the old
        # record, so the next update installs the release again; nothing unverified is run.
        current, old = state / CURRENT, state / f".old-{secrets.token_hex(4)}"
        if current.exists():
            os.replace(current, old)
        os.replace(incoming, current)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    _write_json(
        state / ACCEPTED,
        {"sequence": release.terms.sequence, "version": release.terms.version,
         "root_digest": release.root_digest, "bundle": bundle},
    )  # fmt: skip
    return f"installed {release.terms.version} (sequence {release.terms.sequence})"


def predict(text: str, public_pem: bytes, state: Path) -> dict[str, Any]:
    """Verify the installed release offline, then run the model on ``text``."""
    from model.predictor import from_weights

    current = state / CURRENT
    if not current.is_dir():
        raise AppError("no release installed yet: run `python -m app update` first")
    bundle = _read_json(state / ACCEPTED, {}).get("bundle")
    if not isinstance(bundle, dict):
        raise rm.RefusedError("the installed release has no bundle")
    # Signature and digests every time; not the expiry: it bounds installing a release, and a
    # device offline past it must keep running the model it accepted.
    release = rm.verify(
        current, bundle, public_pem,
        min_sequence=_accepted_sequence(state), app_version=APP_VERSION, check_expiry=False,
    )  # fmt: skip
    weights = json.loads((current / "keywords.json").read_text(encoding="utf-8"))
    started = time.perf_counter()
    prediction = from_weights(weights).predict(text)
    _count(state, "inferences")
    _count(state, "latency_ms_total", (time.perf_counter() - started) * 1000)
    _count(state, "confidence_total", prediction.score)
    return {**prediction.as_dict(), "model_version": release.terms.version}


def report(api: str, state: Path) -> str:
    """Send the counters (opt-in: ``APP_TELEMETRY=on``) and reset them once accepted."""
    if os.environ.get("APP_TELEMETRY", "off") != "on":
        return "telemetry is off (set APP_TELEMETRY=on to opt in)"
    counters = _read_json(state / COUNTERS, {})
    accepted = _read_json(state / ACCEPTED, {})
    device = _read_json(state / "device.json", {}).get("id") or secrets.token_hex(16)
    _write_json(state / "device.json", {"id": device})  # pseudonymous install id
    inferences = int(counters.get("inferences", 0))
    mean_latency = counters.get("latency_ms_total", 0.0) / inferences if inferences else 0.0
    body = {
        "device": device,
        "model_version": accepted.get("version", "none"),
        "sequence": int(accepted.get("sequence", 0)),
        "app_version": APP_VERSION,
        "inferences": inferences,
        "latency_ms_p50": round(mean_latency, 3),
        "latency_ms_p95": round(mean_latency, 3),
        "mean_confidence": round(counters.get("confidence_total", 0.0) / inferences, 4)
        if inferences
        else 0.0,
        "drift": 0.0,
        "download_failures": int(counters.get("download_failures", 0)),
        "signature_failures": int(counters.get("signature_failures", 0)),
    }
    request = urllib.request.Request(  # noqa: S310 - the device API is HTTPS (checked below)
        f"{api.rstrip('/')}/telemetry",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {os.environ.get('DEVICE_TOKEN', '')}",
        },
    )
    if not api.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise AppError(f"refusing a non-HTTPS device API: {api[:60]}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):  # noqa: S310
            pass
    except (urllib.error.URLError, OSError) as exc:
        raise AppError(f"cannot report: {exc}") from None
    _write_json(state / COUNTERS, {})
    return f"reported {inferences} inferences"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=Path(".app-state"))
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("update", help="fetch, verify and install the current release")
    up.add_argument("--api", required=True)
    up.add_argument("--public-key", required=True, type=Path)
    pr = sub.add_parser("predict", help="run the installed release offline")
    pr.add_argument("text")
    pr.add_argument("--public-key", required=True, type=Path)
    rp = sub.add_parser("report", help="send opt-in telemetry")
    rp.add_argument("--api", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 0 done, 1 refused, 2 bad usage or unreachable."""
    args = _parser().parse_args(argv)
    try:
        state = _state(args.state)
        pem = args.public_key.read_bytes() if hasattr(args, "public_key") else b""
        if args.command == "update":
            print(update(args.api, pem, state))
        elif args.command == "predict":
            print(json.dumps(predict(args.text, pem, state)))
        else:
            print(report(args.api, state))
    except rm.RefusedError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except (AppError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

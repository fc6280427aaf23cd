"""``python -m ci.release``: sign, verify, promote and publish model releases (embedded pattern).

    ship MODEL_DIR --version V --key KEY --channel CHANNEL --out BUNDLE [--expires-days D]
         [--name NAME] [--min-app-version A]
    sign MODEL_DIR --version V --sequence N --key KEY --out BUNDLE [--expires-days D]
         [--name NAME] [--min-app-version A] [--force]
    verify MODEL_DIR --bundle BUNDLE --public-key PEM [--min-sequence N] [--app-version A]
    promote MODEL_DIR --bundle IN --public-key PREVIOUS_PEM --key KEY --out OUT [--force]
    public-key --key KEY --out PEM [--force]
    publish MODEL_DIR --bundle BUNDLE --public-key PEM
         --channel s3://<bucket> | gs://<bucket> | azblob://<account>/<container>

ship signs MODEL_DIR as the channel's next release (its sequence + 1) and publishes it, or, when
the channel's current release is already this model at this version, writes that release's
bundle to BUNDLE and publishes nothing (a re-run, or a change that did not touch the model).
promote and publish verify the release first (promote with the previous environment's public
key, publish with this environment's): nothing unverified is ever counter-signed or uploaded.

KEY is ``file:PATH`` (a PEM EC P-256 private key) or the stack's cloud key: ``awskms:<key id,
ARN or alias>``, ``azurekv:https://<vault>.vault.azure.net/keys/<name>[/<version>]`` or
``gcpkms:projects/.../cryptoKeyVersions/<v>``. Exit codes: 0 done (verify: the release is
valid), 1 refused or the key service failed (one line saying why), 2 bad usage (unknown option,
unreadable file, a key of the wrong kind).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from components import release_channels, release_signers
from components import release_manifest as rm
from components.release_channels import ChannelError

USAGE, REFUSED = 2, 1


class UsageError(Exception):
    """Bad input: exit 2 with this one line."""


def _file_signer(spec: str) -> rm.Signer:
    return rm.PemFileSigner(Path(spec))


def _aws_signer(spec: str) -> rm.Signer:
    return release_signers.AwsKmsSigner(spec)


def _azure_signer(spec: str) -> rm.Signer:
    return release_signers.AzureKeyVaultSigner(spec)


def _gcp_signer(spec: str) -> rm.Signer:
    return release_signers.GcpKmsSigner(spec)


# Key schemes: one entry per key service (the cloud's per-environment signing key).
SIGNERS: dict[str, Callable[[str], rm.Signer]] = {
    "file": _file_signer,
    "awskms": _aws_signer,
    "azurekv": _azure_signer,
    "gcpkms": _gcp_signer,
}


def _s3_channel(bucket: str) -> Any:
    return release_channels.S3Channel(bucket)


def _gcs_channel(bucket: str) -> Any:
    return release_channels.GcsChannel(bucket)


def _azure_blob_channel(rest: str) -> Any:
    account, sep, container = rest.partition("/")
    if not sep:
        raise ValueError("expected azblob://<account>/<container>")
    return release_channels.AzureBlobChannel(account, container)


# Channel schemes: the environment's release channel (components/release_channels.py).
CHANNELS: dict[str, Callable[[str], Any]] = {
    "s3": _s3_channel,
    "gs": _gcs_channel,
    "azblob": _azure_blob_channel,
}
# What follows a scheme's "://" when it is more than one name (its factory checks it); the
# others name a bucket, without a "/".
CHANNEL_PATHS = {"azblob": "<account>/<container>"}


def channel_for(url: str) -> Any:
    """The channel a ``--channel`` names."""
    scheme, sep, rest = url.partition("://")
    if (
        not sep
        or scheme not in CHANNELS
        or not rest
        or ("/" in rest and scheme not in CHANNEL_PATHS)
    ):
        known = ", ".join(f"{s}://{CHANNEL_PATHS.get(s, '<name>')}" for s in CHANNELS)
        raise UsageError(f"--channel {url!r}: expected {known}")
    try:
        return CHANNELS[scheme](rest)
    except ValueError as exc:
        raise UsageError(f"--channel {url!r}: {exc}") from exc


def signer_for(key: str) -> rm.Signer:
    """The signer a ``--key`` names."""
    scheme, _, rest = key.partition(":")
    if scheme not in SIGNERS or not rest:
        known = ", ".join(f"{s}:..." for s in SIGNERS)
        raise UsageError(f"--key {key!r}: expected one of {known}")
    try:
        return SIGNERS[scheme](rest)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the bundle {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a bundle (a JSON object)")
    return data


def _model_dir(path: Path) -> Path:
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    return path


def _write(bundle: dict[str, object], out: Path, force: bool) -> None:
    try:
        rm.write_bundle(bundle, out, force=force)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc}") from exc


MAX_EXPIRES_DAYS = 3650
# A release version becomes part of the channel's object names (releases/<version>-<seq>/).
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")


def _check_version(version: str) -> None:
    if not VERSION_RE.fullmatch(version):
        raise UsageError(
            f"--version {version!r}: 1 to 64 letters, digits, dots, dashes, underscores or "
            "plus signs, starting with a letter or digit (e.g. 1.4.0)"
        )


def cmd_sign(args: argparse.Namespace) -> str:
    model_dir = _model_dir(args.model_dir)
    _check_version(args.version)
    if not 1 <= args.expires_days <= MAX_EXPIRES_DAYS:
        raise UsageError(f"--expires-days: from 1 to {MAX_EXPIRES_DAYS}")
    if args.out.resolve().is_relative_to(model_dir.resolve()):
        raise UsageError("--out must be outside MODEL_DIR (the bundle is not part of the model)")
    signer = signer_for(args.key)
    try:
        bundle = rm.sign(
            model_dir,
            signer,
            name=args.name or model_dir.resolve().name,
            version=args.version,
            sequence=args.sequence,
            expires_in=timedelta(days=args.expires_days),
            min_app_version=args.min_app_version,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _write(bundle, args.out, args.force)
    return f"signed {args.version} (sequence {args.sequence}) -> {args.out}"


def cmd_verify(args: argparse.Namespace) -> str:
    model_dir = _model_dir(args.model_dir)
    bundle = _read_json(args.bundle)
    pem = _public_key(args.public_key)
    release = rm.verify(
        model_dir,
        bundle,
        pem,
        min_sequence=args.min_sequence,
        app_version=args.app_version,
    )
    return (
        f"valid: {release.name} {release.terms.version} (sequence {release.terms.sequence}, "
        f"expires {release.terms.as_json()['not_after']})"
    )


def _public_key(path: Path) -> bytes:
    try:
        pem = path.read_bytes()
        rm.load_public_key(pem)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--public-key {path}: {exc}") from exc
    return pem


def cmd_promote(args: argparse.Namespace) -> str:
    model_dir = _model_dir(args.model_dir)
    bundle = _read_json(args.bundle)
    previous = _public_key(args.public_key)
    signer = signer_for(args.key)
    _write(rm.add_signature(model_dir, bundle, signer, previous), args.out, args.force)
    return f"promoted: {args.out} carries this key's signature over the same payload"


def cmd_ship(args: argparse.Namespace) -> str:
    """Sign and publish ``MODEL_DIR`` as the channel's next release, unless the channel's
    current release is already exactly this model at this version: then its bundle is written
    to ``--out`` and nothing is signed or published. Re-running a pipeline job, or a merge that
    did not touch the model, publishes nothing new; the sequence is the channel's + 1, so it
    only grows whatever CI or person publishes."""
    model_dir = _model_dir(args.model_dir)
    _check_version(args.version)
    if args.out.resolve().is_relative_to(model_dir.resolve()):
        raise UsageError("--out must be outside MODEL_DIR (the bundle is not part of the model)")
    if not 1 <= args.expires_days <= MAX_EXPIRES_DAYS:
        raise UsageError(f"--expires-days: from 1 to {MAX_EXPIRES_DAYS}")
    signer = signer_for(args.key)
    channel = channel_for(args.channel)
    pem = signer.public_pem()
    current = channel.latest()
    if current is not None and current.version == args.version:
        published = channel.published_bundle(current)
        try:
            if published is not None:
                rm.verify(model_dir, published, pem)
                _write(published, args.out, True)
                return (
                    f"unchanged: {args.version} is already the channel's release (sequence "
                    f"{current.sequence}); nothing signed or published -> {args.out}"
                )
        except rm.RefusedError:
            pass  # other content, another key or expired: publish a new release
    sequence = (current.sequence if current is not None else 0) + 1
    try:
        bundle = rm.sign(
            model_dir,
            signer,
            name=args.name or model_dir.resolve().name,
            version=args.version,
            sequence=sequence,
            expires_in=timedelta(days=args.expires_days),
            min_app_version=args.min_app_version,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _write(bundle, args.out, True)
    pointer = channel.publish(model_dir, bundle, pem)
    return f"published {pointer.version} (sequence {pointer.sequence}) -> {args.channel}"


def cmd_public_key(args: argparse.Namespace) -> str:
    pem = signer_for(args.key).public_pem()
    if args.out.exists() and not args.force:
        raise UsageError(f"{args.out} exists (use --force to replace it)")
    try:
        args.out.write_bytes(pem)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc}") from exc
    return f"public key ({rm.key_hint(pem)[:16]}...) -> {args.out}"


def cmd_publish(args: argparse.Namespace) -> str:
    model_dir = _model_dir(args.model_dir)
    bundle = _read_json(args.bundle)
    pem = _public_key(args.public_key)
    pointer = channel_for(args.channel).publish(model_dir, bundle, pem)
    return f"published {pointer.version} (sequence {pointer.sequence}) -> {args.channel}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ci.release", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sign = sub.add_parser("sign", help="sign a model directory")
    sign.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    sign.add_argument("--version", required=True)
    sign.add_argument("--sequence", required=True, type=int)
    sign.add_argument("--key", required=True)
    sign.add_argument("--out", required=True, type=Path)
    sign.add_argument("--expires-days", type=int, default=180)
    sign.add_argument("--name", default="")
    sign.add_argument("--min-app-version", default="0")
    sign.add_argument("--force", action="store_true")
    sign.set_defaults(run=cmd_sign)

    verify = sub.add_parser("verify", help="verify a model directory against its bundle")
    verify.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    verify.add_argument("--bundle", required=True, type=Path)
    verify.add_argument("--public-key", required=True, type=Path)
    verify.add_argument("--min-sequence", type=int)
    verify.add_argument("--app-version")
    verify.set_defaults(run=cmd_verify)

    promote = sub.add_parser("promote", help="add the next environment's signature")
    promote.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    promote.add_argument("--bundle", required=True, type=Path)
    promote.add_argument("--public-key", required=True, type=Path)
    promote.add_argument("--key", required=True)
    promote.add_argument("--out", required=True, type=Path)
    promote.add_argument("--force", action="store_true")
    promote.set_defaults(run=cmd_promote)

    ship = sub.add_parser(
        "ship", help="sign and publish the channel's next release (nothing if unchanged)"
    )
    ship.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    ship.add_argument("--version", required=True)
    ship.add_argument("--key", required=True)
    ship.add_argument("--channel", required=True)
    ship.add_argument("--out", required=True, type=Path)
    ship.add_argument("--expires-days", type=int, default=180)
    ship.add_argument("--name", default="")
    ship.add_argument("--min-app-version", default="0")
    ship.set_defaults(run=cmd_ship)

    public = sub.add_parser("public-key", help="export the key's public half for apps")
    public.add_argument("--key", required=True)
    public.add_argument("--out", required=True, type=Path)
    public.add_argument("--force", action="store_true")
    public.set_defaults(run=cmd_public_key)
    publish = sub.add_parser("publish", help="upload a signed release to the channel")
    publish.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    publish.add_argument("--bundle", required=True, type=Path)
    publish.add_argument("--public-key", required=True, type=Path)
    publish.add_argument("--channel", required=True)
    publish.set_defaults(run=cmd_publish)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code is 0, 1 (refused) or 2 (bad usage)."""
    args = _parser().parse_args(argv)  # argparse exits 2 on bad usage
    try:
        print(args.run(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except rm.RefusedError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return REFUSED
    except (release_signers.KeyServiceError, ChannelError, rm.SigningError) as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return REFUSED
    except ValueError as exc:  # a key of the wrong kind, found when the service answers
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())

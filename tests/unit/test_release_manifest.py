"""Signed model releases (the embedded pattern): sign, verify offline, promote, refuse.

Runs the real CLI (``components.release_cli.main``, what ``python -m ci.release`` runs) on a
sample model directory with local P-256 keys; the AWS KMS signer against moto (messages up to
4 KB) and a stubbed KMS (longer ones, signed as a digest). Interoperability: every bundle we
write verifies with OpenSSF ``model_signing`` itself, before and after promotion.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import model_signing
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from components import release_cli
from components import release_manifest as rm
from components.release_signers import RAW_LIMIT, AwsKmsSigner


def _key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path / "keys"
    folder.mkdir()
    return {env: _key_pair(folder, env) for env in ("staging", "prod", "other")}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "sample-model"
    (root / "tokenizer").mkdir(parents=True)
    (root / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (root / "config.json").write_text('{"labels": ["no", "yes"]}\n')
    (root / "tokenizer" / "vocab.txt").write_text("a\nb\nc\n")
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = release_cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, (out.out + out.err).strip()


def signed(
    capsys: pytest.CaptureFixture[str], model: Path, key: Path, out: Path, *extra: str
) -> Path:
    code, text = run(
        capsys, "sign", model, "--version", "1.2.0", "--sequence", "7", "--key", f"file:{key}",
        "--out", out, *extra,
    )  # fmt: skip
    assert code == 0, text
    return out


def test_a_signed_release_verifies_offline(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    bundle = signed(capsys, model, keys["staging"][0], tmp_path / "release.json")
    code, text = run(
        capsys, "verify", model, "--bundle", bundle, "--public-key", keys["staging"][1]
    )
    assert code == 0, text
    assert "valid: sample-model 1.2.0 (sequence 7" in text
    document = json.loads(bundle.read_text())
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    names = [r["name"] for r in statement["predicate"]["resources"]]
    assert names == ["config.json", "tokenizer/vocab.txt", "weights.bin"]
    terms = statement["predicate"][rm.TERMS_KEY]
    assert terms["sequence"] == 7 and terms["version"] == "1.2.0"
    assert terms["key_id"] == rm.key_hint(keys["staging"][1].read_bytes())


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (lambda m: (m / "weights.bin").write_bytes(b"poisoned"), "digest: weights.bin differs"),
        (
            lambda m: (m / "tokenizer" / "vocab.txt").unlink(),
            "digest: tokenizer/vocab.txt is missing",
        ),
        (lambda m: (m / "extra.py").write_text("import os"), "digest: extra.py is not part"),
    ],
    ids=["changed", "missing", "added"],
)
def test_a_tampered_model_is_refused(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
    tamper: Any,
    why: str,
) -> None:
    bundle = signed(capsys, model, keys["staging"][0], tmp_path / "release.json")
    tamper(model)
    code, text = run(
        capsys, "verify", model, "--bundle", bundle, "--public-key", keys["staging"][1]
    )
    assert code == 1
    assert text.startswith(f"refused: {why}")
    assert "\n" not in text


def test_an_older_sequence_is_refused(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    bundle = signed(capsys, model, keys["staging"][0], tmp_path / "release.json")
    public = keys["staging"][1]
    assert (
        run(
            capsys,
            "verify",
            model,
            "--bundle",
            bundle,
            "--public-key",
            public,
            "--min-sequence",
            "7",
        )[0]
        == 0
    )
    code, text = run(
        capsys, "verify", model, "--bundle", bundle, "--public-key", public, "--min-sequence", "8"
    )
    assert code == 1
    assert text == "refused: rollback: release sequence 7 is older than 8, the last one accepted"


def test_an_expired_release_is_refused(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    issued = datetime.now(timezone.utc) - timedelta(days=31)
    bundle = rm.sign(
        model, rm.PemFileSigner(keys["staging"][0]), name="m", version="1", sequence=1,
        expires_in=timedelta(days=30), now=issued,
    )  # fmt: skip
    path = tmp_path / "old.json"
    rm.write_bundle(bundle, path)
    code, text = run(capsys, "verify", model, "--bundle", path, "--public-key", keys["staging"][1])
    assert code == 1
    assert text.startswith("refused: expired: the release expired at ")


def test_a_release_for_a_newer_app_is_refused(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    bundle = signed(
        capsys, model, keys["staging"][0], tmp_path / "r.json", "--min-app-version", "2.10.0"
    )
    public = keys["staging"][1]
    ok = run(
        capsys,
        "verify",
        model,
        "--bundle",
        bundle,
        "--public-key",
        public,
        "--app-version",
        "2.10.1",
    )
    assert ok[0] == 0
    code, text = run(
        capsys,
        "verify",
        model,
        "--bundle",
        bundle,
        "--public-key",
        public,
        "--app-version",
        "2.9.9",
    )
    assert (code, text) == (
        1,
        "refused: app: the release needs app version 2.10.0 or later (this is 2.9.9)",
    )


def test_the_wrong_key_is_refused(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    bundle = signed(capsys, model, keys["staging"][0], tmp_path / "release.json")
    code, text = run(capsys, "verify", model, "--bundle", bundle, "--public-key", keys["other"][1])
    assert code == 1
    assert text.startswith("refused: signature: the release is not signed by this key")


def test_a_forged_keyid_does_not_pass(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    """Relabelling a signature with the device's key id does not make it that key's."""
    bundle_path = signed(capsys, model, keys["other"][0], tmp_path / "release.json")
    bundle = json.loads(bundle_path.read_text())
    bundle["dsseEnvelope"]["signatures"][0]["keyid"] = rm.key_hint(keys["prod"][1].read_bytes())
    bundle_path.write_text(json.dumps(bundle))
    code, text = run(
        capsys, "verify", model, "--bundle", bundle_path, "--public-key", keys["prod"][1]
    )
    assert (code, text) == (1, "refused: signature: the signature does not verify with this key")


def test_changed_terms_break_the_signature(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    """Raising the sequence or the expiry in the payload without the key is caught."""
    bundle_path = signed(capsys, model, keys["staging"][0], tmp_path / "release.json")
    bundle = json.loads(bundle_path.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"][rm.TERMS_KEY]["sequence"] = 99
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    bundle_path.write_text(json.dumps(bundle))
    code, text = run(
        capsys, "verify", model, "--bundle", bundle_path, "--public-key", keys["staging"][1]
    )
    assert (code, text) == (1, "refused: signature: the signature does not verify with this key")


def test_promotion_signs_the_same_payload_and_each_device_trusts_only_its_key(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    staging = signed(capsys, model, keys["staging"][0], tmp_path / "staging.json")
    prod = tmp_path / "prod.json"
    code, text = run(
        capsys,
        "promote",
        model,
        "--bundle",
        staging,
        "--public-key",
        keys["staging"][1],
        "--key",
        f"file:{keys['prod'][0]}",
        "--out",
        prod,
    )
    assert code == 0, text
    before, after = json.loads(staging.read_text()), json.loads(prod.read_text())
    assert after["dsseEnvelope"]["payload"] == before["dsseEnvelope"]["payload"]
    hints = [s["keyid"] for s in after["dsseEnvelope"]["signatures"]]
    assert hints == [rm.key_hint(keys[e][1].read_bytes()) for e in ("prod", "staging")]
    assert after["verificationMaterial"]["publicKey"]["hint"] == hints[0]
    for env in ("staging", "prod"):
        assert run(capsys, "verify", model, "--bundle", prod, "--public-key", keys[env][1])[0] == 0
    # A prod device does not take a release staging alone signed.
    code, text = run(capsys, "verify", model, "--bundle", staging, "--public-key", keys["prod"][1])
    assert code == 1 and "not signed by this key" in text


@pytest.mark.parametrize("promote", [False, True])
def test_bundles_verify_with_openssf_model_signing(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
    promote: bool,
) -> None:
    bundle = signed(capsys, model, keys["staging"][0], tmp_path / "staging.json")
    public = keys["staging"][1]
    if promote:
        out = tmp_path / "prod.json"
        assert (
            run(
                capsys,
                "promote",
                model,
                "--bundle",
                bundle,
                "--public-key",
                keys["staging"][1],
                "--key",
                f"file:{keys['prod'][0]}",
                "--out",
                out,
            )[0]
            == 0
        )
        bundle, public = out, keys["prod"][1]
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
        model, bundle
    )
    (model / "weights.bin").write_bytes(b"poisoned")
    with pytest.raises(ValueError):
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
            model, bundle
        )


def test_a_bundle_without_release_terms_is_refused(
    model: Path, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """model_signing's own bundle verifies its signature with us, but carries no sequence or
    expiry, so an app cannot guard against rollback: refused."""
    out = tmp_path / "plain.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=keys["staging"][0]).sign(
        model, out
    )
    bundle = json.loads(out.read_text())
    with pytest.raises(
        rm.RefusedError, match=r"^format: the release carries no aideploy release terms$"
    ):
        rm.verify(model, bundle, keys["staging"][1].read_bytes())


@pytest.mark.parametrize(
    "argv",
    [
        ["sign", "{model}", "--version", "1", "--sequence", "1", "--out", "{tmp}/b.json"],  # no key
        [
            "sign",
            "{model}",
            "--version",
            "1",
            "--sequence",
            "x",
            "--key",
            "file:{key}",
            "--out",
            "{tmp}/b.json",
        ],
        ["frobnicate"],
    ],
    ids=["missing-key", "sequence-not-a-number", "unknown-command"],
)
def test_bad_usage_exits_2(
    argv: list[str], model: Path, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    values = {"model": model, "tmp": tmp_path, "key": keys["staging"][0]}
    with pytest.raises(SystemExit) as exited:
        release_cli.main([a.format(**values) for a in argv])
    assert exited.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "sign",
                "{model}",
                "--version",
                "1",
                "--sequence",
                "1",
                "--key",
                "vault:x",
                "--out",
                "{tmp}/b.json",
            ],
            "--key 'vault:x': expected one of file:..., awskms:..., azurekv:..., gcpkms:...",
        ),
        (
            [
                "sign",
                "{model}",
                "--version",
                "1",
                "--sequence",
                "1",
                "--key",
                "file:{pub}",
                "--out",
                "{tmp}/b.json",
            ],
            "cannot read an EC private key",
        ),
        (
            [
                "sign",
                "{tmp}/nowhere",
                "--version",
                "1",
                "--sequence",
                "1",
                "--key",
                "file:{key}",
                "--out",
                "{tmp}/b.json",
            ],
            "is not a directory",
        ),
        (
            [
                "sign",
                "{model}",
                "--version",
                "1",
                "--sequence",
                "1",
                "--key",
                "file:{key}",
                "--out",
                "{model}/b.json",
            ],
            "--out must be outside MODEL_DIR",
        ),
        (
            [
                "sign",
                "{model}",
                "--version",
                "1",
                "--sequence",
                "-1",
                "--key",
                "file:{key}",
                "--out",
                "{tmp}/b.json",
            ],
            "non-negative",
        ),
        (
            ["verify", "{model}", "--bundle", "{tmp}/missing.json", "--public-key", "{pub}"],
            "cannot read the bundle",
        ),
        (
            ["verify", "{model}", "--bundle", "{key}", "--public-key", "{pub}"],
            "cannot read the bundle",
        ),
        (
            ["verify", "{model}", "--bundle", "{tmp}/b.json", "--public-key", "{key}"],
            "--public-key",
        ),
    ],
    ids=[
        "unknown-scheme",
        "public-key-as-private",
        "no-model-dir",
        "bundle-inside-model",
        "negative-sequence",
        "no-bundle",
        "bundle-not-json",
        "private-key-as-public",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    signed(capsys, model, keys["staging"][0], tmp_path / "b.json")
    values = {"model": model, "tmp": tmp_path, "key": keys["staging"][0], "pub": keys["staging"][1]}
    before = sorted(p.name for p in model.rglob("*"))
    code, text = run(capsys, *[a.format(**values) for a in argv])
    assert code == 2, text
    assert text.startswith("error: ") and message in text and "\n" not in text
    assert sorted(p.name for p in model.rglob("*")) == before  # nothing written into the model


def test_an_existing_bundle_is_not_overwritten_without_force(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    out = signed(capsys, model, keys["staging"][0], tmp_path / "release.json")
    first = out.read_text()
    code, text = run(
        capsys,
        "sign",
        model,
        "--version",
        "2",
        "--sequence",
        "8",
        "--key",
        f"file:{keys['staging'][0]}",
        "--out",
        out,
    )
    assert code == 2 and "use --force" in text
    assert out.read_text() == first
    signed(capsys, model, keys["staging"][0], out, "--force")
    assert out.read_text() != first


def test_symbolic_links_are_refused(model: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    (model / "link.bin").symlink_to(model / "weights.bin")
    with pytest.raises(rm.RefusedError, match=r"link\.bin is a symbolic link"):
        rm.sign(
            model,
            rm.PemFileSigner(keys["staging"][0]),
            name="m",
            version="1",
            sequence=1,
            expires_in=timedelta(days=1),
        )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_mangled_bundle_is_refused_never_a_crash(
    data: st.DataObject, model: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    bundle = rm.sign(
        model,
        rm.PemFileSigner(keys["staging"][0]),
        name="m",
        version="1",
        sequence=3,
        expires_in=timedelta(days=1),
    )
    mangled: Any = json.loads(json.dumps(bundle))
    target = data.draw(
        st.sampled_from(
            ["mediaType", "payload", "payloadType", "signatures", "sig", "keyid", "root"]
        )
    )
    junk = data.draw(
        st.one_of(
            st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3)
        )
    )
    envelope = mangled["dsseEnvelope"]
    if target == "mediaType":
        mangled["mediaType"] = junk
    elif target in ("payload", "payloadType", "signatures"):
        envelope[target] = junk
    elif target in ("sig", "keyid"):
        envelope["signatures"][0][target] = junk
    else:
        mangled = junk
    public = keys["staging"][1].read_bytes()
    try:
        rm.verify(model, mangled if isinstance(mangled, dict) else {"x": mangled}, public)
    except rm.RefusedError as exc:
        assert "\n" not in str(exc)
    else:  # only a no-op mangle may still verify
        assert mangled == bundle or target == "keyid"


# ---------------------------------------------------------------- AWS KMS
def test_kms_key_signs_a_release_that_verifies_with_its_public_key(
    model: Path, tmp_path: Path
) -> None:
    with mock_aws():
        kms = boto3.client("kms", region_name="eu-west-1")
        key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"][
            "KeyId"
        ]
        signer = AwsKmsSigner(key_id, client=kms)
        bundle = rm.sign(
            model, signer, name="m", version="1", sequence=1, expires_in=timedelta(days=1)
        )
        public = signer.public_pem()
    release = rm.verify(model, bundle, public)
    assert release.terms.key_id == rm.key_hint(public)


def test_kms_signs_a_long_payload_as_its_digest(model: Path) -> None:
    """KMS signs at most 4 KB as given: a longer DSSE payload goes as its SHA-256, which KMS
    signs as the digest of the same bytes (recorded answer from a local key)."""
    local = ec.generate_private_key(ec.SECP256R1())
    public_der = local.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for i in range(200):  # enough files to pass 4 KB of payload
        (model / f"shard-{i:03d}.bin").write_bytes(i.to_bytes(2, "big"))
    kms = boto3.client(
        "kms", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    signer = AwsKmsSigner("alias/release-prod", client=kms)
    captured: dict[str, bytes] = {}

    class Recorder:
        def public_pem(self) -> bytes:
            return local.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )

        def sign(self, data: bytes) -> bytes:
            captured["data"] = data
            return local.sign(data, ec.ECDSA(hashes.SHA256()))

    # First pass with a local recorder: the exact bytes KMS will be asked to sign.
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    expected = rm.sign(
        model, Recorder(), name="m", version="1", sequence=1, expires_in=timedelta(days=30), now=now
    )
    assert len(captured["data"]) > RAW_LIMIT
    signature = base64.b64decode(expected["dsseEnvelope"]["signatures"][0]["sig"])
    with Stubber(kms) as stub:
        stub.add_response(
            "get_public_key",
            {"PublicKey": public_der, "KeySpec": "ECC_NIST_P256"},
            {"KeyId": "alias/release-prod"},
        )
        stub.add_response(
            "sign",
            {"Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"},
            {
                "KeyId": "alias/release-prod",
                "Message": hashlib.sha256(captured["data"]).digest(),
                "MessageType": "DIGEST",
                "SigningAlgorithm": "ECDSA_SHA_256",
            },
        )
        bundle = rm.sign(
            model, signer, name="m", version="1", sequence=1, expires_in=timedelta(days=30), now=now
        )
        stub.assert_no_pending_responses()
    rm.verify(model, bundle, signer.public_pem(), now=now)


def test_kms_key_of_another_spec_is_refused() -> None:
    with mock_aws():
        kms = boto3.client("kms", region_name="eu-west-1")
        key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
        with pytest.raises(ValueError, match="not EC P-256"):
            AwsKmsSigner(key_id, client=kms).public_pem()


def test_kms_refusal_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mock_aws():
        kms = boto3.client("kms", region_name="eu-west-1")
        monkeypatch.setitem(
            release_cli.SIGNERS, "awskms", lambda spec: AwsKmsSigner(spec, client=kms)
        )
        out = tmp_path / "b.json"
        code, text = run(
            capsys, "sign", model, "--version", "1", "--sequence", "1",
            "--key", "awskms:alias/missing", "--out", out,
        )  # fmt: skip
    assert code == 1
    assert text.startswith("failed: KMS GetPublicKey on alias/missing: NotFoundException")
    assert "\n" not in text and not out.exists()


# ---------------------------------------------------------------- review findings (hardening)
def _resign(bundle_path: Path, key: Path, edit: Any) -> dict[str, Any]:
    """The bundle's statement edited by ``edit`` and signed again by ``key`` (what an attacker
    holding a key, or a buggy signer, could produce)."""
    bundle = json.loads(bundle_path.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    edit(statement)
    payload = json.dumps(statement).encode()
    signer = rm.PemFileSigner(key)
    sig = signer.sign(rm.pae(rm.PAYLOAD_TYPE, payload))
    hint = rm.key_hint(signer.public_pem())
    bundle["dsseEnvelope"] = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": rm.PAYLOAD_TYPE,
        "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": hint}],
    }
    return bundle


def test_promote_refuses_what_the_previous_key_did_not_sign(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    """An edited staging artifact (sequence raised, signatures dropped) is not counter-signed."""
    staging = signed(capsys, model, keys["staging"][0], tmp_path / "staging.json")
    bundle = json.loads(staging.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"][rm.TERMS_KEY]["sequence"] = 999999
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    bundle["dsseEnvelope"]["signatures"] = []
    staging.write_text(json.dumps(bundle))
    out = tmp_path / "prod.json"
    code, text = run(
        capsys, "promote", model, "--bundle", staging, "--public-key", keys["staging"][1],
        "--key", f"file:{keys['prod'][0]}", "--out", out,
    )  # fmt: skip
    assert code == 1 and text.startswith("refused: signature:")
    assert not out.exists()


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (
            lambda s: s["predicate"]["resources"].__setitem__(
                0, {**s["predicate"]["resources"][0], "name": "../../etc/passwd"}
            ),
            "is not a file name inside the model",
        ),
        (
            lambda s: s["predicate"]["resources"].__setitem__(
                0, {**s["predicate"]["resources"][0], "name": "/proc/self/environ"}
            ),
            "is not a file name inside the model",
        ),
        (
            lambda s: s["predicate"]["resources"].__setitem__(
                0, {**s["predicate"]["resources"][0], "digest": "zz"}
            ),
            "is not a SHA-256 in hex",
        ),
        (
            lambda s: s["predicate"].__setitem__("serialization", []),
            "the signed statement is malformed",
        ),
    ],
    ids=["dotdot", "absolute", "not-hex", "serialization-list"],
)
def test_a_signed_but_malformed_statement_is_refused_not_a_crash(
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Any,
    why: str,
) -> None:
    bundle_path = signed(capsys, model, keys["staging"][0], tmp_path / "release.json")
    bad = _resign(bundle_path, keys["staging"][0], edit)
    with pytest.raises(rm.RefusedError) as refused:
        rm.verify(model, bad, keys["staging"][1].read_bytes())
    assert why in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("app", "minimum", "ok"),
    [
        ("3.2", "3.2.0", True),
        ("1.0-rc1", "1.0.5", False),
        ("1.0-rc1", "1.0", False),
        ("1.0", "1.0-rc1", True),
        ("10.0", "9.9.9", True),
    ],
)
def test_app_versions_compare_as_versions(
    model: Path, keys: dict[str, tuple[Path, Path]], app: str, minimum: str, ok: bool
) -> None:
    bundle = rm.sign(model, rm.PemFileSigner(keys["staging"][0]), name="m", version="1", sequence=1,
                     expires_in=timedelta(days=1), min_app_version=minimum)  # fmt: skip
    public = keys["staging"][1].read_bytes()
    if ok:
        rm.verify(model, bundle, public, app_version=app)
    else:
        with pytest.raises(rm.RefusedError, match=r"^app: "):
            rm.verify(model, bundle, public, app_version=app)


def test_a_time_without_zone_is_refused(model: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    bundle = rm.sign(
        model,
        rm.PemFileSigner(keys["staging"][0]),
        name="m",
        version="1",
        sequence=1,
        expires_in=timedelta(days=1),
    )
    with pytest.raises(ValueError, match="time zone"):
        rm.verify(model, bundle, keys["staging"][1].read_bytes(), now=datetime.now())


def test_an_absurd_expiry_is_bad_usage(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    code, text = run(
        capsys, "sign", model, "--version", "1", "--sequence", "1",
        "--key", f"file:{keys['staging'][0]}", "--out", tmp_path / "b.json",
        "--expires-days", "3000000",
    )  # fmt: skip
    assert (code, text) == (2, "error: --expires-days: from 1 to 3650")


def test_publish_refuses_a_release_that_does_not_verify(
    model: Path,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from components.release_channels import S3Channel

    class NoS3:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"publish touched the store ({name}) before verifying")

    bundle_path = signed(capsys, model, keys["staging"][0], tmp_path / "release.json")
    bad = _resign(bundle_path, keys["other"][0], lambda s: None)  # signed by another key
    with pytest.raises(rm.RefusedError, match=r"^signature: "):
        S3Channel("bucket", client=NoS3()).publish(model, bad, keys["staging"][1].read_bytes())

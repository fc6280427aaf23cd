"""A local AWS for the release-path tests: moto's server (CloudWatch alarms, SNS, SSM, IAM for
real 403s), the rollback function loaded from the files its Lambda archive ships, and an Api
that records every call it passes on."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REGION = "eu-west-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class MotoAws:
    """A running moto server and boto3 clients on it."""

    url: str

    def client(self, service: str, **credentials: str) -> Any:
        """A boto3 client of ``service`` on the server (admin credentials by default)."""
        import boto3

        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION, **(credentials or CREDENTIALS)
        )

    def boto_args(self, **credentials: str) -> dict[str, Any]:
        """Keyword arguments for rollback_fn.handler.BotoApi on this server."""
        return {"endpoint_url": self.url, "region_name": REGION, **(credentials or CREDENTIALS)}

    def user_denied(self, allowed: list[str]) -> dict[str, str]:
        """Credentials of a new IAM user allowed only ``allowed`` actions (all else: 403)."""
        iam = self.client("iam")
        name = f"user{len(iam.list_users()['Users'])}"
        iam.create_user(UserName=name)
        iam.put_user_policy(
            UserName=name,
            PolicyName="only",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }


@contextmanager
def moto_server() -> Iterator[MotoAws]:
    """moto's threaded server on a free loopback port, for one test module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield MotoAws(f"http://{host}:{port}")
    finally:
        server.stop()


@contextmanager
def iam_enforced() -> Iterator[None]:
    """moto checks every call against IAM (its INITIAL_NO_AUTH_ACTION_COUNT) inside the block."""
    from moto import settings

    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    try:
        yield
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = before


def load_rollback_package(files: Mapping[str, Path], where: Path) -> ModuleType:
    """The rollback function's handler, imported from a copy of exactly its archive's files
    (so it imports ``rollout_decision`` and ``release_watch`` as Lambda will)."""
    where.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        shutil.copy(source, where / name)
    for name in ("rollout_decision", "release_watch", "handler"):
        sys.modules.pop(name, None)
    sys.path.insert(0, str(where))
    try:
        spec = importlib.util.spec_from_file_location("handler", where / "handler.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["handler"] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(where))


@dataclass
class Recorder:
    """An Api that passes calls to ``inner`` (or answers from ``answers``) and records them."""

    inner: Any = None
    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def call(self, service: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Record, then answer (an exception in ``answers`` is raised)."""
        self.calls.append((service, operation, dict(params)))
        answer = self.answers.get((service, operation))
        if isinstance(answer, Exception):
            raise answer
        if answer is not None:
            return dict(answer)
        result: dict[str, Any] = self.inner.call(service, operation, params)
        return result

    def operations(self) -> list[tuple[str, str]]:
        """(service, operation) of every call, in order."""
        return [(s, o) for s, o, _ in self.calls]

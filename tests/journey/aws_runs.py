"""Running the AWS bootstrap under mocks the way `bootstrap/__main__.py` does, for the tests."""

from __future__ import annotations

import json

import pulumi

from components.aws.bootstrap import AwsBootstrap
from components.bootstrap import BootstrapSpec, IdentityRole
from offline.capture import Capture, CapturedResource, capture
from tests.conftest import of_type


def run_bootstrap(spec: BootstrapSpec) -> Capture:
    """The bootstrap program for ``spec`` under mocks, pinned to its account like its stack."""

    def program() -> None:
        for key, value in AwsBootstrap(spec.project, spec).outputs().items():
            pulumi.export(key, value)

    return capture(
        program,
        project=f"{spec.project}-bootstrap",
        stack=spec.stack,
        region=spec.region,
        config={"aws:allowedAccountIds": json.dumps([spec.account])},
    )


def role(
    resources: list[CapturedResource], spec: BootstrapSpec, identity: IdentityRole
) -> CapturedResource:
    """The captured IAM role of one CI identity, found by the name the spec gives it."""
    [found] = [
        r
        for r in of_type(resources, "aws:iam/role:Role")
        if r.inputs["name"] == spec.identity_name(identity)
    ]
    return found

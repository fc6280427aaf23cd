"""k8s-image-by-digest: images pinned by a sha256 digest pass; tags, malformed digests and
images left unset fail; a reference unknown at preview is left to the update run."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.rules.kubernetes import images
from tests.policies.test_kubernetes_common import (
    DEPLOYMENT,
    IMAGE,
    INFERENCE_SERVICE,
    POD_AT,
    REMOVE,
    at,
    captured,
    changed,
    findings,
    judge,
)

RULE = images.image_by_digest
HEX = "3f" * 32


@pytest.mark.parametrize("kind", sorted(POD_AT))
def test_images_pinned_by_digest_pass(kind: str) -> None:
    assert "@sha256:" in IMAGE
    assert judge(RULE, [captured(kind)]) == set()


@pytest.mark.parametrize(
    "image",
    [f"registry.acme.internal/models/scorer@sha256:{HEX}", f"scorer:1.4.2@sha256:{HEX}"],
)
def test_a_digest_with_or_without_a_tag_passes(image: str) -> None:
    deployment = changed(captured(DEPLOYMENT), **{at(DEPLOYMENT, "containers.0.image"): image})
    assert judge(RULE, [deployment]) == set()


@pytest.mark.parametrize(
    "image",
    [
        "registry.acme.internal/models/scorer:1.4.2",
        "registry.acme.internal/models/scorer:latest",
        "scorer",
        f"scorer@sha256:{HEX[:-1]}",  # 63 hex digits
        f"scorer@sha256:{HEX.upper()}",  # digests are lower-case hex
        f"scorer@sha512:{HEX}{HEX}",
        f"scorer:sha256-{HEX}",  # a tag that only looks like a digest
        f"scorer@sha256:{HEX} ",
    ],
)
def test_an_image_not_pinned_by_digest_fails(image: str) -> None:
    deployment = changed(captured(DEPLOYMENT), **{at(DEPLOYMENT, "containers.0.image"): image})
    assert findings(RULE, [deployment]) == [
        (
            "scorer",
            f'container "server" runs image "{image}", not pinned by digest: a tag can be '
            "moved to other content after review.",
        )
    ]


def test_init_and_unset_images_fail_too() -> None:
    deployment = changed(
        captured(DEPLOYMENT),
        **{
            at(DEPLOYMENT, "initContainers.0.image"): "busybox:1.36",
            at(DEPLOYMENT, "containers.0.image"): REMOVE,
        },
    )
    messages = [m for _, m in findings(RULE, [deployment])]
    assert len(messages) == 2
    assert any(
        m.startswith('init container "fetch-model" runs image "busybox:1.36"') for m in messages
    )
    assert 'container "server" names no image; set one pinned by digest.' in messages


def test_an_image_unknown_at_preview_is_left_to_the_update_run() -> None:
    path = at(DEPLOYMENT, "containers.0.image")
    deployment = changed(captured(DEPLOYMENT), **{path: UNKNOWN_STRING_VALUE})
    assert judge(RULE, [deployment]) == set()


def test_an_inference_service_predictor_on_a_tag_fails() -> None:
    path = at(INFERENCE_SERVICE, "containers.0.image")
    isvc = changed(captured(INFERENCE_SERVICE), **{path: "kserve/sklearnserver:v0.15.0"})
    assert findings(RULE, [isvc]) == [
        (
            "scorer",
            'container "server" runs image "kserve/sklearnserver:v0.15.0", not pinned by '
            "digest: a tag can be moved to other content after review.",
        )
    ]

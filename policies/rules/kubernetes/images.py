"""Every container image is pinned by digest, so what runs is what was built and scanned."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from policies.rules.base import resource_rule
from policies.rules.kubernetes._common import WORKLOADS, containers, pod_check, read, show
from policies.rules.references import checkov

# A reference ending in a sha256 digest (``registry/repo[:tag]@sha256:<64 hex>``). The whole
# string is matched: a tag that merely contains "@sha256:" somewhere does not pin anything.
DIGEST_REFERENCE = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")


def _unpinned(pod: Mapping[str, Any]) -> Iterator[str]:
    for container in containers(pod):
        image = read(container.spec, "image")
        if image is None:
            yield f"{container.label} names no image; set one pinned by digest."
        elif isinstance(image, str) and not DIGEST_REFERENCE.fullmatch(image):
            yield (
                f"{container.label} runs image {show(image)}, not pinned by digest: a tag "
                "can be moved to other content after review."
            )
        # Anything else is a reference computed at deployment (a build's digest): the update
        # run, which knows it, judges it.


image_by_digest = resource_rule(
    "k8s-image-by-digest",
    "Every container image is referenced by its sha256 digest, not by a tag alone.",
    types=WORKLOADS,
    check=pod_check(_unpinned),
    severity=Severity.MEDIUM,
    tags=["supply-chain"],
    references=[checkov("CKV_K8S_43")],
    remediation=(
        "Reference images as `registry/repo@sha256:<digest>` (a tag may stay in front of the "
        "digest for readers), with the digest taken from the image build's output or the "
        "release manifest, never resolved from a mutable tag at deploy time."
    ),
    since=3,
)

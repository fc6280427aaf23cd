"""Resource naming within each cloud's limits.

Every cloud resource name derives from the project, the environment and a role. Clouds cap
lengths and alphabets differently (an Azure storage account is 3-24 lowercase alphanumerics, a
GCP service account id 6-30 characters), so the limits are a lookup table and one function
applies them, adding a short stable hash when it has to cut, so two long names never collide.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NameRule:
    """What one kind of cloud resource accepts as a name."""

    max_len: int
    min_len: int = 1
    alphabet: str = "a-z0-9-"  # a regex character class body
    separator: str = "-"
    must_start_with_letter: bool = False


# Keyed by "<cloud>:<kind>": kinds are the ones whose real names we set (others get Pulumi's
# auto-naming, which already respects the provider's limits).
NAME_RULES: dict[str, NameRule] = {
    "aws:default": NameRule(max_len=63),
    "aws:s3-bucket": NameRule(max_len=63, min_len=3, must_start_with_letter=True),
    "aws:iam-role": NameRule(max_len=64, alphabet="a-z0-9+=,.@_-"),
    "aws:alb": NameRule(max_len=32),
    "aws:target-group": NameRule(max_len=32),
    "aws:log-group": NameRule(max_len=512, alphabet="a-z0-9._/#-", separator="/"),
    "aws:sqs-queue": NameRule(max_len=80, alphabet="a-z0-9_-"),
    "aws:sagemaker": NameRule(max_len=63, must_start_with_letter=True),
    "azure:default": NameRule(max_len=63),
    "azure:resource-group": NameRule(max_len=90, alphabet="a-z0-9._()-"),
    "azure:storage-account": NameRule(max_len=24, min_len=3, alphabet="a-z0-9", separator=""),
    "azure:key-vault": NameRule(max_len=24, min_len=3, must_start_with_letter=True),
    "azure:container-registry": NameRule(max_len=50, min_len=5, alphabet="a-z0-9", separator=""),
    "azure:container-app": NameRule(max_len=32, min_len=2, must_start_with_letter=True),
    "azure:apim": NameRule(max_len=50, must_start_with_letter=True),
    "azure:ml-workspace": NameRule(max_len=33, min_len=3, must_start_with_letter=True),
    "azure:ml-endpoint": NameRule(max_len=32, min_len=3, must_start_with_letter=True),
    "azure:cosmos-account": NameRule(max_len=44, min_len=3),
    "azure:servicebus-namespace": NameRule(max_len=50, min_len=6, must_start_with_letter=True),
    "azure:waf-policy": NameRule(
        max_len=128, alphabet="a-z0-9", separator="", must_start_with_letter=True
    ),
    "gcp:default": NameRule(max_len=63, must_start_with_letter=True),
    "gcp:service-account": NameRule(max_len=30, min_len=6, must_start_with_letter=True),
    "gcp:bucket": NameRule(max_len=63, min_len=3),
    "gcp:cloud-run": NameRule(max_len=49, must_start_with_letter=True),
    "gcp:kms-key-ring": NameRule(max_len=63, alphabet="a-z0-9_-"),
    # kubernetes: DNS-1123 labels; the state bucket follows the S3 bucket rules the client's
    # S3-compatible store applies.
    "kubernetes:default": NameRule(max_len=63, must_start_with_letter=True),
    "kubernetes:bucket": NameRule(max_len=63, min_len=3, must_start_with_letter=True),
}


def _hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def resource_name(cloud: str, kind: str, *parts: str) -> str:
    """Join ``parts`` into a name valid for ``kind`` on ``cloud``.

    Characters outside the kind's alphabet are dropped; a name longer than the limit keeps its
    start and gains a 6-character hash of the full name, so it stays unique and stable.
    """
    rule = NAME_RULES.get(f"{cloud}:{kind}") or NAME_RULES[f"{cloud}:default"]
    full = rule.separator.join(p.lower() for p in parts if p)
    cleaned = re.sub(f"[^{rule.alphabet}]", "", full)
    if rule.separator:
        sep = re.escape(rule.separator)
        cleaned = re.sub(f"{sep}{{2,}}", rule.separator, cleaned).strip(rule.separator)
    if rule.must_start_with_letter and not cleaned[:1].isalpha():
        cleaned = "x" + cleaned
    if len(cleaned) > rule.max_len:
        digest = _hash(full)
        keep = rule.max_len - len(digest) - len(rule.separator)
        cleaned = cleaned[:keep].rstrip(rule.separator) + rule.separator + digest
    if len(cleaned) < rule.min_len:
        cleaned = (cleaned + _hash(full))[: max(rule.min_len, len(cleaned))]
    return cleaned

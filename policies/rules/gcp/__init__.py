"""The gcp rules, listed explicitly (no registration by import side effect)."""

from __future__ import annotations

from pulumi_policy import Policy

POLICIES: list[Policy] = []

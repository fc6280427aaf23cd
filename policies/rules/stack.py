"""Stack rules (S1, S2): monitoring present and routed, rollback wired."""

from __future__ import annotations

from pulumi_policy import Policy

POLICIES: list[Policy] = []

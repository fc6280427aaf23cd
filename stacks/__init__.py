"""The environments: dev, staging and prod profiles (data) and the rules of parity."""

from stacks.profiles import (
    ParityRules,
    deep_merge,
    flatten,
    load_parity_rules,
    load_profile,
    parity_violations,
)

__all__ = [
    "ParityRules",
    "deep_merge",
    "flatten",
    "load_parity_rules",
    "load_profile",
    "parity_violations",
]

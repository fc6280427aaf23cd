"""The aideploy guardrails as a CrossGuard policy pack.

The Pulumi CLI starts this file as ``python -u -m pulumi.policy <engine> <pack folder>``; so does
the offline runner. Constructing the PolicyPack starts its gRPC server and never returns, so this
module only builds the pack: the rules live in importable modules under ``policies/rules``.
"""

import sys
from pathlib import Path

# The CLI runs the pack from inside this folder, but the rules import as ``policies.rules.*``:
# make the folder that holds ``policies/`` importable (the repository or the generated project).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_DESCRIPTION, PACK_NAME, pack_policies

PolicyPack(
    name=PACK_NAME,
    policies=pack_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    description=PACK_DESCRIPTION,
)

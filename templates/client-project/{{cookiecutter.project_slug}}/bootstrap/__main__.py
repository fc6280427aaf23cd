"""The bootstrap program: what this project's stacks need before their first `pulumi up`.

One stack of this program per cloud account (stacks/Pulumi.<stack>.yaml names the account and
the environments it holds). It creates the state backend, a secrets-provider key per
environment, the CI's OIDC federation with its deployer and preview identities, the model
registry, and what the account must have enabled; see README.md here. Like the main program it
only wires things together: what gets created lives in components/<cloud>/bootstrap.py.
"""

import sys
from pathlib import Path

import pulumi

# The project's vendored components (and its stack files) live one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.bootstrap import BootstrapSpec  # noqa: E402
from components.registry import bootstrap_component_for, bootstrap_inputs  # noqa: E402
from stacks.parity_check import stack_sections  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parents[1]

spec = BootstrapSpec.model_validate(pulumi.Config().require_object("bootstrap"))
Bootstrap = bootstrap_component_for(spec.cloud)
# What a cloud's bootstrap needs from the stacks themselves (on kubernetes each environment's
# namespace is sized from its stack file's capacity); read only by clouds that need it.
inputs = bootstrap_inputs(spec.cloud, spec, lambda env: stack_sections(PROJECT_DIR, env.value))
bootstrap = Bootstrap(spec.project, spec, **inputs)

for output_name, value in bootstrap.outputs().items():
    pulumi.export(output_name, value)

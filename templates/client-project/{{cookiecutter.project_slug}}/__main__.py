"""The Pulumi program: stack config -> DeploymentSpec -> component -> exports.

It only wires things together. What gets deployed lives in components/ (vendored from aideploy),
what is allowed lives in policies/, and each environment's settings live in stacks/.
"""

import pulumi

from components.config import spec_from_stack_config
from components.registry import component_for

spec = spec_from_stack_config(pulumi.Config(), pulumi.get_project())
Component = component_for(spec.cloud, spec.pattern)
deployment = Component(spec.project, spec)

for output_name, value in deployment.outputs().items():
    pulumi.export(output_name, value)

"""What every pattern component shares, whatever the cloud."""

from __future__ import annotations

from typing import Any

import pulumi

from components.spec import DeploymentSpec

# A component's declared waivers: rule -> ((resource suffix after the component's name, reason),).
DeclaredWaivers = dict[str, tuple[tuple[str, str], ...]]

# Why a device API (the embedded pattern, every cloud) carries no alarm-driven rollback (S2).
DEVICE_API_NO_ROLLBACK = (
    "The device API serves downloads and takes telemetry, not inference: there is no traffic "
    "split to roll back. A bad release is withdrawn by re-publishing the previous model under a "
    "newer sequence (docs/runbooks), and devices refuse any bundle that fails verification."
)


def waiver_entries(
    name: str, declared: DeclaredWaivers
) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config entries (``{rule: {"waivers": [{resource, reason}]}}``) waiving ``declared``
    for the component called ``name``."""
    return {
        rule: {
            "waivers": [
                {"resource": f"{name}-{suffix}", "reason": reason} for suffix, reason in entries
            ]
        }
        for rule, entries in declared.items()
    }


def type_token(spec: DeploymentSpec) -> str:
    """``aideploy:<cloud>:<Pattern>``, e.g. ``aideploy:aws:ApiFirst``."""
    pattern = "".join(part.capitalize() for part in spec.pattern.value.split("-"))
    return f"aideploy:{spec.cloud.value}:{pattern}"


class PatternComponent(pulumi.ComponentResource):
    """Base of the twelve pattern components.

    Subclasses create their children in ``__init__`` (delegating to private ``_create_*``
    methods), set one attribute per name in ``spec.outputs`` and end with ``self._finish()``,
    which registers exactly the pattern's declared outputs, identical on every cloud.
    """

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token(spec), name, None, opts)
        self.spec = spec
        self.name = name

    def child_opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a child: parented to this component, plus anything given."""
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def outputs(self) -> dict[str, pulumi.Output[Any]]:
        """The pattern's declared outputs, by name."""
        return {key: pulumi.Output.from_input(getattr(self, key)) for key in self.spec.outputs}

    def _finish(self) -> None:
        missing = [key for key in self.spec.outputs if not hasattr(self, key)]
        if missing:
            raise TypeError(f"{type(self).__name__} does not set outputs {missing}")
        self.register_outputs(self.outputs())

"""Components for azure: one module per pattern plus shared security, monitoring and rollout."""

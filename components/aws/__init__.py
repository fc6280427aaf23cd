"""Components for aws: one module per pattern plus shared security, monitoring and rollout."""

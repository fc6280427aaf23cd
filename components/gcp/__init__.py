"""Components for gcp: one module per pattern plus shared security, monitoring and rollout."""

"""Source of the device API's telemetry Cloud Function (this folder is the function's root)."""

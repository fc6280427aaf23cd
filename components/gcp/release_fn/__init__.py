"""Source of the device API's download Cloud Function (this folder is the function's root)."""

"""Source of the rollback Cloud Function (deployed as is: this folder is the function's root)."""

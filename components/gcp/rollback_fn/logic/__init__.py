"""The rollback function's logic: pure decisions (decision.py) and the GCP calls (gcp_api.py)."""

"""The rollback function's logic: the handler (handler.py) and its credential (gcp_api.py)."""

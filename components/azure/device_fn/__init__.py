"""The embedded pattern's device API service on Azure (standard library only).

Deployed as Container Apps secrets mounted into a stock Python image, like the rollback
service (components/azure/rollout.py): ``python -m device_fn.server``.
"""

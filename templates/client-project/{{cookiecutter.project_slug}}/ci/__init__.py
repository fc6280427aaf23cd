"""Pipeline helpers: rollout plan, watch period, rollback (used by the CI workflows)."""

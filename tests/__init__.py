"""The test suite (a package, so tests.policies never shadows the real policies package)."""

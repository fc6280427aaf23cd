"""Run a Pulumi Python program offline, under Pulumi's own mocks, and capture what it registers.

The one engine every offline reader of a stack shares: the policy check (policies/), parity, cost,
promotion and suffix tools (stacks/), the generator's cost estimate and the tests. It imports
neither the components nor the policies, so each of those may use it without going back up.
"""

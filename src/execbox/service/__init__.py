"""The HTTP service: API, editor page, accounts, plans, quotas and the run log."""

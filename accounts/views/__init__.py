"""API views of accounts: ``auth`` (API.md §4, §6) and ``staff`` (§12, §19 profile)."""

"""API views of accounts: ``auth`` and ``staff`` (users and the staff member's own profile)."""

from django.dispatch import Signal

user_registered = Signal()
"""Sent after a self-service registration commits.

Arguments: ``user`` (the new ACTIVE User). Sender: ``accounts.services``. Not sent for users that
staff create or that ``seed_demo`` makes.
"""

password_changed = Signal()
"""Sent after a password change or reset commits.

Arguments: ``user``, ``via`` (``"change"`` or ``"reset"``). Sender: ``accounts.services``.
"""

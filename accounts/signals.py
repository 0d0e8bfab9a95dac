from plugins.signals import PluginSignal

user_registered = PluginSignal()
"""Sent after a self-service registration commits.

Arguments: ``user`` (the new ACTIVE User). Sender: ``accounts.services``. Not sent for users that
staff create or that ``seed_demo`` makes.
"""

password_changed = PluginSignal()
"""Sent after a password change or reset commits.

Arguments: ``user``, ``via`` (``"change"`` or ``"reset"``). Sender: ``accounts.services``.
"""

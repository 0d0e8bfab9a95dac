from plugins.signals import PluginSignal

tokens_credited = PluginSignal()
"""Sent after a credit commits. Arguments: ``user``, ``transaction`` (the TokenTransaction),
``balance`` (int, after it). Sender: TokenTransaction. Not sent for an idempotent replay."""

tokens_debited = PluginSignal()
"""Sent after a debit commits (usage, claw-back, negative adjustment). Arguments as
``tokens_credited``. Not sent for a replay or a refused debit."""

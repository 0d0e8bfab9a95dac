"""Domain events of checkout. Sent after the transaction that made the change has committed
(``transaction.on_commit``), with ``send_robust`` so a failing receiver never undoes a committed
checkout. Receivers of a disabled plugin are skipped (PluginSignal)."""

from plugins.signals import PluginSignal

checkout_requested = PluginSignal()
"""Sent by ``checkout_create`` after a checkout committed. Args: ``invoice``, ``user``,
``subscription`` (or None), ``zero_total`` (bool: already captured). Not sent when checkout
validation failed (nothing was created)."""

"""Domain events of invoices and payments. Every one is sent after the
transaction that made the change has committed (``transaction.on_commit``), with
``send_robust`` so a failing receiver never undoes a committed change. Receivers of a disabled
plugin are skipped (PluginSignal)."""

from django.dispatch import Signal

from plugins.signals import PluginSignal

invoice_issued = PluginSignal()
"""Sent after an invoice is issued (numbered and stored). Args: ``invoice``. Not sent for a
rolled-back issue (its number is not used either)."""

invoice_overdue = PluginSignal()
"""Sent once when the overdue job moves a PENDING invoice past its due date to OVERDUE.
Args: ``invoice``."""

payment_captured = PluginSignal()
"""Sent once per invoice when a capture marks it PAID (staff mark-paid, a zero total or a
verified provider event). Args: ``invoice``, ``payment``. Not sent for an idempotent repeat of
the same capture, nor for a mismatched capture (which only flags the invoice)."""

payment_failed = PluginSignal()
"""Sent when a payment attempt failed (declined, expired session, failed renewal charge).
Args: ``invoice``, ``payment``, ``reason``. The invoice stays payable."""

payment_refunded = PluginSignal()
"""Sent after each refund (full or partial). Args: ``invoice``, ``credit_note``, ``payment``
(or None), ``full_refund`` (bool)."""

refund_reversed = PluginSignal()
"""Sent when a provider reversed a refund and the invoice is PAID again. Args: ``invoice``,
``credit_note``."""

payment_method_saved = Signal()
"""Sent **inside** the capture transaction when the captured payment left a payment method at the
provider for later off-session charges (a customer who let the gateway keep their card). Args:
``invoice``, ``gateway`` (plugin name), ``payment_method_id`` and ``customer_id`` (the
provider's ids). The subscriptions app stores them on the invoice's subscriptions, so renewals
are charged without the customer; a receiver that raises undoes the capture. Sent again for a
repeated delivery of the same capture (receivers are idempotent)."""

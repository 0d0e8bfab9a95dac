"""Subscription lifecycle events, each sent after the changing transaction commits,
with ``send_robust``. Receivers of a disabled plugin are skipped."""

from plugins.signals import PluginSignal

subscription_activated = PluginSignal()
"""A subscription became ACTIVE through the payment of its first invoice (PENDING or TRIALING →
ACTIVE), a zero-total checkout or a staff grant. Args: ``subscription``, ``invoice`` (or None)."""

subscription_renewed = PluginSignal()
"""A renewal invoice was paid and the period extended from the old end. Args: ``subscription``,
``invoice``."""

subscription_cancelled = PluginSignal()
"""A subscription was cancelled (by the customer, staff, a full refund, anonymisation or an
exclusive-category displacement). Args: ``subscription``, ``immediate`` (bool), ``reason``."""

subscription_expired = PluginSignal()
"""A subscription EXPIRED after its grace period. Args: ``subscription``."""

subscription_plan_changed = PluginSignal()
"""A plan change took effect (upgrade paid, or a downgrade applied by a paid renewal).
Args: ``subscription``, ``old_plan``, ``new_plan``, ``invoice``."""

subscription_payment_reminder = PluginSignal()
"""Dunning: a payment of this subscription is due and unpaid (PAST_DUE, or its renewal invoice is
past its due date). Sent by the ``dunning_send`` job at most once per subscription and calendar
day (UTC). Args: ``subscription``, ``invoice`` (the open invoice to pay), ``grace_until``
(datetime when access ends unless paid; None while the subscription is not yet PAST_DUE). Not
sent for cancelled, paused or expired subscriptions."""

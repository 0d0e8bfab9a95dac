"""Subscription use cases; each runs in one transaction with the subscription row locked, writes
an audit row and sends its signal after commit."""

from billing.subscriptions.services.creation import addon_subscription_create, subscription_create

__all__ = ["addon_subscription_create", "subscription_create"]

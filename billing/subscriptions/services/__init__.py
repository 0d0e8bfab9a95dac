"""Subscription use cases; each runs in one transaction with the subscription row locked, writes
an audit row and sends its signal after commit."""

from billing.subscriptions.services.creation import addon_subscription_create, subscription_create
from billing.subscriptions.services.plan_change import (
    Proration,
    ProrationLine,
    UpgradeResult,
    proration_preview,
    subscription_cancel_downgrade,
    subscription_downgrade,
    subscription_upgrade,
)

__all__ = [
    "Proration",
    "ProrationLine",
    "UpgradeResult",
    "addon_subscription_create",
    "proration_preview",
    "subscription_cancel_downgrade",
    "subscription_create",
    "subscription_downgrade",
    "subscription_upgrade",
]

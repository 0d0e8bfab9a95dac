"""The SUBSCRIPTION and ADD_ON line types (billing.invoices.lines): adapters from an invoice's
events to the subscription services that say what paying (``services.activation``), voiding,
refunding and reversing a refund (``services.reversal``) do."""

from __future__ import annotations

from billing.invoices import lines as registry
from billing.invoices.models import LineType
from billing.subscriptions.services import activation, reversal


class SubscriptionLine(registry.LineHandler):
    type = LineType.SUBSCRIPTION

    def activate(self, line, context) -> None:
        activation.subscription_activate_paid(line=line, context=context)

    def cancel(self, line, context) -> None:
        reversal.subscription_cancel_unpaid(line=line, context=context)

    def reverse(self, line, context) -> dict:
        return reversal.subscription_end_refunded(line=line, context=context)

    def restore(self, line, context, data) -> None:
        reversal.subscription_restore_refunded(line=line, context=context, data=data)


class AddOnLine(registry.LineHandler):
    type = LineType.ADD_ON

    def activate(self, line, context) -> None:
        activation.addon_subscription_activate_paid(line=line, context=context)

    def cancel(self, line, context) -> None:
        reversal.addon_subscription_cancel_unpaid(line=line, context=context)

    def reverse(self, line, context) -> dict:
        return reversal.addon_subscription_end_refunded(line=line, context=context)

    def restore(self, line, context, data) -> None:
        reversal.addon_subscription_restore_refunded(line=line, context=context, data=data)


def register() -> None:
    registry.register(SubscriptionLine())
    registry.register(AddOnLine())

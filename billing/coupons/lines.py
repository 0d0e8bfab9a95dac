"""The DISCOUNT line type (billing.invoices.lines): paying the invoice applies the coupon's
redemption, voiding it releases the redemption. A full refund leaves the redemption applied (the
coupon was used); the credit note reverses the DISCOUNT lines with the others."""

from __future__ import annotations

from billing.coupons import services
from billing.coupons.models import DISCOUNT_LINE
from billing.invoices import lines as registry

_DONE = "coupon_redemption_done"


class DiscountLine(registry.LineHandler):
    type = DISCOUNT_LINE

    def activate_lines(self, lines, context) -> None:
        # An invoice has one redemption for all its DISCOUNT lines.
        if context.results.get(_DONE):
            return
        context.results[_DONE] = True
        services.redemption_apply(
            invoice=context.invoice,
            now=context.now,
            actor=context.actor,
            actor_type=context.actor_type,
            actor_label=context.actor_label,
        )

    def cancel(self, line, context) -> None:
        if context.results.get(_DONE):
            return
        context.results[_DONE] = True
        services.redemption_release(
            invoice=context.invoice,
            now=context.now,
            actor=context.actor,
            actor_type=context.actor_type,
            actor_label=context.actor_label,
            reason=context.reason,
        )


def register() -> None:
    registry.register(DiscountLine())

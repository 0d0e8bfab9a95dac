"""The DISCOUNT lines of a coupon over an invoice's item lines (pure computation, no queries).

One DISCOUNT line follows each discounted item line: negative, net, at the item line's tax rate,
so tax is computed per line on the discounted base and the invoice totals stay sums of lines.

- PERCENT: the item line's net × percent ÷ 100, rounded per line.
- AMOUNT: split over the covered lines in proportion to their net, each share rounded and the
  rounding remainder put on the largest line; never more than the covered net (the rest of the
  amount is forfeited).

Fee and proration lines are never discounted; nor are tokens or entitlements reduced.
"""

from __future__ import annotations

from decimal import Decimal

from billing.coupons.models import DISCOUNT_LINE, Coupon, CouponKind
from billing.invoices.models import InvoiceLine
from billing.invoices.services import LineDraft, build_lines
from billing.invoices.tax import TaxTreatment
from vbwd.money import round_money

HUNDRED = Decimal(100)
ZERO = Decimal(0)


def _description(coupon: Coupon, line: InvoiceLine) -> str:
    return f"Discount {coupon.code} ({coupon.label()}) on {line.description}"


def discount_amounts(
    coupon: Coupon, lines: list[InvoiceLine], *, places: int
) -> dict[int, Decimal]:
    """Index of a covered line in ``lines`` -> its discount (positive, net); lines whose
    discount rounds to zero are left out."""
    covered = [
        (index, line)
        for index, line in enumerate(lines)
        if line.amount > 0 and coupon.covers(line.type, line.catalog_item_id)
    ]
    if not covered:
        return {}
    amounts: dict[int, Decimal] = {}
    if coupon.kind == CouponKind.PERCENT:
        for index, line in covered:
            amounts[index] = round_money(line.amount * coupon.percent_off / HUNDRED, places)
    else:
        total = sum((line.amount for _index, line in covered), ZERO)
        wanted = round_money(coupon.amount_off, places)
        if wanted >= total:
            amounts = {index: line.amount for index, line in covered}
        else:
            largest = max(covered, key=lambda pair: (pair[1].amount, -pair[0]))[0]
            for index, line in covered:
                if index != largest:
                    amounts[index] = round_money(wanted * line.amount / total, places)
            rest = wanted - sum(amounts.values(), ZERO)
            amounts[largest] = min(rest, lines[largest].amount)
    return {index: amount for index, amount in amounts.items() if amount > 0}


def with_discounts(
    drafts: list[LineDraft],
    coupon: Coupon | None,
    *,
    treatment: TaxTreatment,
    places: int,
) -> list[LineDraft]:
    """``drafts`` with a DISCOUNT draft after each line ``coupon`` discounts (the same list
    without a coupon). The item lines are taxed as ``invoice_issue`` will tax them, so the
    discount is taken off the net the invoice shows."""
    if coupon is None:
        return drafts
    lines = build_lines(drafts, treatment=treatment, places=places)
    amounts = discount_amounts(coupon, lines, places=places)
    if not amounts:
        return drafts
    result: list[LineDraft] = []
    for index, draft in enumerate(drafts):
        result.append(draft)
        amount = amounts.get(index)
        if amount is None:
            continue
        line = lines[index]
        result.append(
            LineDraft(
                type=DISCOUNT_LINE,
                description=_description(coupon, line),
                unit_price=-amount,
                item_id=draft.item_id,
                catalog_item_id=coupon.pk,
                period_start=draft.period_start,
                period_end=draft.period_end,
                extra_data={"coupon_code": coupon.code, "discounted_type": draft.type},
                price_is_net=True,
                tax_rate=line.tax_rate,
                tax_name=line.tax_name,
            )
        )
    return result


def discount_total(drafts_or_lines) -> Decimal:
    """The sum of the DISCOUNT lines, positive (of issued lines, or of built ones)."""
    return -sum((line.amount for line in drafts_or_lines if line.type == DISCOUNT_LINE), ZERO)

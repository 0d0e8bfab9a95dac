"""MRR movement of a period: how the monthly recurring revenue at the period start became the
one at its end, customer by customer.

Each customer's MRR (their paying subscriptions' plans and active recurring add-ons, as in the
dashboard's MRR) is taken at the start of the period and at its end (see ``selectors``), then:

- **new**: nothing at the start, something at the end;
- **expansion** / **contraction**: more / less at the end than at the start, both above zero;
- **churn**: something at the start, nothing at the end.

So ``MRR at the start + new + expansion − contraction − churn = MRR at the end``. Amounts are in
the requested currency at today's rates, rounded once per figure. Three queries whatever the
data (the currencies, the subscriptions, the add-ons).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db.models import Case, DateTimeField, F, Q, Sum, When
from django.db.models.functions import Coalesce

from billing.catalog.models import BillingPeriod
from billing.subscriptions.models import AddOnSubscription, AddOnSubscriptionStatus, Subscription
from plugins.analytics.money import ZERO, Converter
from plugins.analytics.periods import periods_for
from plugins.analytics.selectors import (
    FAR_FUTURE,
    FAR_PAST,
    _during,
    _moment,
    _paying,
    _subscription_dates,
    _yearly_price,
)

A = AddOnSubscriptionStatus
KINDS = ("new", "expansion", "contraction", "churn")


def _sums(rows, customer: str, currency: str, moments: dict) -> list[dict]:
    """Yearly prices per customer and currency, one sum per moment (``moments``: key → Q)."""
    return list(
        rows.values(customer_id=F(customer), code=F(currency)).annotate(
            **{key: Sum("yearly_price", filter=paying) for key, paying in moments.items()}
        )
    )


def _subscription_rows(start_at, end_at) -> list[dict]:
    rows = (
        Subscription.objects.order_by()
        .exclude(plan__billing_period=BillingPeriod.ONE_TIME)
        .alias(**_subscription_dates())
        .alias(yearly_price=_yearly_price("plan__price", "plan__billing_period"))
    )
    return _sums(
        rows,
        "user_id",
        "plan__currency",
        {"at_start": _paying(start_at), "at_end": _paying(end_at)},
    )


def _addon_rows(start_at, end_at) -> list[dict]:
    rows = (
        AddOnSubscription.objects.order_by()
        .filter(subscription__isnull=False)
        .exclude(addon__billing_period=BillingPeriod.ONE_TIME)
        .alias(
            addon_from=Coalesce(F("starts_at"), _moment(FAR_FUTURE)),
            addon_end=Case(
                When(status=A.CANCELLED, then=Coalesce(F("cancelled_at"), F("expires_at"))),
                When(status=A.EXPIRED, then=F("updated_at")),
                When(status=A.PENDING, then=_moment(FAR_PAST)),
                default=_moment(FAR_FUTURE),
                output_field=DateTimeField(),
            ),
            yearly_price=_yearly_price("addon__price", "addon__billing_period"),
            **_subscription_dates("subscription__"),
        )
    )

    def paying(moment) -> Q:
        return _during("addon_from", "addon_end", moment) & _paying(moment, prefix="subscription_")

    return _sums(
        rows,
        "subscription__user_id",
        "addon__currency",
        {"at_start": paying(start_at), "at_end": paying(end_at)},
    )


def mrr_movement(
    *,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    currency: str | None = None,
    now: datetime.datetime | None = None,
) -> dict:
    """``{"new", "expansion", "contraction", "churn"}``: each ``{"amount", "customers"}`` over
    the period ``start``..``end`` (the dashboard's defaults), and ``start_mrr``/``end_mrr``,
    ``currency`` and ``places``. Three queries."""
    periods = periods_for(start=start, end=end, now=now)
    money = Converter(currency)
    start_at, end_at = periods.current.start_at, periods.current.end_at
    by_customer: dict = defaultdict(lambda: {"at_start": ZERO, "at_end": ZERO})
    for row in [*_subscription_rows(start_at, end_at), *_addon_rows(start_at, end_at)]:
        for key in ("at_start", "at_end"):
            if row[key]:
                monthly = Decimal(row[key]) / 12
                by_customer[row["customer_id"]][key] += money.convert(monthly, row["code"])
    amounts = dict.fromkeys(KINDS, ZERO)
    customers = dict.fromkeys(KINDS, 0)
    for mrr in by_customer.values():
        before, after = mrr["at_start"], mrr["at_end"]
        if before == after:
            continue
        if not before:
            kind, change = "new", after
        elif not after:
            kind, change = "churn", before
        elif after > before:
            kind, change = "expansion", after - before
        else:
            kind, change = "contraction", before - after
        amounts[kind] += change
        customers[kind] += 1
    return {
        **{
            kind: {"amount": money.round(amounts[kind]), "customers": customers[kind]}
            for kind in KINDS
        },
        "start_mrr": money.round(sum((row["at_start"] for row in by_customer.values()), ZERO)),
        "end_mrr": money.round(sum((row["at_end"] for row in by_customer.values()), ZERO)),
        "currency": money.target.code,
        "places": money.places,
    }

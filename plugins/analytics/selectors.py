"""The business figures staff see: computed in the database, a constant number of queries
whatever the number of subscriptions, payments or users.

A period is whole UTC days, ``start`` to ``end`` inclusive; it is compared with the period of
the same number of days that ends the day before ``start``. Figures "at the period end" are
taken at the end of the ``end`` day, or now when that day has not ended yet. Events (payments,
credit notes, registrations, trials ending, access ending) count in the period when they happen
from ``start`` 00:00 UTC up to that moment.

What a subscription was at a past moment is read from its own dates, so that earlier periods can
be compared without a history table:

- it had **access** from ``started_at`` until its access ended: for a cancelled one at
  ``expires_at`` (at the cancellation when it had no end), for an expired one when it expired
  (its last change), for a paused one when it was paused; a pending one never had access;
- it was **live** (trialing, active or past due) while it had access and was not yet cancelled;
- it was **paying** (active or past due) while live and past its trial: from the trial end for a
  subscription that had a trial (never while it is still trialing), else from ``started_at``.

Amounts in other currencies are converted into the requested one at today's rates of the
catalog (``amount ÷ rate of its currency × rate of the requested one``) and rounded once, to the
requested currency's places, after summing.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, Least, Trunc

from accounts.models import User
from billing.catalog.models import BillingPeriod
from billing.catalog.periods import PER_MONTH
from billing.coupons.models import Coupon, CouponKind
from billing.invoices.models import SETTLED_PAYMENT_STATUSES, CreditNote, Payment
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from plugins.analytics.money import ZERO, Converter, change_percent, percent
from plugins.analytics.periods import Period, Periods, interval_starts, periods_for

# Stand-ins for "never started" and "never ended", so every comparison is between two dates.
FAR_PAST = datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)
FAR_FUTURE = datetime.datetime(9999, 1, 1, tzinfo=datetime.UTC)

S = SubscriptionStatus
A = AddOnSubscriptionStatus


def _metric(current, previous) -> dict:
    return {"total": current, "change_percent": change_percent(current, previous)}


# --- what a subscription was at a moment --------------------------------------------------------


def _moment(value: datetime.datetime) -> Value:
    return Value(value, output_field=DateTimeField())


def _subscription_dates(prefix: str = "") -> dict:
    """Aliases for a subscription (reached through ``prefix``): ``live_from``, ``access_end``,
    ``live_end`` and ``paid_from`` (see the module notes)."""
    field = lambda name: F(f"{prefix}{name}")  # noqa: E731
    status = f"{prefix}status"
    live_from = Coalesce(field("started_at"), _moment(FAR_FUTURE))
    cancelled_access_end = Coalesce(field("expires_at"), field("cancelled_at"), _moment(FAR_FUTURE))
    ended = [
        When(**{status: S.EXPIRED}, then=field("updated_at")),
        When(**{status: S.PAUSED}, then=Coalesce(field("paused_at"), field("updated_at"))),
        When(**{status: S.PENDING}, then=_moment(FAR_PAST)),
    ]
    access_end = Case(
        When(**{status: S.CANCELLED}, then=cancelled_access_end),
        *ended,
        default=_moment(FAR_FUTURE),
        output_field=DateTimeField(),
    )
    live_end = Case(
        When(
            **{status: S.CANCELLED},
            then=Least(Coalesce(field("cancelled_at"), _moment(FAR_FUTURE)), cancelled_access_end),
        ),
        *ended,
        default=_moment(FAR_FUTURE),
        output_field=DateTimeField(),
    )
    after_trial = Greatest(live_from, field("trial_end_at"))
    paid_from = Case(
        When(**{status: S.TRIALING}, then=_moment(FAR_FUTURE)),
        When(**{f"{prefix}trial_end_at__isnull": False}, then=after_trial),
        default=live_from,
        output_field=DateTimeField(),
    )
    name = prefix.replace("__", "_")
    return {
        f"{name}live_from": live_from,
        f"{name}access_end": access_end,
        f"{name}live_end": live_end,
        f"{name}paid_from": paid_from,
    }


def _during(start: str, end: str, moment: datetime.datetime) -> Q:
    """``start`` ≤ moment < ``end`` (two aliases)."""
    return Q(**{f"{start}__lte": moment, f"{end}__gt": moment})


def _happened(field: str, period: Period) -> Q:
    return Q(**{f"{field}__gte": period.start_at, f"{field}__lt": period.end_at})


# --- the figures -------------------------------------------------------------------------------


# Slicing makes Django aggregate over a subquery, and its LIMIT keeps PostgreSQL from folding
# the subquery into the outer query: each row's dates are worked out once, not once per figure.
# The limit is larger than any table.
WHOLE_TABLE = 2**62


# Price × this = the price of a year, from the catalog's month normalisation (DAILY × 365/12 a
# month is × 365 a year, WEEKLY × 52, MONTHLY × 12, QUARTERLY × 4, YEARLY × 1): whole numbers,
# so the sums stay exact decimals; the ÷ 12 to a month is done in Python.
YEARLY_MULTIPLE = {
    period: 12 * numerator // denominator for period, (numerator, denominator) in PER_MONTH.items()
}


def _yearly_price(price: str, billing_period: str) -> Case:
    """A row's recurring price over a year (0 for ONE_TIME and unknown periods)."""
    return Case(
        *(
            When(**{billing_period: period}, then=F(price) * Value(multiple))
            for period, multiple in YEARLY_MULTIPLE.items()
        ),
        default=Value(ZERO),
        output_field=DecimalField(max_digits=20, decimal_places=4),
    )


def _discounts_in_use() -> list[Coupon]:
    """The coupons some subscription keeps as its recurring discount (one query)."""
    return list(
        Coupon.objects.filter(
            pk__in=Subscription.objects.filter(discount_coupon__isnull=False).values(
                "discount_coupon"
            )
        ).only("id", "kind", "percent_off", "amount_off", "currency", "plan_ids", "add_on_ids",
               "token_bundle_ids")
    )  # fmt: skip


def _discounted_yearly_price(
    price: str, billing_period: str, item: str, *, coupons: list[Coupon], kind: str, prefix=""
) -> Case:
    """``_yearly_price`` after the recurring discount of the subscription (reached through
    ``prefix``) when its coupon covers the row's catalog ``item`` (``kind``: SUBSCRIPTION or
    ADD_ON) and periods remain: a PERCENT coupon takes its share of every period's price, an
    AMOUNT coupon its amount off a plan in its currency (never below 0)."""
    full = _yearly_price(price, billing_period)
    active = Q(**{f"{prefix}discount_periods_remaining__isnull": True}) | Q(
        **{f"{prefix}discount_periods_remaining__gt": 0}
    )
    cases = []
    for coupon in coupons:
        ids = coupon.plan_ids if kind == "SUBSCRIPTION" else coupon.add_on_ids
        covered = Q(**{f"{prefix}discount_coupon_id": coupon.pk}) & active
        if not coupon.covers_everything:
            if not ids:
                continue
            covered &= Q(**{f"{item}__in": list(ids)})
        if coupon.kind == CouponKind.PERCENT:
            share = (Decimal(100) - coupon.percent_off) / Decimal(100)
            cases.append(When(covered, then=full * Value(share)))
        elif kind == "SUBSCRIPTION":
            left = Greatest(F(price) - Value(coupon.amount_off), Value(ZERO))
            cases.append(
                When(
                    covered & Q(**{price.replace("price", "currency"): coupon.currency}),
                    then=Case(
                        *(
                            When(**{billing_period: period}, then=left * Value(multiple))
                            for period, multiple in YEARLY_MULTIPLE.items()
                        ),
                        default=Value(ZERO),
                        output_field=DecimalField(max_digits=20, decimal_places=4),
                    ),
                )
            )
    if not cases:
        return full
    return Case(*cases, default=full, output_field=DecimalField(max_digits=20, decimal_places=4))


def _price_sums(money: Converter, moments: dict[str, Q]) -> tuple[dict, dict]:
    """Conditional sums of ``yearly_price`` per currency for each of ``moments`` (key → who is
    paying then): ``(aggregates, alias → (key, currency))``. A price in a currency the catalog
    does not have cannot be converted and is left out."""
    aggregates, meaning = {}, {}
    for key, paying in moments.items():
        for code in sorted(money.rates):
            alias = f"price_{len(meaning)}"
            meaning[alias] = (key, code)
            aggregates[alias] = Sum("yearly_price", filter=paying & Q(currency=code))
    return aggregates, meaning


def _monthly_total(row: dict, meaning: dict, money: Converter) -> dict[str, Decimal]:
    """The sums of ``_price_sums`` as monthly amounts in the target currency, not rounded."""
    totals = {"current": ZERO, "previous": ZERO}
    for alias, (key, code) in meaning.items():
        if row[alias]:
            totals[key] += money.convert(Decimal(row[alias]) / 12, code)
    return totals


def _paying(moment: datetime.datetime, prefix: str = "") -> Q:
    return _during(f"{prefix}live_from", f"{prefix}live_end", moment) & _during(
        f"{prefix}paid_from", f"{prefix}live_end", moment
    )


def _subscription_figures(
    periods: Periods, money: Converter, coupons: list[Coupon]
) -> tuple[dict, dict]:
    """Live subscriptions, paying customers, churn and trial figures of both periods, and the
    plans' monthly prices (after the subscriptions' recurring discounts) of the subscriptions
    paying at both ends (one query)."""
    rows = (
        Subscription.objects.order_by()
        .annotate(**_subscription_dates())
        .annotate(
            trial_over=Least(F("trial_end_at"), F("access_end")),
            had_trial=ExpressionWrapper(Q(trial_end_at__isnull=False), BooleanField()),
            # paid: its first paid period started when the trial ended
            converted=ExpressionWrapper(
                Q(current_period_start__gte=F("trial_end_at")), BooleanField()
            ),
            state=F("status"),
            customer=F("user_id"),
            yearly_price=_discounted_yearly_price(
                "plan__price",
                "plan__billing_period",
                "plan_id",
                coupons=coupons,
                kind="SUBSCRIPTION",
            ),
            currency=F("plan__currency"),
        )
    )[:WHOLE_TABLE]
    ended = Q(state__in=(S.CANCELLED, S.EXPIRED))
    figures: dict = {}
    moments = {}
    for key, period in (("current", periods.current), ("previous", periods.previous)):
        live = _during("live_from", "live_end", period.end_at)
        paying = moments[key] = _paying(period.end_at)
        valid_at_start = _during("live_from", "access_end", period.start_at)
        trials_ended = Q(
            had_trial=True, trial_over__gte=period.start_at, trial_over__lt=period.end_at
        )
        figures |= {
            f"active_{key}": Count("pk", filter=live),
            f"payers_{key}": Count("customer", filter=paying, distinct=True),
            f"churn_base_{key}": Count("pk", filter=valid_at_start),
            f"churned_{key}": Count(
                "pk", filter=valid_at_start & ended & Q(access_end__lt=period.end_at)
            ),
            f"trials_{key}": Count("pk", filter=trials_ended),
            f"converted_{key}": Count("pk", filter=trials_ended & Q(converted=True)),
        }
    prices, meaning = _price_sums(money, moments)
    row = rows.aggregate(**figures, **prices)
    return row, _monthly_total(row, meaning, money)


def _addon_mrr(periods: Periods, money: Converter, coupons: list[Coupon]) -> dict[str, Decimal]:
    """The monthly prices (after a PERCENT recurring discount that covers them) of the active
    recurring add-ons of the subscriptions paying at both ends (one query)."""
    rows = (
        AddOnSubscription.objects.order_by()
        .filter(subscription__isnull=False)
        .exclude(addon__billing_period=BillingPeriod.ONE_TIME)
        .annotate(
            addon_from=Coalesce(F("starts_at"), _moment(FAR_FUTURE)),
            addon_end=Case(
                When(status=A.CANCELLED, then=Coalesce(F("cancelled_at"), F("expires_at"))),
                When(status=A.EXPIRED, then=F("updated_at")),
                When(status=A.PENDING, then=_moment(FAR_PAST)),
                default=_moment(FAR_FUTURE),
                output_field=DateTimeField(),
            ),
            yearly_price=_discounted_yearly_price(
                "addon__price",
                "addon__billing_period",
                "addon_id",
                coupons=coupons,
                kind="ADD_ON",
                prefix="subscription__",
            ),
            currency=F("addon__currency"),
            **_subscription_dates("subscription__"),
        )
    )[:WHOLE_TABLE]
    moments = {
        key: _during("addon_from", "addon_end", period.end_at)
        & _paying(period.end_at, prefix="subscription_")
        for key, period in (("current", periods.current), ("previous", periods.previous))
    }
    prices, meaning = _price_sums(money, moments)
    return _monthly_total(rows.aggregate(**prices), meaning, money)


def _user_growth(periods: Periods) -> dict:
    return User.objects.order_by().aggregate(
        current=Count("pk", filter=_happened("created_at", periods.current)),
        previous=Count("pk", filter=_happened("created_at", periods.previous)),
    )


def _truncated(field: str, interval: str) -> Trunc:
    return Trunc(field, interval, output_field=DateTimeField(), tzinfo=datetime.UTC)


def _revenue_rows(periods: Periods, interval: str | None) -> tuple[list[dict], list[dict]]:
    """Captured payments, and credit notes issued or reversed, in both periods, by currency
    (and by ``interval``, when given): two queries. Keys ``current``/``previous`` (payments),
    ``refunded_*`` and ``restored_*`` (credit notes issued and reversed)."""
    current, previous = periods.current, periods.previous
    both = Period(previous.start, current.end, previous.start_at, current.end_at)
    payments = Payment.objects.order_by().filter(
        _happened("captured_at", both), status__in=SETTLED_PAYMENT_STATUSES
    )
    credit_notes = CreditNote.objects.order_by().filter(
        _happened("created_at", both) | _happened("reversed_at", both)
    )
    if interval:
        payments = payments.annotate(bucket=_truncated("captured_at", interval)).values(
            "currency", "bucket"
        )
        credit_notes = credit_notes.annotate(
            issued_bucket=_truncated("created_at", interval),
            reversed_bucket=_truncated("reversed_at", interval),
        ).values("currency", "issued_bucket", "reversed_bucket")
    else:
        payments = payments.values("currency")
        credit_notes = credit_notes.values("currency")
    payment_rows = list(
        payments.annotate(
            current=Sum("amount", filter=_happened("captured_at", current)),
            previous=Sum("amount", filter=_happened("captured_at", previous)),
        )
    )
    credit_note_rows = list(
        credit_notes.annotate(
            refunded_current=Sum("amount", filter=_happened("created_at", current)),
            refunded_previous=Sum("amount", filter=_happened("created_at", previous)),
            restored_current=Sum("amount", filter=_happened("reversed_at", current)),
            restored_previous=Sum("amount", filter=_happened("reversed_at", previous)),
        )
    )
    return payment_rows, credit_note_rows


def _net_revenue(payment_rows, credit_note_rows, money: Converter, key: str) -> Decimal:
    """Captured − refunded + refunds reversed in the ``key`` period, not rounded."""
    total = ZERO
    for row in payment_rows:
        total += money.convert(row[key], row["currency"])
    for row in credit_note_rows:
        total -= money.convert(row[f"refunded_{key}"], row["currency"])
        total += money.convert(row[f"restored_{key}"], row["currency"])
    return total


def dashboard(
    *,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    currency: str | None = None,
    now: datetime.datetime | None = None,
) -> dict:
    """Every figure of the dashboard for ``start``..``end`` (default: the last 30 days ending
    today) in ``currency`` (default: the default currency), each as ``{"total",
    "change_percent"}`` against the previous period of the same length. Money and percentages
    are ``Decimal`` (money rounded to the currency's places, percentages to two decimals),
    counts are ``int``; ``period`` holds the four dates. Seven queries, whatever the data."""
    periods = periods_for(start=start, end=end, now=now)
    money = Converter(currency)
    coupons = _discounts_in_use()
    counts, plans = _subscription_figures(periods, money, coupons)
    addons = _addon_mrr(periods, money, coupons)
    mrr_current = money.round(plans["current"] + addons["current"])
    mrr_previous = money.round(plans["previous"] + addons["previous"])
    users = _user_growth(periods)
    payment_rows, credit_note_rows = _revenue_rows(periods, interval=None)
    revenue_current = money.round(_net_revenue(payment_rows, credit_note_rows, money, "current"))
    revenue_previous = money.round(_net_revenue(payment_rows, credit_note_rows, money, "previous"))

    def arpu(mrr: Decimal, payers: int) -> Decimal:
        return money.round(mrr / payers) if payers else money.round(ZERO)

    return {
        "mrr": _metric(mrr_current, mrr_previous),
        "arr": _metric(mrr_current * 12, mrr_previous * 12),
        "revenue": _metric(revenue_current, revenue_previous),
        "active_subscriptions": _metric(counts["active_current"], counts["active_previous"]),
        "user_growth": _metric(users["current"], users["previous"]),
        "churn": _metric(
            percent(counts["churned_current"], counts["churn_base_current"]),
            percent(counts["churned_previous"], counts["churn_base_previous"]),
        ),
        "conversion": _metric(
            percent(counts["converted_current"], counts["trials_current"]),
            percent(counts["converted_previous"], counts["trials_previous"]),
        ),
        "arpu": _metric(
            arpu(mrr_current, counts["payers_current"]),
            arpu(mrr_previous, counts["payers_previous"]),
        ),
        "currency": money.target.code,
        "places": money.places,
        "period": periods.as_data(),
    }


def revenue(
    *,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    interval: str = "day",
    currency: str | None = None,
    now: datetime.datetime | None = None,
) -> dict:
    """Net revenue of the period (captured payments − refunds + reversed refunds) in
    ``currency``, compared with the previous period, and the series of one point per
    ``interval`` (zero-filled; ``date`` = the interval's first day). Three queries."""
    periods = periods_for(start=start, end=end, now=now)
    days = interval_starts(periods.current.start, periods.current.end, interval)
    money = Converter(currency)
    payment_rows, credit_note_rows = _revenue_rows(periods, interval=interval)
    points = dict.fromkeys(days, ZERO)

    def add(bucket, amount: Decimal) -> None:
        if bucket is None or not amount:
            return
        day = bucket.astimezone(datetime.UTC).date() if hasattr(bucket, "date") else bucket
        if day in points:
            points[day] += amount

    for row in payment_rows:
        add(row["bucket"], money.convert(row["current"], row["currency"]))
    for row in credit_note_rows:
        add(row["issued_bucket"], -money.convert(row["refunded_current"], row["currency"]))
        add(row["reversed_bucket"], money.convert(row["restored_current"], row["currency"]))
    total = money.round(_net_revenue(payment_rows, credit_note_rows, money, "current"))
    previous = money.round(_net_revenue(payment_rows, credit_note_rows, money, "previous"))
    return {
        "total": total,
        "change_percent": change_percent(total, previous),
        "currency": money.target.code,
        "places": money.places,
        "interval": interval,
        "data": [{"date": day, "value": money.round(points[day])} for day in days],
    }

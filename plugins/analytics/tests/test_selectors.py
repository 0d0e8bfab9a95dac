"""Every figure of the dashboard and the revenue series, worked out by hand on a business built
for them (``fixtures``)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine

from plugins.analytics import money, periods, selectors
from plugins.analytics.tests.fixtures import END, NOW, START, build_business
from vbwd.exceptions import ValidationFailed

pytestmark = pytest.mark.django_db


def metric(total, change) -> dict:
    return {"total": total, "change_percent": Decimal(change)}


@pytest.fixture
def business():
    return build_business()


def _dashboard(**kwargs):
    return selectors.dashboard(start=START, end=END, now=NOW, **kwargs)


def test_mrr_normalises_every_billing_period_to_a_month(business):
    figures = _dashboard()

    # daily 1.20 x 365/12 = 36.50, weekly 6.00 x 52/12 = 26.00, monthly 10.00 (past due),
    # quarterly 30.00 / 3 = 10.00, yearly 120.00 / 12 = 10.00 + its monthly add-on 5.00,
    # 25.00 USD / 1.25 = 20.00, one-time 0, the converted trial 8.00
    assert figures["mrr"] == metric(Decimal("125.50"), "-1.6")
    # before: without the quarterly plan (new) and the converted trial, with the churned and the
    # paused monthly ones: 36.50 + 26.00 + 10.00 + 15.00 + 20.00 + 10.00 + 10.00 = 127.50
    assert figures["mrr"]["total"] == Decimal("125.50")
    assert figures["arr"] == metric(Decimal("1506.00"), "-1.6")


def test_arpu_divides_mrr_by_the_paying_customers(business):
    figures = _dashboard()

    # 125.50 / 8 = 15.6875; before 127.50 / 8 = 15.9375
    assert figures["arpu"] == metric(Decimal("15.69"), "-1.6")


def test_revenue_is_captured_payments_net_of_refunds(business):
    figures = _dashboard()

    # 100.00 + 40.00 (50.00 USD) - 20.00 refunded; the failed attempt counts for nothing;
    # before: 30.00
    assert figures["revenue"] == metric(Decimal("120.00"), "300.0")


def test_active_subscriptions_are_the_trialing_active_and_past_due_ones(business):
    figures = _dashboard()

    # now: daily, weekly, past due, yearly, dollars, one-time, quarterly, converted, trialing;
    # before: daily, weekly, past due, yearly, dollars, one-time, churned, paused
    assert figures["active_subscriptions"] == metric(9, "12.5")


def test_churn_is_the_share_of_valid_subscriptions_whose_access_ended(business):
    figures = _dashboard()

    # 1 of the 8 valid on March 1 (the cancelled one, access ended March 15) = 12.50 %;
    # before: 1 of 9 (expired February 10) = 11.11 %
    assert figures["churn"] == metric(Decimal("12.50"), "12.5")


def test_conversion_is_the_share_of_ended_trials_that_were_paid(business):
    figures = _dashboard()

    # two trials ended in March, one was paid; none ended before
    assert figures["conversion"] == metric(Decimal("50.00"), "100.0")


def test_user_growth_counts_registrations(business):
    figures = _dashboard()

    # quarterly, converted, lapsed trial and trialing joined in March; one browser in February
    assert figures["user_growth"] == metric(4, "300.0")


def test_the_dashboard_names_its_currency_and_periods(business):
    figures = _dashboard()

    assert figures["currency"] == "EUR"
    assert figures["period"] == {
        "start": START,
        "end": END,
        "previous_start": datetime.date(2026, 1, 29),
        "previous_end": datetime.date(2026, 2, 28),
    }


def test_money_is_converted_into_the_requested_currency(business):
    figures = _dashboard(currency="usd")

    # 105.50 EUR x 1.25 + 25.00 USD = 156.875; revenue 120.00 x 1.25
    assert figures["currency"] == "USD"
    assert figures["mrr"]["total"] == Decimal("156.88")
    assert figures["arr"]["total"] == Decimal("1882.56")
    assert figures["revenue"] == metric(Decimal("150.00"), "300.0")
    assert figures["arpu"]["total"] == Decimal("19.61")
    assert figures["active_subscriptions"]["total"] == 9


def test_revenue_series_has_one_zero_filled_point_per_day(business):
    series = selectors.revenue(start=START, end=END, interval="day", now=NOW)

    assert (series["total"], series["change_percent"]) == (Decimal("120.00"), Decimal("300.0"))
    assert series["interval"] == "day"
    points = {point["date"]: point["value"] for point in series["data"]}
    assert len(series["data"]) == 31
    assert [point["date"] for point in series["data"]][:2] == [START, datetime.date(2026, 3, 2)]
    assert points[datetime.date(2026, 3, 10)] == Decimal("100.00")
    assert points[datetime.date(2026, 3, 12)] == Decimal("40.00")
    assert points[datetime.date(2026, 3, 20)] == Decimal("-20.00")
    others = [value for day, value in points.items() if day.day not in (10, 12, 20)]
    assert others == [Decimal("0.00")] * 28


def test_revenue_series_by_week_starts_each_point_on_a_monday(business):
    series = selectors.revenue(start=START, end=END, interval="week", now=NOW)

    assert [(point["date"].isoformat(), point["value"]) for point in series["data"]] == [
        ("2026-02-23", Decimal("0.00")),
        ("2026-03-02", Decimal("0.00")),
        ("2026-03-09", Decimal("140.00")),
        ("2026-03-16", Decimal("-20.00")),
        ("2026-03-23", Decimal("0.00")),
        ("2026-03-30", Decimal("0.00")),
    ]


def test_revenue_series_by_month_in_another_currency(business):
    series = selectors.revenue(
        start=datetime.date(2026, 2, 1), end=END, interval="month", currency="USD", now=NOW
    )

    assert series["currency"] == "USD"
    assert [(point["date"].isoformat(), point["value"]) for point in series["data"]] == [
        ("2026-02-01", Decimal("37.50")),
        ("2026-03-01", Decimal("150.00")),
    ]
    assert series["total"] == Decimal("187.50")


def test_a_reversed_refund_counts_again_when_it_is_reversed(business):
    from billing.invoices.models import CreditNote

    CreditNote.objects.update(reversed_at=datetime.datetime(2026, 3, 25, tzinfo=datetime.UTC))

    series = selectors.revenue(start=START, end=END, now=NOW)

    points = {point["date"]: point["value"] for point in series["data"]}
    assert points[datetime.date(2026, 3, 20)] == Decimal("-20.00")
    assert points[datetime.date(2026, 3, 25)] == Decimal("20.00")
    assert series["total"] == Decimal("140.00")


def test_change_percent_rules():
    assert money.change_percent(0, 0) == Decimal("0.0")
    assert money.change_percent(5, 0) == Decimal("100.0")
    assert money.change_percent(Decimal("110"), Decimal("100")) == Decimal("10.0")
    assert money.change_percent(Decimal("1"), Decimal("3")) == Decimal("-66.7")
    assert money.change_percent(Decimal("10"), Decimal("-20")) == Decimal("150.0")


def test_default_period_is_the_last_30_days_ending_today():
    now = datetime.datetime(2026, 3, 31, 15, 0, tzinfo=datetime.UTC)

    both = periods.periods_for(start=None, end=None, now=now)

    assert both.as_data() == {
        "start": datetime.date(2026, 3, 2),
        "end": datetime.date(2026, 3, 31),
        "previous_start": datetime.date(2026, 1, 31),
        "previous_end": datetime.date(2026, 3, 1),
    }
    # today's figures are taken now, not at midnight
    assert both.current.end_at == now


def test_start_after_end_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        periods.periods_for(start=END, end=START)

    assert refused.value.message == "start must not be after end"


@pytest.mark.django_db
def test_an_unknown_or_inactive_currency_is_refused():
    from billing.catalog.models import Currency

    Currency.objects.filter(code="USD").update(is_active=False)
    for code in ("XYZ", "USD"):
        with pytest.raises(ValidationFailed) as refused:
            selectors.dashboard(currency=code)
        assert refused.value.message == f"Currency '{code}' is not supported"


@pytest.mark.django_db
def test_an_empty_database_gives_zeros():
    with time_machine.travel(NOW, tick=False):
        figures = selectors.dashboard()

    assert figures["mrr"] == metric(Decimal("0.00"), "0.0")
    assert figures["churn"] == metric(Decimal("0.00"), "0.0")
    assert figures["conversion"] == metric(Decimal("0.00"), "0.0")
    assert figures["arpu"] == metric(Decimal("0.00"), "0.0")
    assert figures["active_subscriptions"] == metric(0, "0.0")


def test_the_selectors_read_the_database_a_fixed_number_of_times(
    business, django_assert_num_queries
):
    # currencies, the coupons kept as recurring discounts, subscriptions (figures and plans'
    # MRR), add-ons' MRR, registrations, payments, credit notes
    with django_assert_num_queries(7):
        _dashboard(currency="USD")
    # currencies, payments, credit notes
    with django_assert_num_queries(3):
        selectors.revenue(start=START, end=END, interval="week", now=NOW)


def test_mrr_counts_the_price_after_the_recurring_discount():
    from billing.catalog.models import BillingPeriod
    from billing.catalog.tests.factories import AddOnFactory, PlanFactory
    from billing.coupons.tests.factories import CouponFactory, summer25, ten_euros
    from billing.subscriptions.models import (
        AddOnSubscription,
        AddOnSubscriptionStatus,
        Subscription,
        SubscriptionStatus,
    )
    from billing.subscriptions.tests.factories import SubscriptionFactory

    monthly = BillingPeriod.MONTHLY
    pro = PlanFactory(price=Decimal("29.99"), billing_period=monthly)
    basic = PlanFactory(price=Decimal("9.99"), billing_period=monthly)
    yearly = PlanFactory(price=Decimal("120.00"), billing_period=BillingPeriod.YEARLY)
    started = datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC)
    active = {"status": SubscriptionStatus.ACTIVE, "started_at": started}

    def subscription(plan, **fields):
        return SubscriptionFactory(plan=plan, **active, current_period_start=started, **fields)

    # 25 % off Pro for two more periods: 22.4925; over: the full 29.99
    subscription(pro, discount_coupon=summer25(), discount_periods_remaining=2)
    subscription(pro, discount_coupon=summer25(code="USEDUP"), discount_periods_remaining=0)
    # 10.00 EUR off Basic: nothing left of 9.99
    subscription(basic, discount_coupon=ten_euros())
    # a coupon for other plans leaves the price alone; a forever 50 % one halves it: 5.00
    subscription(yearly, discount_coupon=CouponFactory(code="PROONLY", plan_ids=[str(pro.pk)]))
    half = CouponFactory(code="HALF", percent_off=Decimal("50"), duration="FOREVER")
    with_addon = subscription(basic, discount_coupon=half)
    AddOnSubscription.objects.create(
        user=with_addon.user,
        addon=AddOnFactory(price=Decimal("4.00"), billing_period=monthly),
        subscription=with_addon,
        status=AddOnSubscriptionStatus.ACTIVE,
        starts_at=started,
    )
    assert Subscription.objects.count() == 5

    figures = _dashboard()

    # 22.4925 + 29.99 + 0 + 10.00 + 4.995 + 2.00 (the add-on, halved) = 69.4775
    assert figures["mrr"]["total"] == Decimal("69.48")

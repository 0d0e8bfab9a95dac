"""MRR movement: each customer's MRR at the period start and end sorted into new, expansion,
contraction and churn, in a constant number of queries."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from billing.catalog.models import BillingPeriod, Currency
from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from plugins.analytics import selectors
from plugins.analytics.movement import mrr_movement

pytestmark = pytest.mark.django_db

S = SubscriptionStatus
START, END = datetime.date(2026, 3, 1), datetime.date(2026, 3, 31)
NOW = datetime.datetime(2026, 4, 10, 12, 0, tzinfo=datetime.UTC)
LONG_AGO = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
FAR = datetime.datetime(2026, 12, 31, tzinfo=datetime.UTC)


def at(day: int) -> datetime.datetime:
    return datetime.datetime(2026, 3, day, 9, 0, tzinfo=datetime.UTC)


def _plan(price: str, **kwargs):
    return PlanFactory(price=Decimal(price), billing_period=BillingPeriod.MONTHLY, **kwargs)


def _sub(user, plan, *, started=LONG_AGO, **fields):
    fields.setdefault("status", S.ACTIVE)
    fields.setdefault("expires_at", FAR)
    return Subscription.objects.create(
        user=user,
        plan=plan,
        payment_method="invoice",
        started_at=started,
        current_period_start=started,
        **fields,
    )


def _business() -> dict:
    """steady 10 → 10; grows 10 → 15 (an add-on from March 12); shrinks 10 + 15 → 10 (one
    cancelled, access ended March 20); new 20 from March 10; leaves 30 (access ended March 15);
    a customer paying 25 USD (= 20 EUR) from March 3."""
    Currency.objects.filter(code="USD").update(exchange_rate=Decimal("1.250000"))
    users = {name: UserFactory() for name in ("steady", "grows", "shrinks", "new", "leaves", "usd")}
    _sub(users["steady"], _plan("10.00"))
    grows = _sub(users["grows"], _plan("10.00"))
    AddOnSubscription.objects.create(
        user=users["grows"],
        subscription=grows,
        addon=AddOnFactory(price=Decimal("5.00"), billing_period=BillingPeriod.MONTHLY),
        status=AddOnSubscriptionStatus.ACTIVE,
        starts_at=at(12),
        expires_at=FAR,
    )
    _sub(users["shrinks"], _plan("10.00"))
    _sub(
        users["shrinks"],
        _plan("15.00"),
        status=S.CANCELLED,
        cancelled_at=at(1),
        expires_at=at(20),
    )
    _sub(users["new"], _plan("20.00"), started=at(10))
    _sub(users["leaves"], _plan("30.00"), status=S.CANCELLED, cancelled_at=at(5), expires_at=at(15))
    _sub(users["usd"], _plan("25.00", currency="USD"), started=at(3))
    return users


def test_each_customer_counts_once_in_the_kind_of_its_change():
    _business()

    moves = mrr_movement(start=START, end=END, now=NOW)

    assert moves["new"] == {"amount": Decimal("40.00"), "customers": 2}
    assert moves["expansion"] == {"amount": Decimal("5.00"), "customers": 1}
    assert moves["contraction"] == {"amount": Decimal("15.00"), "customers": 1}
    assert moves["churn"] == {"amount": Decimal("30.00"), "customers": 1}
    assert (moves["start_mrr"], moves["end_mrr"]) == (Decimal("75.00"), Decimal("75.00"))
    assert (moves["currency"], moves["places"]) == ("EUR", 2)


def test_the_movement_leads_from_the_dashboards_mrr_before_to_its_mrr_after():
    _business()
    day = datetime.timedelta(days=1)

    moves = mrr_movement(start=START, end=END, now=NOW)
    after = selectors.dashboard(start=START, end=END, now=NOW)["mrr"]["total"]
    before = selectors.dashboard(start=START - 31 * day, end=START - day, now=NOW)["mrr"]["total"]

    assert (moves["start_mrr"], moves["end_mrr"]) == (before, after)
    assert (
        moves["start_mrr"]
        + moves["new"]["amount"]
        + moves["expansion"]["amount"]
        - moves["contraction"]["amount"]
        - moves["churn"]["amount"]
        == moves["end_mrr"]
    )


def test_in_another_currency():
    _business()

    moves = mrr_movement(start=START, end=END, currency="USD", now=NOW)

    assert moves["new"]["amount"] == Decimal("50.00")  # 20 EUR × 1.25 + 25 USD
    assert moves["churn"]["amount"] == Decimal("37.50")
    assert moves["currency"] == "USD"


def test_three_queries_whatever_the_number_of_customers(django_assert_num_queries):
    _business()
    with django_assert_num_queries(3):
        mrr_movement(start=START, end=END, now=NOW)
    for _ in range(3):
        _business()
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(3):
        moves = mrr_movement(start=START, end=END)
    assert moves["new"]["customers"] == 8

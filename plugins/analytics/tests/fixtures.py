"""A small business built for the analytics figures: every row's dates are chosen so that each
figure of March 2026 (and of the 31 days before it) can be worked out by hand.

The period asked for is 2026-03-01..2026-03-31 with the clock on 2026-04-10, so figures "at the
period end" are taken on 2026-04-01 00:00 UTC; the previous period is 2026-01-29..2026-02-28,
its end 2026-03-01 00:00 UTC. 1 EUR (the default currency) = 1.25 USD.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

import time_machine

from accounts.tests.factories import UserFactory
from billing.catalog.models import BillingPeriod, Currency
from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from billing.invoices.models import Payment, PaymentStatus
from billing.invoices.services import invoice_mark_paid, invoice_refund
from billing.invoices.tests.factories import custom_draft, issue_invoice
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)

S = SubscriptionStatus
START = datetime.date(2026, 3, 1)
END = datetime.date(2026, 3, 31)
NOW = datetime.datetime(2026, 4, 10, 12, 0, tzinfo=datetime.UTC)


def at(month: int, day: int) -> datetime.datetime:
    return datetime.datetime(2026, month, day, 9, 0, tzinfo=datetime.UTC)


LONG_AGO = at(1, 1)


@dataclass
class Business:
    users: dict = field(default_factory=dict)
    subscriptions: dict = field(default_factory=dict)


def _user(business: Business, name: str, joined: datetime.datetime):
    with time_machine.travel(joined, tick=False):
        business.users[name] = UserFactory(email=f"{name}@analytics.example")
    return business.users[name]


def _subscription(business: Business, name: str, plan, *, joined=LONG_AGO, **fields):
    user = _user(business, name, joined)
    started = fields.pop("started_at", joined)
    subscription = Subscription.objects.create(
        user=user,
        plan=plan,
        payment_method="invoice",
        started_at=started,
        current_period_start=fields.pop("current_period_start", started),
        **fields,
    )
    business.subscriptions[name] = subscription
    return subscription


def build_business() -> Business:
    """The rows; the figures they give are in ``test_selectors``."""
    Currency.objects.filter(code="USD").update(exchange_rate=Decimal("1.250000"))
    plans = {
        "daily": PlanFactory(price=Decimal("1.20"), billing_period=BillingPeriod.DAILY),
        "weekly": PlanFactory(price=Decimal("6.00"), billing_period=BillingPeriod.WEEKLY),
        "monthly": PlanFactory(price=Decimal("10.00"), billing_period=BillingPeriod.MONTHLY),
        "quarterly": PlanFactory(price=Decimal("30.00"), billing_period=BillingPeriod.QUARTERLY),
        "yearly": PlanFactory(price=Decimal("120.00"), billing_period=BillingPeriod.YEARLY),
        "usd": PlanFactory(
            price=Decimal("25.00"), currency="USD", billing_period=BillingPeriod.MONTHLY
        ),
        "once": PlanFactory(price=Decimal("50.00"), billing_period=BillingPeriod.ONE_TIME),
        "trial": PlanFactory(
            price=Decimal("8.00"), billing_period=BillingPeriod.MONTHLY, trial_days=14
        ),
    }
    business = Business()
    active, far = S.ACTIVE, at(12, 31)
    # Paying through both period ends: 36.50 + 26.00 + 10.00 + (10.00 + 5.00) + 20.00 + 0 a month.
    _subscription(business, "daily", plans["daily"], status=active, expires_at=far)
    _subscription(business, "weekly", plans["weekly"], status=active, expires_at=far)
    _subscription(business, "past-due", plans["monthly"], status=S.PAST_DUE, expires_at=at(3, 28))
    yearly = _subscription(business, "yearly", plans["yearly"], status=active, expires_at=far)
    AddOnSubscription.objects.create(
        user=yearly.user,
        subscription=yearly,
        addon=AddOnFactory(price=Decimal("5.00"), billing_period=BillingPeriod.MONTHLY),
        status=AddOnSubscriptionStatus.ACTIVE,
        starts_at=LONG_AGO,
        expires_at=far,
    )
    # A one-time add-on is no recurring revenue.
    AddOnSubscription.objects.create(
        user=yearly.user,
        subscription=yearly,
        addon=AddOnFactory(price=Decimal("40.00"), billing_period=BillingPeriod.ONE_TIME),
        status=AddOnSubscriptionStatus.ACTIVE,
        starts_at=LONG_AGO,
    )
    _subscription(business, "dollars", plans["usd"], status=active, expires_at=far)
    _subscription(business, "one-time", plans["once"], status=active)
    # New in March: paying at the period end only.
    _subscription(
        business, "quarterly", plans["quarterly"], joined=at(3, 10), status=active, expires_at=far
    )
    # Churned: cancelled on March 5, access ended on March 15.
    _subscription(
        business,
        "churned",
        plans["monthly"],
        status=S.CANCELLED,
        cancelled_at=at(3, 5),
        expires_at=at(3, 15),
    )
    # A trial from March 2 to 16, paid: its first paid period starts at the trial end.
    _subscription(
        business,
        "converted",
        plans["trial"],
        joined=at(3, 2),
        status=active,
        trial_end_at=at(3, 16),
        current_period_start=at(3, 16),
        expires_at=at(4, 16),
    )
    # A trial from March 5 to 19, never paid: past due, then expired on March 26.
    _subscription(
        business,
        "lapsed-trial",
        plans["trial"],
        joined=at(3, 5),
        status=S.EXPIRED,
        trial_end_at=at(3, 19),
        expires_at=at(3, 19),
    )
    # Still trialing at the period end.
    _subscription(
        business,
        "trialing",
        plans["trial"],
        joined=at(3, 25),
        status=S.TRIALING,
        trial_end_at=at(4, 8),
        expires_at=at(4, 8),
    )
    # Never paid: no access at all.
    pending = _subscription(business, "pending", plans["monthly"], status=S.PENDING)
    Subscription.objects.filter(pk=pending.pk).update(started_at=None, current_period_start=None)
    # Expired on February 10: churn of the previous period.
    _subscription(business, "expired", plans["monthly"], status=S.EXPIRED, expires_at=at(2, 3))
    # Paused on March 20: paying at the previous period end, not at this one.
    _subscription(
        business,
        "paused",
        plans["monthly"],
        status=S.PAUSED,
        paused_at=at(3, 20),
        expires_at=far,
    )
    # When each expiry happened (the row's last change).
    Subscription.objects.filter(pk=business.subscriptions["lapsed-trial"].pk).update(
        updated_at=at(3, 26)
    )
    Subscription.objects.filter(pk=business.subscriptions["expired"].pk).update(
        updated_at=at(2, 10)
    )
    # Registered in the previous period, without a subscription.
    _user(business, "browser", at(2, 20))
    _payments(business)
    return business


def _paid(user, amount: str, *, currency=None, on: datetime.datetime, reference: str):
    with time_machine.travel(on, tick=False):
        extra = {"currency": currency} if currency is not None else {}
        invoice = issue_invoice(user, [custom_draft(amount)], **extra)
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference=reference)
    invoice.refresh_from_db()
    assert invoice.total_amount == Decimal(amount)
    return invoice


def _payments(business: Business) -> None:
    """March: 100.00 EUR and 50.00 USD (40.00 EUR) captured, 20.00 EUR refunded, a failed
    attempt that counts for nothing; February: 30.00 EUR captured."""
    users = business.users
    march = _paid(users["daily"], "100.00", on=at(3, 10), reference="MAR-EUR")
    usd = Currency.objects.get(code="USD")
    _paid(users["dollars"], "50.00", currency=usd, on=at(3, 12), reference="MAR-USD")
    _paid(users["weekly"], "30.00", on=at(2, 15), reference="FEB-EUR")
    with time_machine.travel(at(3, 20), tick=False):
        invoice_refund(
            invoice_id=march.pk, amount=Decimal("20.00"), reason="Goodwill", record_only=True
        )
    with time_machine.travel(at(3, 11), tick=False):
        unpaid = issue_invoice(users["weekly"], [custom_draft("999.00")])
        Payment.objects.create(
            invoice=unpaid,
            user=users["weekly"],
            gateway="manual",
            amount=Decimal("999.00"),
            currency="EUR",
            status=PaymentStatus.FAILED,
            captured_at=at(3, 11),
        )

"""The checkout use case (docs/api/checkout.md): validation order and messages, what one
transaction creates, trials, zero totals, conversion, tax, fees, add-on binding and exclusive
categories."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod, Currency, PaymentMethod
from billing.catalog.periods import period_end
from billing.catalog.tests.factories import AddOnFactory, CategoryFactory, PlanFactory
from billing.catalog.tests.factories_payment_methods import PaymentMethodFactory
from billing.checkout.order import NO_ITEMS
from billing.checkout.services import (
    MESSAGE_AWAITING,
    MESSAGE_COMPLETE,
    MESSAGE_FREE_PLAN,
    MESSAGE_TRIAL,
    checkout_create,
)
from billing.checkout.signals import checkout_requested
from billing.invoices.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    LineType,
    NumberSequence,
)
from billing.invoices.services import invoice_mark_paid
from billing.invoices.tests.factories import buyer, de_vat
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.tests.factories import SubscriptionFactory
from tests.support.race import run_together
from tokens.models import PurchaseStatus, TokenBundlePurchase
from tokens.services.ledger import balance_of
from tokens.tests.factories import TokenBundleFactory
from vbwd.exceptions import DomainError

pytestmark = pytest.mark.django_db
# The invoice and its lines are one statement on PostgreSQL, two elsewhere.
INVOICE_WRITES = 1 if connection.vendor == "postgresql" else 2

D = Decimal


@pytest.fixture
def customer():
    """A German private buyer; no tax rate exists unless a test adds one (so 0 %)."""
    return buyer()


def pro(**kwargs):
    kwargs.setdefault("name", "Pro")
    kwargs.setdefault("price", D("29.99"))
    kwargs.setdefault("billing_period", BillingPeriod.MONTHLY)
    return PlanFactory(**kwargs)


def state() -> dict:
    """Everything a refused checkout must leave untouched."""
    return {
        "subscriptions": Subscription.objects.count(),
        "addon_subscriptions": AddOnSubscription.objects.count(),
        "purchases": TokenBundlePurchase.objects.count(),
        "invoices": Invoice.objects.count(),
        "lines": InvoiceLine.objects.count(),
        "sequences": sorted(NumberSequence.objects.values_list("series", "year", "last_value")),
        "audit": AuditEntry.objects.count(),
        "trial_flags": sorted(User.objects.values_list("email", "has_used_trial")),
    }


def refused(user, **kwargs) -> DomainError:
    before = state()
    with pytest.raises(DomainError) as caught:
        checkout_create(user=user, **kwargs)
    assert state() == before
    assert caught.value.status_code == 400
    return caught.value


def assert_refused(user, code: str, message: str, **kwargs) -> None:
    error = refused(user, **kwargs)
    assert (error.code, error.message) == (code, message)


def line_summary(invoice) -> list[tuple]:
    return [
        (line.type, line.description, line.unit_price, line.amount, line.tax_rate,
         line.tax_amount, line.gross_amount)
        for line in invoice.lines.order_by("position")
    ]  # fmt: skip


# --- validation: every refusal message, in the documented order ----------------------------------


def test_an_order_needs_at_least_one_item(customer):
    # A previous invoice exists, so a counter row is there to stay unchanged.
    checkout_create(user=customer, plan_id=str(pro().pk))
    for kwargs in ({}, {"plan_id": None, "token_bundle_ids": [], "add_on_ids": []},
                   {"plan_id": "", "token_bundle_ids": None, "add_on_ids": ""}):  # fmt: skip
        assert_refused(customer, "validation_error", NO_ITEMS, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"plan_id": "not-a-uuid"}, "Invalid plan_id format"),
        ({"plan_id": 42}, "Invalid plan_id format"),
        ({"token_bundle_ids": ["abc"]}, "Invalid token_bundle_id: abc"),
        ({"token_bundle_ids": [7]}, "Invalid token_bundle_id: 7"),
        ({"token_bundle_ids": "abc"}, "token_bundle_ids must be a list"),
        ({"add_on_ids": ["zzz"]}, "Invalid add_on_id: zzz"),
        ({"add_on_ids": {"id": 1}}, "add_on_ids must be a list"),
    ],
)
def test_malformed_ids_are_refused(customer, kwargs, message):
    assert_refused(customer, "validation_error", message, **kwargs)


def test_an_add_on_may_be_listed_once_and_bundles_at_most_fifty_times(customer):
    addon = AddOnFactory()
    bundle = TokenBundleFactory()
    assert_refused(
        customer,
        "validation_error",
        f"Duplicate add_on_id: {addon.pk}",
        add_on_ids=[str(addon.pk), str(addon.pk)],
    )
    assert_refused(
        customer,
        "validation_error",
        "token_bundle_ids may contain at most 50 entries",
        token_bundle_ids=[str(bundle.pk)] * 51,
    )
    result = checkout_create(user=customer, token_bundle_ids=[str(bundle.pk)] * 50)
    assert len(result.token_purchases) == 50
    assert result.invoice.lines.count() == 50


def test_the_currency_must_exist_and_be_active(customer):
    Currency.objects.create(code="GBP", name="Pound", symbol="£", exchange_rate=D("0.86"),
                            is_active=False)  # fmt: skip
    plan = pro()
    for code in ("XYZ", "GBP", 12):
        assert_refused(
            customer,
            "item_unavailable",
            f"Currency '{code}' is not supported",
            plan_id=str(plan.pk),
            currency=code,
        )


def test_the_plan_must_exist_and_be_active(customer):
    missing = uuid.uuid4()
    assert_refused(customer, "validation_error", "Plan not found", plan_id=str(missing))
    inactive = pro(is_active=False)
    assert_refused(customer, "item_unavailable", "Plan is not active", plan_id=str(inactive.pk))


def test_bundles_must_exist_and_be_active(customer):
    missing = uuid.uuid4()
    active = TokenBundleFactory()
    inactive = TokenBundleFactory(name="Old pack", is_active=False)
    assert_refused(
        customer,
        "validation_error",
        f"Token bundle {missing} not found",
        token_bundle_ids=[str(active.pk), str(missing)],
    )
    assert_refused(
        customer,
        "item_unavailable",
        "Token bundle Old pack is not active",
        token_bundle_ids=[str(active.pk), str(inactive.pk)],
    )


def test_add_ons_must_exist_be_active_and_have_their_plan_binding_met(customer):
    missing = uuid.uuid4()
    inactive = AddOnFactory(name="Legacy", is_active=False)
    bound = AddOnFactory(name="Priority support")
    bound.plans.add(pro(slug="bound-plan"))
    assert_refused(
        customer, "validation_error", f"Add-on {missing} not found", add_on_ids=[str(missing)]
    )
    assert_refused(
        customer, "item_unavailable", "Add-on Legacy is not active", add_on_ids=[str(inactive.pk)]
    )
    assert_refused(
        customer,
        "item_unavailable",
        "Add-on Priority support requires a subscription to one of its plans",
        add_on_ids=[str(bound.pk)],
    )
    # Buying another plan does not meet the binding either.
    assert_refused(
        customer,
        "item_unavailable",
        "Add-on Priority support requires a subscription to one of its plans",
        plan_id=str(pro().pk),
        add_on_ids=[str(bound.pk)],
    )


@pytest.mark.parametrize(
    "status",
    [SubscriptionStatus.PENDING, SubscriptionStatus.PAUSED, SubscriptionStatus.EXPIRED],
)
def test_a_subscription_without_access_does_not_meet_an_add_on_binding(customer, status):
    plan = pro()
    addon = AddOnFactory(name="Extra seats")
    addon.plans.add(plan)
    SubscriptionFactory(user=customer, plan=plan, status=status)
    assert_refused(
        customer,
        "item_unavailable",
        "Add-on Extra seats requires a subscription to one of its plans",
        add_on_ids=[str(addon.pk)],
    )


def test_the_payment_method_must_exist(customer):
    assert_refused(
        customer,
        "validation_error",
        "Payment method 'nope' not found",
        plan_id=str(pro().pk),
        payment_method_code="nope",
    )


@pytest.mark.parametrize(
    "method_fields",
    [
        {"is_active": False},
        {"plugin_id": "notinstalled"},  # its plugin is not enabled
        {"currencies": ["USD"]},
        {"countries": ["AT", "CH"]},
        {"max_amount": D("29.98")},
        {"min_amount": D("30.00")},
    ],
)
def test_the_payment_method_must_accept_the_order(customer, method_fields):
    PaymentMethodFactory(code="card", name="Card", **method_fields)
    assert_refused(
        customer,
        "item_unavailable",
        "Payment method 'Card' is not available for this order",
        plan_id=str(pro().pk),
        payment_method_code="card",
    )


def test_method_limits_compare_the_total_in_the_default_currency(customer):
    # 29.99 EUR plan bought in USD: 32.39 USD, which is 29.99 EUR again.
    PaymentMethodFactory(code="card", name="Card", max_amount=D("29.98"))
    plan = pro()
    assert_refused(
        customer,
        "item_unavailable",
        "Payment method 'Card' is not available for this order",
        plan_id=str(plan.pk),
        currency="USD",
        payment_method_code="card",
    )
    PaymentMethod.objects.filter(code="card").update(max_amount=D("29.99"))
    result = checkout_create(
        user=customer, plan_id=str(plan.pk), currency="USD", payment_method_code="card"
    )
    assert (result.invoice.total_amount, result.invoice.payment_method) == (D("32.39"), "card")


def test_the_method_country_is_the_sellers_without_a_billing_country():
    user = buyer(country=None)
    PaymentMethodFactory(code="card", name="Card", countries=["DE"])
    result = checkout_create(user=user, plan_id=str(pro().pk), payment_method_code="card")
    assert result.invoice.payment_method == "card"
    PaymentMethod.objects.filter(code="card").update(countries=["AT"])
    assert_refused(
        user,
        "item_unavailable",
        "Payment method 'Card' is not available for this order",
        plan_id=str(pro().pk),
        payment_method_code="card",
    )


def test_the_checks_run_in_the_documented_order(customer):
    inactive_plan = pro(is_active=False)
    inactive_bundle = TokenBundleFactory(name="Old", is_active=False)
    inactive_addon = AddOnFactory(name="Gone", is_active=False)
    # 2 (format) before 3 (currency)
    assert_refused(customer, "validation_error", "Invalid add_on_id: x",
                   plan_id=str(inactive_plan.pk), add_on_ids=["x"], currency="XYZ")  # fmt: skip
    # 3 (currency) before 4 (plan)
    assert_refused(customer, "item_unavailable", "Currency 'XYZ' is not supported",
                   plan_id=str(inactive_plan.pk), currency="XYZ")  # fmt: skip
    # 4 (plan) before 6 (bundles) and 7 (add-ons)
    assert_refused(customer, "item_unavailable", "Plan is not active",
                   plan_id=str(inactive_plan.pk), token_bundle_ids=[str(inactive_bundle.pk)],
                   add_on_ids=[str(inactive_addon.pk)])  # fmt: skip
    # 6 (bundles) before 7 (add-ons) and 8 (method)
    assert_refused(customer, "item_unavailable", "Token bundle Old is not active",
                   token_bundle_ids=[str(inactive_bundle.pk)],
                   add_on_ids=[str(inactive_addon.pk)], payment_method_code="nope")  # fmt: skip
    # 7 (add-ons) before 8 (method)
    assert_refused(customer, "item_unavailable", "Add-on Gone is not active",
                   add_on_ids=[str(inactive_addon.pk)], payment_method_code="nope")  # fmt: skip


def test_a_refused_checkout_sends_no_signal(customer):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    checkout_requested.connect(receiver, dispatch_uid="test-refused")
    try:
        refused(customer, plan_id=str(uuid.uuid4()))
    finally:
        checkout_requested.disconnect(dispatch_uid="test-refused")
    assert received == []


# --- exclusive categories -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.PAUSED,
    ],
)
def test_a_held_subscription_blocks_its_exclusive_category(customer, status):
    category = CategoryFactory(name="Main plans", is_single=True)
    basic, premium = pro(name="Basic"), pro(name="Premium")
    category.plans.add(basic, premium)
    SubscriptionFactory(user=customer, plan=basic, status=status)
    message = (
        "You already have an active subscription in category 'Main plans'. "
        "Upgrade or downgrade instead."
    )
    assert_refused(customer, "exclusive_category", message, plan_id=str(premium.pk))
    assert_refused(customer, "exclusive_category", message, plan_id=str(basic.pk))


@pytest.mark.parametrize(
    "status",
    [SubscriptionStatus.PENDING, SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED],
)
def test_other_states_and_other_users_do_not_block(customer, status):
    category = CategoryFactory(is_single=True)
    basic, premium = pro(name="Basic"), pro(name="Premium")
    category.plans.add(basic, premium)
    SubscriptionFactory(user=customer, plan=basic, status=status)
    SubscriptionFactory(plan=basic)  # someone else's
    result = checkout_create(user=customer, plan_id=str(premium.pk))
    assert result.subscription.status == SubscriptionStatus.PENDING


def test_non_exclusive_categories_allow_any_number(customer):
    category = CategoryFactory(is_single=False)
    plan = pro()
    category.plans.add(plan)
    SubscriptionFactory(user=customer, plan=plan)
    assert checkout_create(user=customer, plan_id=str(plan.pk)).subscription is not None


# --- what a checkout creates ----------------------------------------------------------------------


def test_a_priced_plan_opens_a_pending_subscription_and_its_invoice(
    customer, django_capture_on_commit_callbacks
):
    plan = pro(features={"default_tokens": 500})
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    checkout_requested.connect(receiver, dispatch_uid="test-pending")
    try:
        before = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            result = checkout_create(user=customer, plan_id=str(plan.pk))
            assert received == []  # only after commit
    finally:
        checkout_requested.disconnect(dispatch_uid="test-pending")

    subscription, invoice = result.subscription, result.invoice
    assert result.message == MESSAGE_AWAITING
    assert (result.zero_total, result.trial) == (False, False)
    assert (subscription.status, subscription.user_id, subscription.plan_id) == (
        SubscriptionStatus.PENDING, customer.pk, plan.pk)  # fmt: skip
    assert (subscription.started_at, subscription.current_period_start, subscription.expires_at,
            subscription.trial_end_at) == (None, None, None, None)  # fmt: skip
    assert subscription.payment_method == "invoice"
    assert (invoice.invoice_type, invoice.status, invoice.currency, invoice.exchange_rate) == (
        InvoiceType.CHECKOUT, InvoiceStatus.PENDING, "EUR", D("1"))  # fmt: skip
    assert (invoice.subscription_id, invoice.tarif_plan_id) == (subscription.pk, plan.pk)
    assert (invoice.payment_method, invoice.payment_method_name) == ("invoice", "Invoice")
    assert invoice.invoice_number == f"INV-{invoice.invoiced_at.year}-000001"
    assert before <= invoice.invoiced_at <= timezone.now()
    assert invoice.due_date == invoice.invoiced_at + datetime.timedelta(days=14)
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        D("29.99"), D("0.00"), D("29.99"))  # fmt: skip
    line = invoice.lines.get()
    assert (line.type, line.description, line.unit_price, line.item_id, line.catalog_item_id,
            line.period_start, line.period_end) == (
        LineType.SUBSCRIPTION, "Pro (monthly)", D("29.99"), subscription.pk, plan.pk, None, None
    )  # fmt: skip
    customer.refresh_from_db()
    assert customer.has_used_trial is False
    assert balance_of(customer) == 0  # tokens come with payment
    assert received == [
        {"signal": checkout_requested, "invoice": invoice, "user": customer,
         "subscription": subscription, "zero_total": False}
    ]  # fmt: skip
    actions = set(
        AuditEntry.objects.filter(subject_user_id=customer.pk).values_list("action", flat=True)
    )
    assert actions == {"subscription.created", "invoice.issued"}


def test_bundles_and_add_ons_become_pending_purchases_on_the_same_invoice(customer):
    plan = pro()
    bundle = TokenBundleFactory(name="Starter", token_amount=1000, price=D("9.99"))
    other = TokenBundleFactory(name="Big", token_amount=5000, price=D("39.00"))
    open_addon = AddOnFactory(name="Backup", price=D("4.50"), billing_period=BillingPeriod.YEARLY)
    bound_addon = AddOnFactory(name="Seats", price=D("3.00"))
    bound_addon.plans.add(plan)

    result = checkout_create(
        user=customer,
        plan_id=str(plan.pk),
        token_bundle_ids=[str(bundle.pk), str(other.pk), str(bundle.pk)],
        add_on_ids=[str(open_addon.pk), str(bound_addon.pk)],
    )

    invoice = result.invoice
    assert [(p.bundle_id, p.bundle_name, p.token_amount, p.price, p.currency, p.status,
             p.invoice_id, p.tokens_credited) for p in result.token_purchases] == [
        (bundle.pk, "Starter", 1000, D("9.99"), "EUR", PurchaseStatus.PENDING, invoice.pk, False),
        (other.pk, "Big", 5000, D("39.00"), "EUR", PurchaseStatus.PENDING, invoice.pk, False),
        (bundle.pk, "Starter", 1000, D("9.99"), "EUR", PurchaseStatus.PENDING, invoice.pk, False),
    ]  # fmt: skip
    assert TokenBundlePurchase.objects.filter(invoice=invoice).count() == 3
    # Both add-ons belong to the subscription bought with them.
    assert [(a.addon_id, a.status, a.subscription_id, a.invoice_id, a.starts_at, a.expires_at)
            for a in result.addon_subscriptions] == [
        (open_addon.pk, AddOnSubscriptionStatus.PENDING, result.subscription.pk, invoice.pk,
         None, None),
        (bound_addon.pk, AddOnSubscriptionStatus.PENDING, result.subscription.pk, invoice.pk,
         None, None),
    ]  # fmt: skip
    assert AddOnSubscription.objects.filter(invoice=invoice).count() == 2
    lines = list(invoice.lines.order_by("position"))
    assert [(line.type, line.description, line.unit_price, line.catalog_item_id)
            for line in lines] == [
        (LineType.SUBSCRIPTION, "Pro (monthly)", D("29.99"), plan.pk),
        (LineType.TOKEN_BUNDLE, "Starter (1000 tokens)", D("9.99"), bundle.pk),
        (LineType.TOKEN_BUNDLE, "Big (5000 tokens)", D("39.00"), other.pk),
        (LineType.TOKEN_BUNDLE, "Starter (1000 tokens)", D("9.99"), bundle.pk),
        (LineType.ADD_ON, "Backup (yearly)", D("4.50"), open_addon.pk),
        (LineType.ADD_ON, "Seats (monthly)", D("3.00"), bound_addon.pk),
    ]  # fmt: skip
    assert [line.item_id for line in lines] == [
        result.subscription.pk,
        *[purchase.pk for purchase in result.token_purchases],
        *[item.pk for item in result.addon_subscriptions],
    ]
    assert invoice.total_amount == D("96.47")


def test_add_ons_without_a_plan_belong_to_the_valid_subscription_on_their_plans(customer):
    plan, other_plan = pro(), pro(name="Other")
    held = SubscriptionFactory(user=customer, plan=plan)
    cancelled_but_running = SubscriptionFactory(
        user=customer, plan=other_plan, cancelled=True,
        expires_at=timezone.now() + datetime.timedelta(days=3),
    )  # fmt: skip
    bound = AddOnFactory(name="Seats")
    bound.plans.add(plan)
    bound_to_other = AddOnFactory(name="Boost")
    bound_to_other.plans.add(other_plan)
    everyone = AddOnFactory(name="Backup")

    result = checkout_create(
        user=customer, add_on_ids=[str(bound.pk), str(bound_to_other.pk), str(everyone.pk)]
    )

    assert result.subscription is None
    assert [item.subscription_id for item in result.addon_subscriptions] == [
        held.pk,
        cancelled_but_running.pk,
        None,
    ]
    assert (result.invoice.subscription_id, result.invoice.tarif_plan_id) == (None, None)
    assert result.message == MESSAGE_AWAITING


def test_an_add_on_bought_with_another_plan_belongs_to_the_subscription_it_is_bound_to(customer):
    bound_plan, other_plan = pro(name="Basic"), pro(name="Team")
    held = SubscriptionFactory(user=customer, plan=bound_plan)
    bound = AddOnFactory(name="Seats")
    bound.plans.add(bound_plan)
    everyone = AddOnFactory(name="Backup")
    result = checkout_create(
        user=customer, plan_id=str(other_plan.pk), add_on_ids=[str(bound.pk), str(everyone.pk)]
    )
    assert [item.subscription_id for item in result.addon_subscriptions] == [
        held.pk,
        result.subscription.pk,
    ]


def test_a_plan_with_trial_days_starts_the_one_trial(customer):
    plan = pro(trial_days=14)
    result = checkout_create(user=customer, plan_id=str(plan.pk))

    subscription, invoice = result.subscription, result.invoice
    trial_end = invoice.invoiced_at + datetime.timedelta(days=14)
    assert result.message == MESSAGE_TRIAL
    assert subscription.status == SubscriptionStatus.TRIALING
    assert (subscription.started_at, subscription.current_period_start) == (
        invoice.invoiced_at, invoice.invoiced_at)  # fmt: skip
    assert (subscription.trial_end_at, subscription.expires_at) == (trial_end, trial_end)
    customer.refresh_from_db()
    assert customer.has_used_trial is True
    assert invoice.due_date == trial_end
    assert invoice.status == InvoiceStatus.PENDING
    line = invoice.lines.get()
    assert (line.period_start, line.period_end) == (
        trial_end, period_end(trial_end, BillingPeriod.MONTHLY))  # fmt: skip
    assert line.unit_price == D("29.99")

    # The second trial plan is no trial.
    again = checkout_create(user=customer, plan_id=str(pro(trial_days=7).pk))
    assert again.subscription.status == SubscriptionStatus.PENDING
    assert again.subscription.trial_end_at is None
    assert again.message == MESSAGE_AWAITING
    assert again.invoice.due_date == again.invoice.invoiced_at + datetime.timedelta(days=14)
    assert again.invoice.lines.get().period_start is None


def test_a_used_trial_gives_a_pending_subscription():
    user = buyer()
    User.objects.filter(pk=user.pk).update(has_used_trial=True)
    user.refresh_from_db()
    result = checkout_create(user=user, plan_id=str(pro(trial_days=14).pk))
    assert (result.subscription.status, result.trial, result.message) == (
        SubscriptionStatus.PENDING, False, MESSAGE_AWAITING)  # fmt: skip


def test_a_zero_price_plan_activates_at_once_without_using_the_trial(
    customer, django_capture_on_commit_callbacks
):
    free = pro(name="Free", price=D("0"), trial_days=30, features={"default_tokens": 50})
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs["zero_total"])

    checkout_requested.connect(receiver, dispatch_uid="test-zero")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = checkout_create(
                user=customer, plan_id=str(free.pk), payment_method_code="not-even-a-method"
            )
    finally:
        checkout_requested.disconnect(dispatch_uid="test-zero")

    invoice, subscription = result.invoice, result.subscription
    assert result.message == MESSAGE_FREE_PLAN
    assert (result.zero_total, result.trial) == (True, False)
    assert (invoice.status, invoice.payment_ref, invoice.total_amount) == (
        InvoiceStatus.PAID, "zero-price", D("0.00"))  # fmt: skip
    assert invoice.payment_method is None
    assert invoice.payments.get().gateway == "zero"
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.started_at == invoice.paid_at
    assert subscription.expires_at == period_end(invoice.paid_at, BillingPeriod.MONTHLY)
    assert subscription.payment_method is None
    assert subscription.open_invoice_pk is None
    customer.refresh_from_db()
    assert customer.has_used_trial is False
    assert balance_of(customer) == 50
    assert received == [True]


def test_a_zero_total_without_a_plan_completes_the_purchases(customer):
    gift = TokenBundleFactory(name="Gift", token_amount=25, price=D("0"))
    free_addon = AddOnFactory(price=D("0"), billing_period=BillingPeriod.ONE_TIME)
    result = checkout_create(
        user=customer, token_bundle_ids=[str(gift.pk)], add_on_ids=[str(free_addon.pk)]
    )
    assert result.message == MESSAGE_COMPLETE
    assert result.invoice.status == InvoiceStatus.PAID
    (purchase,) = result.token_purchases
    assert (purchase.status, purchase.tokens_credited) == (PurchaseStatus.COMPLETED, True)
    (item,) = result.addon_subscriptions
    assert (item.status, item.expires_at) == (AddOnSubscriptionStatus.ACTIVE, None)
    assert item.invoice.status == InvoiceStatus.PAID
    assert balance_of(customer) == 25


# --- money: conversion, tax, fees -----------------------------------------------------------------


def test_prices_are_converted_into_the_invoice_currency(customer):
    plan = pro()
    bundle = TokenBundleFactory(price=D("9.99"))  # EUR
    addon = AddOnFactory(name="Seats", price=D("5.40"), currency="USD")
    result = checkout_create(
        user=customer,
        plan_id=str(plan.pk),
        token_bundle_ids=[str(bundle.pk)],
        add_on_ids=[str(addon.pk)],
        currency="usd",
    )
    invoice = result.invoice
    assert (invoice.currency, invoice.exchange_rate) == ("USD", D("1.080000"))
    # 29.99 × 1.08 = 32.3892 → 32.39; 9.99 × 1.08 = 10.7892 → 10.79; USD stays 5.40.
    assert [line[2] for line in line_summary(invoice)] == [D("32.39"), D("10.79"), D("5.40")]
    assert invoice.total_amount == D("48.58")
    assert (result.token_purchases[0].price, result.token_purchases[0].currency) == (
        D("10.79"), "USD")  # fmt: skip


def test_the_plan_currency_is_the_default_invoice_currency(customer):
    plan = pro(price=D("10.80"), currency="USD")
    bundle = TokenBundleFactory(price=D("5.00"))
    with_plan = checkout_create(
        user=customer, plan_id=str(plan.pk), token_bundle_ids=[str(bundle.pk)]
    )
    assert with_plan.invoice.currency == "USD"
    assert [line[2] for line in line_summary(with_plan.invoice)] == [D("10.80"), D("5.40")]
    # Without a plan: the default currency (USD 10.80 → EUR 10.00).
    addon = AddOnFactory(price=D("10.80"), currency="USD")
    without_plan = checkout_create(user=customer, add_on_ids=[str(addon.pk)])
    assert without_plan.invoice.currency == "EUR"
    assert without_plan.invoice.total_amount == D("10.00")


def test_german_vat_is_added_per_line(customer):
    de_vat()
    plan = pro()
    bundle = TokenBundleFactory(name="Starter", token_amount=1000, price=D("9.99"))
    result = checkout_create(user=customer, plan_id=str(plan.pk), token_bundle_ids=[str(bundle.pk)])
    invoice = result.invoice
    assert line_summary(invoice) == [
        (LineType.SUBSCRIPTION, "Pro (monthly)", D("29.99"), D("29.99"), D("19.00"), D("5.70"),
         D("35.69")),
        (LineType.TOKEN_BUNDLE, "Starter (1000 tokens)", D("9.99"), D("9.99"), D("19.00"),
         D("1.90"), D("11.89")),
    ]  # fmt: skip
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        D("39.98"), D("7.60"), D("47.58"))  # fmt: skip


def test_a_fixed_customer_fee_is_converted_and_taxed(customer):
    de_vat()
    PaymentMethodFactory(code="card", name="Card", fee_type="fixed", fee_amount=D("1.5000"),
                         fee_charged_to="customer")  # fmt: skip
    result = checkout_create(
        user=customer, plan_id=str(pro().pk), currency="USD", payment_method_code="card"
    )
    # 1.50 EUR → 1.62 USD, taxed at 19 %: 0.3078 → 0.31.
    assert line_summary(result.invoice) == [
        (LineType.SUBSCRIPTION, "Pro (monthly)", D("32.39"), D("32.39"), D("19.00"), D("6.15"),
         D("38.54")),
        (LineType.FEE, "Payment fee: Card", D("1.62"), D("1.62"), D("19.00"), D("0.31"),
         D("1.93")),
    ]  # fmt: skip
    assert result.invoice.total_amount == D("40.47")
    assert result.subscription.payment_method == "card"


def test_a_percentage_fee_is_a_share_of_the_net_items(customer):
    PaymentMethodFactory(code="card", name="Card", fee_type="percentage",
                         fee_amount=D("2.5000"), fee_charged_to="customer")  # fmt: skip
    bundle = TokenBundleFactory(price=D("9.99"))
    result = checkout_create(
        user=customer,
        plan_id=str(pro().pk),
        token_bundle_ids=[str(bundle.pk)],
        payment_method_code="card",
    )
    fee = result.invoice.lines.get(type=LineType.FEE)
    # 2.5 % of 39.98 = 0.9995 → 1.00 (ROUND_HALF_UP)
    assert (fee.description, fee.unit_price, fee.position) == ("Payment fee: Card (2.5 %)",
                                                               D("1.00"), 2)  # fmt: skip
    assert result.invoice.total_amount == D("40.98")


def test_a_fee_counts_towards_the_method_limits(customer):
    PaymentMethodFactory(code="card", name="Card", fee_type="fixed", fee_amount=D("1"),
                         max_amount=D("30.50"))  # fmt: skip
    assert_refused(
        customer,
        "item_unavailable",
        "Payment method 'Card' is not available for this order",
        plan_id=str(pro().pk),
        payment_method_code="card",
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"fee_type": "fixed", "fee_amount": D("1"), "fee_charged_to": "merchant"},
        {"fee_type": "none", "fee_amount": D("1"), "fee_charged_to": "customer"},
        {"fee_type": "percentage", "fee_amount": D("0"), "fee_charged_to": "customer"},
    ],
)
def test_no_fee_line_otherwise(customer, fields):
    PaymentMethodFactory(code="card", name="Card", **fields)
    result = checkout_create(user=customer, plan_id=str(pro().pk), payment_method_code="card")
    assert [line.type for line in result.invoice.lines.all()] == [LineType.SUBSCRIPTION]


def test_a_zero_total_has_no_fee(customer):
    PaymentMethod.objects.filter(code="invoice").update(fee_type="fixed", fee_amount=D("2"))
    result = checkout_create(user=customer, plan_id=str(pro(price=D("0")).pk))
    assert [line.type for line in result.invoice.lines.all()] == [LineType.SUBSCRIPTION]
    assert result.invoice.status == InvoiceStatus.PAID


# --- query count ----------------------------------------------------------------------------------


def test_the_query_count_is_bounded_and_does_not_grow_with_bundles(
    customer, django_assert_max_num_queries
):
    plan = pro()
    bundle = TokenBundleFactory()
    checkout_create(user=customer, token_bundle_ids=[str(bundle.pk)])  # warm caches
    with django_assert_max_num_queries(17 + INVOICE_WRITES):
        checkout_create(
            user=User.objects.get(pk=customer.pk),
            plan_id=str(plan.pk),
            token_bundle_ids=[str(bundle.pk)],
        )

    def queries(bundles: int) -> int:
        fresh = User.objects.get(pk=customer.pk)
        plan_id, add_on_id = str(pro().pk), str(AddOnFactory().pk)  # not the checkout's queries
        with CaptureQueriesContext(connection) as context:
            checkout_create(
                user=fresh,
                plan_id=plan_id,
                token_bundle_ids=[str(bundle.pk)] * bundles,
                add_on_ids=[add_on_id],
            )
        return len(context)

    one, twenty_one = queries(1), queries(21)
    assert one == 19 + INVOICE_WRITES
    # The purchases, the lines and the audit rows each go in with one insert, however many.
    assert twenty_one == one


def test_a_one_bundle_checkout_runs_eleven_queries(customer, django_assert_num_queries):
    bundle = TokenBundleFactory()
    checkout_create(user=customer, token_bundle_ids=[str(bundle.pk)])  # warm caches
    fresh = User.objects.get(pk=customer.pk)
    # Validation: currencies, billing details, tax rate, bundle, default payment method. The
    # transaction (a savepoint inside the test's, 2 queries): the purchase, the invoice number,
    # the invoice with its lines (one statement), the audit rows. Without a plan nothing is
    # decided on the buyer's row, so it is not locked.
    with django_assert_num_queries(10 + INVOICE_WRITES):
        result = checkout_create(user=fresh, token_bundle_ids=[str(bundle.pk)])
    assert result.invoice.status == InvoiceStatus.PENDING
    assert [line.item_id for line in result.invoice.lines.all()] == [result.token_purchases[0].pk]
    assert TokenBundlePurchase.objects.get(pk=result.token_purchases[0].pk).invoice_id == (
        result.invoice.pk
    )
    assert sorted(
        AuditEntry.objects.filter(subject_user_id=customer.pk).values_list("action", flat=True)
    ) == ["invoice.issued", "invoice.issued", "token_bundle_purchase.created",
          "token_bundle_purchase.created"]  # fmt: skip


def test_the_invoice_number_is_taken_last_so_its_counter_is_held_briefly(customer):
    # The counter row stays locked from its update to the commit, and every concurrent issue
    # of the series waits for it: only the invoice itself and the audit rows follow it.
    bundle = TokenBundleFactory()
    checkout_create(user=customer, token_bundle_ids=[str(bundle.pk)])  # warm caches
    fresh = User.objects.get(pk=customer.pk)
    with CaptureQueriesContext(connection) as context:
        checkout_create(user=fresh, token_bundle_ids=[str(bundle.pk)])
    statements = [query["sql"] for query in context.captured_queries]
    counter = next(
        index for index, sql in enumerate(statements) if "invoices_numbersequence" in sql
    )
    after = [sql for sql in statements[counter + 1 :] if not sql.startswith("RELEASE SAVEPOINT")]
    assert len(after) == 2, after
    assert after[0].startswith('WITH written_0 AS (INSERT INTO "invoices_invoice"')
    assert after[1].startswith('INSERT INTO "audit_auditentry"')


def test_staff_capture_of_a_one_bundle_checkout_runs_ten_queries(
    customer, django_assert_num_queries
):
    bundle = TokenBundleFactory(token_amount=100)
    invoice = checkout_create(user=customer, token_bundle_ids=[str(bundle.pk)]).invoice
    # In a savepoint inside the test's transaction (2 queries): the invoice locked with its
    # owner, billing details and currency places, its lines; the payment inserted captured
    # (INSERT … ON CONFLICT DO NOTHING), the invoice marked paid, the purchase completed and
    # locked (UPDATE … RETURNING), the balance raised (one upsert that creates and locks it),
    # the ledger row, and the 4 audit rows in one insert.
    with django_assert_num_queries(10):
        result = invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="T-1")
    assert result.invoice.status == InvoiceStatus.PAID
    assert balance_of(customer) == 100
    assert TokenBundlePurchase.objects.get(invoice=invoice).status == PurchaseStatus.COMPLETED


# --- concurrency (PostgreSQL) ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_trials_in_one_exclusive_category_give_one_subscription():
    user = buyer()
    category = CategoryFactory(is_single=True, name="Main")
    plans = [pro(name=f"Plan {n}", trial_days=14) for n in range(4)]
    category.plans.add(*plans)

    def run(plan):
        return checkout_create(user=User.objects.get(pk=user.pk), plan_id=str(plan.pk))

    def outcome(result):
        if isinstance(result, DomainError):
            return result.code
        if isinstance(result, Exception):
            raise result
        return result.subscription.status

    outcomes = [outcome(result) for result in run_together([partial(run, plan) for plan in plans])]

    assert sorted(outcomes) == ["TRIALING"] + ["exclusive_category"] * 3
    assert Subscription.objects.filter(user=user).count() == 1
    assert Invoice.objects.count() == 1

"""Invoices, payments and credit notes are financial records of an account: they
force anonymisation instead of deletion and outlive it unchanged."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import User, UserDetails, UserStatus
from audit.models import AuditEntry
from billing.invoices.models import CreditNote, Invoice, InvoiceStatus, Payment
from billing.invoices.tests.factories import (
    AddOnFactory,
    PlanFactory,
    TokenBundleFactory,
    addon_draft,
    addon_subscription,
    bundle_draft,
    bundle_purchase,
    buyer,
    de_vat,
    issue_invoice,
    paid_invoice,
    subscription,
    subscription_draft,
)
from billing.subscriptions.models import AddOnSubscriptionStatus, SubscriptionStatus
from tokens.models import PurchaseStatus, TokenTransaction, TokenTransactionType
from tokens.services import balance_of

pytestmark = pytest.mark.django_db

USERS = "/api/v1/admin/users"


@pytest.fixture
def customer():
    """A paid checkout (plan with 500 tokens, add-on, 1000-token bundle), an open invoice for a
    second bundle with a pending plan subscription, and one credit note."""
    de_vat()
    user = buyer(email="erika@example.com", company="Muster GmbH", phone="+49221123456")
    sub = subscription(user, PlanFactory(price=Decimal("29.99"), features={"default_tokens": 500}))
    item = addon_subscription(user, AddOnFactory(price=Decimal("15.00")), subscription=sub)
    purchase = bundle_purchase(user, TokenBundleFactory(token_amount=1000, price=Decimal("10")))
    paid = paid_invoice(
        user, [subscription_draft(sub), addon_draft(item), bundle_draft(purchase)], reference="T-1"
    )
    pending_sub = subscription(user, PlanFactory(price=Decimal("5.00")))
    pending_purchase = bundle_purchase(user, TokenBundleFactory(token_amount=50))
    open_invoice = issue_invoice(
        user, [subscription_draft(pending_sub), bundle_draft(pending_purchase)]
    )
    CreditNote.objects.create(
        credit_note_number="CN-2026-000001",
        invoice=paid,
        user=user,
        payment=paid.payments.get(),
        currency="EUR",
        net_amount=Decimal("1.00"),
        tax_amount=Decimal("0.19"),
        amount=Decimal("1.19"),
        reason="Goodwill",
    )
    user.scenario = {
        "paid": paid,
        "open": open_invoice,
        "sub": sub,
        "item": item,
        "pending_sub": pending_sub,
        "pending_purchase": pending_purchase,
    }
    return user


def test_deletion_info_counts_invoices_payments_and_subscriptions(admin_client, customer):
    response = admin_client.get(f"{USERS}/{customer.pk}/deletion-info")

    assert response.status_code == 200
    assert response.json() == {
        "user_id": str(customer.pk),
        "email": "erika@example.com",
        "has_cascade_dependencies": True,
        "invoice_count": 2,
        "subscription_count": 2,
        "payment_count": 1,
        "token_balance": 1500,
        "action": "ANONYMISE",
    }


def test_an_unpaid_invoice_alone_is_a_financial_record(admin_client):
    de_vat()
    user = buyer()
    issue_invoice(user)

    body = admin_client.get(f"{USERS}/{user.pk}/deletion-info").json()

    assert (body["has_cascade_dependencies"], body["action"]) == (True, "ANONYMISE")
    assert (body["invoice_count"], body["payment_count"], body["token_balance"]) == (1, 0, 0)


def test_delete_without_force_is_refused_and_changes_nothing(admin_client, customer):
    response = admin_client.delete(f"{USERS}/{customer.pk}")

    assert response.status_code == 409
    assert response.json() == {
        "error": "User has financial records (2 invoices). "
        "Pass force=true to anonymise the account instead.",
        "code": "has_dependencies",
        "has_dependencies": True,
        "invoice_count": 2,
        "subscription_count": 2,
    }
    customer.refresh_from_db()
    assert customer.status == UserStatus.ACTIVE
    assert Invoice.objects.get(pk=customer.scenario["open"].pk).status == InvoiceStatus.PENDING
    assert balance_of(customer) == 1500


@pytest.mark.parametrize("how", ["query", "body"])
def test_forced_delete_anonymises_and_keeps_every_financial_record(admin_client, customer, how):
    scenario = customer.scenario
    paid_snapshot = dict(scenario["paid"].billing_address)
    open_snapshot = dict(scenario["open"].billing_address)
    before = timezone.now()

    if how == "query":
        response = admin_client.delete(f"{USERS}/{customer.pk}?force=true")
    else:
        response = admin_client.delete(f"{USERS}/{customer.pk}", {"force": True}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["message"], body["action"]) == (
        "User anonymised; financial records were kept",
        "ANONYMISED",
    )
    assert body["user"]["email"] == f"deleted-{customer.pk}@anonymised.invalid"
    user = User.objects.get(pk=customer.pk)
    assert user.status == UserStatus.DELETED
    details = UserDetails.objects.get(user=user)
    assert (details.company, details.city, details.country, details.phone) == (
        None,
        None,
        None,
        None,
    )

    # Invoices, payments and credit notes are kept, their buyer snapshots unchanged.
    paid = Invoice.objects.get(pk=scenario["paid"].pk)
    assert paid.status == InvoiceStatus.PAID
    assert paid.billing_address == paid_snapshot
    assert paid.billing_address["email"] == "erika@example.com"
    assert paid.billing_address["company"] == "Muster GmbH"
    assert paid.user_id == customer.pk
    assert Payment.objects.filter(user=customer).count() == 1
    assert CreditNote.objects.filter(user=customer).count() == 1

    # The open invoice is voided, with its pending purchases.
    voided = Invoice.objects.get(pk=scenario["open"].pk)
    assert voided.status == InvoiceStatus.CANCELLED
    assert voided.cancelled_at >= before
    assert voided.billing_address == open_snapshot
    entry = AuditEntry.objects.get(action="invoice.voided", object_id=str(voided.pk))
    assert (entry.actor_id, entry.reason) == (admin_client.user.pk, "Account anonymised")
    pending_purchase = scenario["pending_purchase"]
    pending_purchase.refresh_from_db()
    assert pending_purchase.status == PurchaseStatus.CANCELLED

    # Current subscriptions and add-ons end with immediate effect.
    sub, item, pending_sub = scenario["sub"], scenario["item"], scenario["pending_sub"]
    for row in (sub, item, pending_sub):
        row.refresh_from_db()
    assert sub.status == SubscriptionStatus.CANCELLED
    assert before <= sub.expires_at <= timezone.now()
    assert sub.is_valid is False
    assert item.status == AddOnSubscriptionStatus.CANCELLED
    assert before <= item.expires_at <= timezone.now()
    assert pending_sub.status == SubscriptionStatus.CANCELLED

    # The token balance is zeroed through the ledger, which is kept.
    assert balance_of(customer) == 0
    adjustment = TokenTransaction.objects.get(
        user=customer, transaction_type=TokenTransactionType.ADJUSTMENT
    )
    assert (adjustment.amount, adjustment.description) == (-1500, "Account anonymised")
    assert TokenTransaction.objects.filter(user=customer).count() == 3

    info = admin_client.get(f"{USERS}/{customer.pk}/deletion-info").json()
    assert (info["invoice_count"], info["payment_count"], info["token_balance"]) == (2, 1, 0)


def test_a_trial_is_ended_by_anonymisation(admin_client):
    de_vat()
    user = buyer()
    trial_end = timezone.now() + datetime.timedelta(days=10)
    sub = subscription(user, status=SubscriptionStatus.TRIALING, trial_end_at=trial_end)
    invoice = issue_invoice(user, [subscription_draft(sub)], due_date=trial_end)

    response = admin_client.delete(f"{USERS}/{user.pk}?force=true")

    assert response.status_code == 200
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.CANCELLED
    assert sub.expires_at <= timezone.now()
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.CANCELLED


def test_anonymisation_announces_each_ended_subscription(
    admin_client, django_capture_on_commit_callbacks
):
    from billing.subscriptions.signals import subscription_cancelled

    user = buyer()
    sub = subscription(user, status=SubscriptionStatus.TRIALING)
    issue_invoice(user, [subscription_draft(sub)])  # a financial record: anonymise
    received = []
    subscription_cancelled.connect(
        lambda **kwargs: received.append((kwargs["subscription"].pk, kwargs["reason"])),
        weak=False,
        dispatch_uid="test-anonymised",
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.delete(f"{USERS}/{user.pk}?force=true")
    finally:
        subscription_cancelled.disconnect(dispatch_uid="test-anonymised")

    assert response.status_code == 200
    assert received == [(sub.pk, "account_anonymised")]


def test_a_user_whose_only_subscription_was_complimentary_is_deleted(admin_client):
    user = buyer()
    subscription(user, status=SubscriptionStatus.ACTIVE)

    response = admin_client.delete(f"{USERS}/{user.pk}")

    assert (response.status_code, response.json()["action"]) == (200, "DELETED")
    assert not User.objects.filter(pk=user.pk).exists()

"""The demo customer's invoices from ``manage.py seed_demo``."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEntry
from billing.demo import seed_billing
from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType, LineType, Payment
from billing.subscriptions.models import Subscription, SubscriptionStatus
from tokens.models import PurchaseStatus, TokenBundlePurchase, TokenTransaction
from tokens.services import balance_of

pytestmark = pytest.mark.django_db


def _seed_twice() -> User:
    first, second = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    assert "billing: 2 demo invoice(s) issued" in first.getvalue()
    assert "billing: 0 demo invoice(s) issued" in second.getvalue()
    return User.objects.get(email="test@example.com")


def test_the_demo_customer_has_one_paid_and_one_pending_invoice():
    customer = _seed_twice()
    year = timezone.now().year

    invoices = {invoice.status: invoice for invoice in Invoice.objects.filter(user=customer)}
    assert Invoice.objects.count() == 2
    assert sorted(invoices) == [InvoiceStatus.PAID, InvoiceStatus.PENDING]

    paid = invoices[InvoiceStatus.PAID]
    assert paid.invoice_number == f"INV-{year}-000001"
    assert paid.invoice_type == InvoiceType.CHECKOUT
    assert (paid.subtotal, paid.tax_amount, paid.total_amount) == (
        Decimal("9.99"),
        Decimal("1.90"),
        Decimal("11.89"),
    )
    assert paid.payment_ref == "DEMO-TRANSFER"
    assert (paid.payment_method, paid.payment_method_name) == ("invoice", "Invoice")
    assert paid.billing_address["country"] == "DE"
    assert paid.billing_address["city"] == "Berlin"
    assert paid.billing_address["email"] == "test@example.com"
    line = paid.lines.get()
    assert (line.type, line.description) == (LineType.SUBSCRIPTION, "Basic (monthly)")
    payment = Payment.objects.get(invoice=paid)
    assert (payment.gateway, payment.external_id, payment.amount) == (
        "manual",
        "DEMO-TRANSFER",
        Decimal("11.89"),
    )
    entry = AuditEntry.objects.get(action="invoice.paid", object_id=str(paid.pk))
    assert entry.actor_email == "admin@example.com"

    subscription = Subscription.objects.get(user=customer)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.plan.slug == "basic"
    assert paid.subscription_id == subscription.pk
    assert line.item_id == subscription.pk
    assert subscription.expires_at > timezone.now()
    assert balance_of(customer) == 100  # Basic's default_tokens, credited once
    assert TokenTransaction.objects.filter(user=customer).count() == 1

    pending = invoices[InvoiceStatus.PENDING]
    assert pending.invoice_number == f"INV-{year}-000002"
    assert (pending.subtotal, pending.tax_amount, pending.total_amount) == (
        Decimal("10.00"),
        Decimal("1.90"),
        Decimal("11.90"),
    )
    assert pending.is_payable is True
    purchase = TokenBundlePurchase.objects.get(user=customer)
    assert (purchase.status, purchase.token_amount, purchase.invoice_id) == (
        PurchaseStatus.PENDING,
        1000,
        pending.pk,
    )
    assert pending.lines.get().item_id == purchase.pk


def test_seed_billing_without_the_demo_customer_does_nothing():
    assert seed_billing() == 0
    assert not Invoice.objects.exists()


def test_the_paid_plan_is_not_seeded_while_the_customer_holds_a_plan():
    from accounts.demo import seed_accounts
    from billing.catalog.demo import seed_catalog
    from billing.catalog.models import Plan
    from tokens.demo import seed_bundles

    seed_accounts()
    seed_catalog()
    seed_bundles()
    customer = User.objects.get(email="test@example.com")
    Subscription.objects.create(
        user=customer, plan=Plan.objects.get(slug="pro"), status=SubscriptionStatus.ACTIVE
    )

    assert seed_billing() == 1  # only the pending bundle invoice
    assert Invoice.objects.get().status == InvoiceStatus.PENDING
    assert seed_billing() == 0

"""Demo invoices for ``manage.py seed_demo`` (idempotent).

The demo customer (``accounts.demo.DEMO_USER``) gets a German billing address, a PAID checkout
invoice for the Basic plan (marked paid by bank transfer ``DEMO-TRANSFER``, so the subscription is
ACTIVE and the plan's tokens are credited) and a PENDING invoice for the 1000 Tokens bundle.
Runs after the demo accounts and the demo catalog; a second run creates nothing.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.demo import DEMO_ADMIN, DEMO_USER, DEMO_USER_DETAILS
from accounts.models import UserDetails
from billing.catalog.models import Currency, PaymentMethod, Plan
from billing.catalog.selectors import default_currency
from billing.invoices.lines import bundle_description
from billing.invoices.models import InvoiceType, LineType, Payment
from billing.invoices.services import LineDraft, invoice_issue, invoice_mark_paid
from billing.subscriptions.models import HOLDING_STATUSES, Subscription
from billing.subscriptions.services import subscription_create
from tokens.models import TokenBundle, TokenBundlePurchase
from tokens.services.purchases import token_bundle_purchase_create

DEMO_PLAN_SLUG = "basic"
DEMO_BUNDLE_NAME = "1000 Tokens"
DEMO_REFERENCE = "DEMO-TRANSFER"
DEMO_METHOD_CODE = "invoice"
ACTOR_LABEL = "seed_demo"


def seed_billing() -> int:
    """Creates whatever of the demo invoices is missing; returns how many invoices it issued."""
    user_model = get_user_model()
    with transaction.atomic():
        customer = user_model.objects.filter(email=DEMO_USER[0]).first()
        if customer is None:
            return 0
        customer = user_model.objects.select_for_update().get(pk=customer.pk)
        _billing_details(customer)
        staff = user_model.objects.filter(email=DEMO_ADMIN[0]).first()
        method = PaymentMethod.objects.filter(code=DEMO_METHOD_CODE, is_active=True).first()
        return _paid_plan_invoice(customer, staff, method) + _pending_bundle_invoice(
            customer, method
        )


def _billing_details(customer) -> None:
    """Fills the empty billing fields with the demo German address; filled ones are kept."""
    details, _created = UserDetails.objects.get_or_create(user=customer)
    missing = {
        field: value for field, value in DEMO_USER_DETAILS.items() if not getattr(details, field)
    }
    if missing:
        UserDetails.objects.filter(pk=details.pk).update(**missing)
    customer.details = UserDetails.objects.get(pk=details.pk)


def _paid_plan_invoice(customer, staff, method) -> int:
    """The Basic plan, paid: skipped once paid before, or while the customer holds any plan."""
    plan = Plan.objects.filter(slug=DEMO_PLAN_SLUG).first()
    if plan is None:
        return 0
    if Payment.objects.filter(user=customer, gateway="manual", external_id=DEMO_REFERENCE).exists():
        return 0
    if Subscription.objects.filter(user=customer, status__in=HOLDING_STATUSES).exists():
        return 0
    now = timezone.now()
    currency = _currency(plan.currency)
    subscription = subscription_create(
        user=customer, plan=plan, now=now, payment_method=method.code if method else None
    )
    invoice = invoice_issue(
        user=customer,
        invoice_type=InvoiceType.CHECKOUT,
        currency=currency,
        drafts=[
            LineDraft(
                type=LineType.SUBSCRIPTION,
                description=f"{plan.name} ({plan.billing_period.lower()})",
                unit_price=plan.price,
                item_id=subscription.pk,
                catalog_item_id=plan.pk,
            )
        ],
        payment_method=method,
        subscription_id=subscription.pk,
        tarif_plan_id=plan.pk,
        actor_label=ACTOR_LABEL,
        now=now,
    )
    invoice_mark_paid(
        invoice_id=invoice.pk,
        actor=staff,
        payment_reference=DEMO_REFERENCE,
        method_label="bank transfer",
        reason="Demo data",
    )
    return 1


def _pending_bundle_invoice(customer, method) -> int:
    """The 1000 Tokens bundle, awaiting payment by bank transfer."""
    bundle = TokenBundle.objects.filter(name=DEMO_BUNDLE_NAME).first()
    if bundle is None:
        return 0
    if TokenBundlePurchase.objects.filter(user=customer, bundle=bundle).exists():
        return 0
    currency = _currency(bundle.currency)
    purchase = token_bundle_purchase_create(
        user=customer, bundle=bundle, price=bundle.price, currency=currency.code
    )
    invoice = invoice_issue(
        user=customer,
        invoice_type=InvoiceType.CHECKOUT,
        currency=currency,
        drafts=[
            LineDraft(
                type=LineType.TOKEN_BUNDLE,
                description=bundle_description(bundle.name, bundle.token_amount),
                unit_price=bundle.price,
                item_id=purchase.pk,
                catalog_item_id=bundle.pk,
            )
        ],
        payment_method=method,
        actor_label=ACTOR_LABEL,
    )
    TokenBundlePurchase.objects.filter(pk=purchase.pk).update(invoice=invoice)
    return 1


def _currency(code: str) -> Currency:
    """The catalog item's own currency (the demo catalog is in the default currency)."""
    return Currency.objects.filter(code=code).first() or default_currency()

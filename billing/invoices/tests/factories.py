"""Test helpers for invoices: buyers with billing details, a German VAT rate, purchases and issued
or paid invoices built through the real services."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from accounts.models import UserDetails
from accounts.tests.factories import UserFactory
from billing.catalog.models import BillingPeriod, Currency, PaymentMethod, TaxRate
from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from billing.invoices.models import InvoiceType, LineType
from billing.invoices.services import LineDraft, invoice_issue, invoice_mark_paid
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from tokens.models import PurchaseStatus, TokenBundlePurchase
from tokens.tests.factories import TokenBundleFactory

GERMAN_ADDRESS = {
    "first_name": "Erika",
    "last_name": "Mustermann",
    "company": None,
    "tax_number": None,
    "address_line_1": "Heidestraße 17",
    "address_line_2": None,
    "city": "Köln",
    "state": None,
    "postal_code": "51147",
    "country": "DE",
}

__all__ = [
    "GERMAN_ADDRESS",
    "AddOnFactory",
    "PlanFactory",
    "TokenBundleFactory",
    "addon_draft",
    "addon_subscription",
    "bundle_draft",
    "bundle_purchase",
    "buyer",
    "de_vat",
    "eur",
    "invoice_method",
    "issue_invoice",
    "paid_invoice",
    "set_billing_details",
    "subscription",
    "subscription_draft",
    "tax_rate",
]


def eur() -> Currency:
    return Currency.objects.get(code="EUR")


def invoice_method() -> PaymentMethod:
    """The bank-transfer method the reference data migration creates (code ``invoice``)."""
    return PaymentMethod.objects.get(code="invoice")


def set_billing_details(user, **fields) -> UserDetails:
    """Creates or updates ``user``'s billing details (German address unless overridden)."""
    values = {**GERMAN_ADDRESS, **fields}
    details, _created = UserDetails.objects.update_or_create(user=user, defaults=values)
    user.details = details
    return details


def buyer(*, email: str | None = None, **details) -> object:
    """A customer with billing details: a German private buyer unless ``details`` say otherwise."""
    kwargs = {"email": email} if email else {}
    user = UserFactory(**kwargs)
    set_billing_details(user, **details)
    return user


def tax_rate(
    country_code: str = "DE",
    rate: str | Decimal = "19.00",
    *,
    name: str = "MwSt.",
    is_inclusive: bool = False,
    valid_from: datetime.date = datetime.date(2020, 1, 1),
    valid_to: datetime.date | None = None,
    code: str | None = None,
) -> TaxRate:
    return TaxRate.objects.create(
        country_code=country_code,
        name=name,
        code=code or f"VAT_{country_code}_{rate}_{valid_from.isoformat()}",
        rate=Decimal(str(rate)),
        is_inclusive=is_inclusive,
        is_active=True,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def de_vat() -> TaxRate:
    """German VAT: 19 %, exclusive, valid since 2020-01-01 (created once)."""
    existing = TaxRate.objects.filter(code="VAT_DE_TEST").first()
    return existing or tax_rate("DE", "19.00", code="VAT_DE_TEST")


# Purchases (what invoice lines activate) -------------------------------------------------------


def subscription(
    user, plan=None, *, status: str = SubscriptionStatus.PENDING, trial_end_at=None, **kwargs
) -> Subscription:
    plan = plan or PlanFactory()
    if status == SubscriptionStatus.TRIALING and trial_end_at is None:
        trial_end_at = timezone.now() + datetime.timedelta(days=plan.trial_days or 14)
    return Subscription.objects.create(
        user=user,
        plan=plan,
        status=status,
        trial_end_at=trial_end_at,
        started_at=timezone.now() if status == SubscriptionStatus.TRIALING else None,
        current_period_start=timezone.now() if status == SubscriptionStatus.TRIALING else None,
        expires_at=trial_end_at if status == SubscriptionStatus.TRIALING else None,
        payment_method=kwargs.pop("payment_method", "invoice"),
        **kwargs,
    )


def addon_subscription(
    user, addon=None, *, status: str = AddOnSubscriptionStatus.PENDING, **kwargs
) -> AddOnSubscription:
    addon = addon or AddOnFactory()
    return AddOnSubscription.objects.create(user=user, addon=addon, status=status, **kwargs)


def bundle_purchase(user, bundle=None, *, status: str = PurchaseStatus.PENDING, **kwargs):
    bundle = bundle or TokenBundleFactory()
    return TokenBundlePurchase.objects.create(
        user=user,
        bundle=bundle,
        bundle_name=bundle.name,
        status=status,
        token_amount=bundle.token_amount,
        price=bundle.price,
        currency=bundle.currency,
        **kwargs,
    )


# Line drafts -----------------------------------------------------------------------------------


def subscription_draft(sub: Subscription, *, unit_price=None, **kwargs) -> LineDraft:
    plan = sub.plan
    return LineDraft(
        type=LineType.SUBSCRIPTION,
        description=kwargs.pop("description", f"{plan.name} ({plan.billing_period.lower()})"),
        unit_price=Decimal(str(unit_price)) if unit_price is not None else plan.price,
        item_id=sub.pk,
        catalog_item_id=plan.pk,
        **kwargs,
    )


def addon_draft(item: AddOnSubscription, *, unit_price=None, **kwargs) -> LineDraft:
    addon = item.addon
    return LineDraft(
        type=LineType.ADD_ON,
        description=kwargs.pop("description", addon.name),
        unit_price=Decimal(str(unit_price)) if unit_price is not None else addon.price,
        item_id=item.pk,
        catalog_item_id=addon.pk,
        **kwargs,
    )


def bundle_draft(purchase: TokenBundlePurchase, *, unit_price=None, **kwargs) -> LineDraft:
    return LineDraft(
        type=LineType.TOKEN_BUNDLE,
        description=kwargs.pop("description", purchase.bundle_name),
        unit_price=Decimal(str(unit_price)) if unit_price is not None else purchase.price,
        item_id=purchase.pk,
        catalog_item_id=purchase.bundle_id,
        **kwargs,
    )


def custom_draft(unit_price="9.99", *, description: str = "Service", **kwargs) -> LineDraft:
    return LineDraft(
        type=LineType.CUSTOM,
        description=description,
        unit_price=Decimal(str(unit_price)),
        **kwargs,
    )


# Invoices --------------------------------------------------------------------------------------


def issue_invoice(user=None, drafts=None, **kwargs):
    """``invoice_issue`` with defaults: EUR, CHECKOUT, the ``invoice`` payment method and one
    CUSTOM line of 9.99 when no drafts are given. A SUBSCRIPTION draft sets ``subscription_id``
    and ``tarif_plan_id`` unless given."""
    user = user or buyer()
    drafts = drafts if drafts is not None else [custom_draft()]
    kwargs.setdefault("invoice_type", InvoiceType.CHECKOUT)
    kwargs.setdefault("currency", eur())
    if "payment_method" not in kwargs:
        kwargs["payment_method"] = invoice_method()
    if "subscription_id" not in kwargs:
        for draft in drafts:
            if draft.type == LineType.SUBSCRIPTION and draft.item_id is not None:
                kwargs["subscription_id"] = draft.item_id
                kwargs.setdefault("tarif_plan_id", draft.catalog_item_id)
                break
    return invoice_issue(user=user, drafts=drafts, **kwargs)


def paid_invoice(user=None, drafts=None, *, reference: str = "TRANSFER-1", actor=None, **kwargs):
    """An issued invoice marked paid by staff (gateway ``manual``), reloaded."""
    invoice = issue_invoice(user, drafts, **kwargs)
    invoice_mark_paid(invoice_id=invoice.pk, actor=actor, payment_reference=reference)
    invoice.refresh_from_db()
    return invoice


def monthly_plan(**kwargs):
    kwargs.setdefault("billing_period", BillingPeriod.MONTHLY)
    return PlanFactory(**kwargs)

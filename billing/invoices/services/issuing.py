"""Issuing invoices: tax per line, snapshots, a gapless number, all in the caller's transaction."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing.catalog.models import Currency, PaymentMethod
from billing.invoices.models import Invoice, InvoiceLine, InvoiceStatus
from billing.invoices.pdf_store import pdfs_store_on_commit
from billing.invoices.services.numbering import INVOICE_SERIES, number_allocate
from billing.invoices.signals import invoice_issued
from billing.invoices.tax import LineAmounts, TaxTreatment, line_amounts, tax_treatment
from platform_settings.selectors import platform_settings_get, seller_details_missing
from vbwd.bulk import insert_together
from vbwd.exceptions import ServiceUnavailable

SELLER_FIELDS = (
    "company_name",
    "address_street",
    "address_city",
    "address_postal_code",
    "address_country",
    "vat_id",
    "company_contact_name",
    "company_phone",
    "company_register_id",
    "bank_account_holder",
    "bank_name",
    "bank_iban",
    "bank_bic",
)


@dataclass
class LineDraft:
    """One line to issue. ``unit_price`` is in the invoice currency: a catalog price (gross when
    the buyer country's prices include tax) unless ``price_is_net``; ``tax_rate`` forces a rate
    (a duplicated line keeps its original rate)."""

    type: str
    description: str
    unit_price: Decimal
    quantity: int = 1
    item_id: Any = None
    catalog_item_id: Any = None
    period_start: datetime.datetime | None = None
    period_end: datetime.datetime | None = None
    extra_data: dict = field(default_factory=dict)
    price_is_net: bool = False
    tax_rate: Decimal | None = None
    tax_name: str | None = None


# The billing details a buyer snapshot reads.
BUYER_DETAIL_FIELDS = ("first_name", "last_name", "company", "address_line_1", "address_line_2",
                       "city", "state", "postal_code", "country", "tax_number",
                       "buyer_reference")  # fmt: skip


def buyer_snapshot(user) -> dict:
    """BillingSnapshot of the user's billing details now."""
    details = getattr(user, "details", None)
    values = (
        {name: getattr(details, name, None) for name in BUYER_DETAIL_FIELDS}
        if details is not None
        else {}
    )
    return buyer_snapshot_of(email=user.email, details=values)


def buyer_snapshot_of(*, email: str, details: dict) -> dict:
    """BillingSnapshot from the buyer's email and billing details (``BUYER_DETAIL_FIELDS``;
    empty when the buyer has none), for callers that read the details as values."""

    def value(name: str):
        return details.get(name) or None

    name = " ".join(part for part in (value("first_name"), value("last_name")) if part) or None
    return {
        "name": name,
        "company": value("company"),
        "email": email,
        "line1": value("address_line_1"),
        "line2": value("address_line_2"),
        "city": value("city"),
        "state": value("state"),
        "postal_code": value("postal_code"),
        "country": value("country"),
        "vat_id": value("tax_number"),
        "buyer_reference": value("buyer_reference"),
    }


def seller_snapshot() -> dict:
    """SellerSnapshot from the platform settings now. Where complete seller details are required
    (``VBWD_REQUIRE_SELLER_DETAILS``, on in production) an invoice is refused while the legal
    name, address or VAT id is missing: it would be issued for good without them."""
    settings = platform_settings_get()
    if django_settings.VBWD_REQUIRE_SELLER_DETAILS:
        missing = seller_details_missing(settings)
        if missing:
            raise ServiceUnavailable(
                "Invoices cannot be issued until the seller details are complete in the platform "
                f"settings (missing: {', '.join(missing)})"
            )
    snapshot = {name: getattr(settings, name) or None for name in SELLER_FIELDS}
    snapshot["email"] = settings.company_email or settings.contact_email or None
    snapshot["website_url"] = settings.website_url or None
    return snapshot


def treatment_for(user, *, on: datetime.date) -> TaxTreatment:
    """The tax treatment of this buyer for an invoice issued on ``on``."""
    buyer = buyer_snapshot(user)
    seller_country = platform_settings_get().address_country or "DE"
    return tax_treatment(
        buyer_country=buyer["country"],
        buyer_vat_id=buyer["vat_id"],
        seller_country=seller_country,
        on=on,
    )


def _amounts(cache: dict | None, unit_price: Decimal, quantity: int, **terms) -> LineAmounts:
    """``line_amounts``, looked up in ``cache`` first (keyed by the exact digits of every
    argument: the same price, quantity and terms always give the same amounts)."""
    if cache is None:
        return line_amounts(unit_price, quantity, **terms)
    key = (str(unit_price), quantity, *(str(value) for value in terms.values()))
    amounts = cache.get(key)
    if amounts is None:
        amounts = cache[key] = line_amounts(unit_price, quantity, **terms)
    return amounts


def build_lines(
    drafts: list[LineDraft],
    *,
    treatment: TaxTreatment,
    places: int,
    amounts_cache: dict | None = None,
) -> list[InvoiceLine]:
    """Unsaved InvoiceLines with amounts and tax per line (also used by previews). Callers
    that build many invoices over the same prices pass one ``amounts_cache`` to all of them,
    so each distinct line is computed once."""
    lines = []
    for position, draft in enumerate(drafts):
        if draft.tax_rate is not None:
            amounts = _amounts(
                amounts_cache,
                draft.unit_price,
                draft.quantity,
                rate=draft.tax_rate,
                price_includes_tax=False,
                places=places,
            )
            tax_name = draft.tax_name
        else:
            include = treatment.prices_include_tax and not draft.price_is_net
            amounts = _amounts(
                amounts_cache,
                draft.unit_price,
                draft.quantity,
                rate=treatment.rate,
                price_includes_tax=include,
                places=places,
                included_rate=treatment.included_rate if include else None,
            )
            tax_name = treatment.name if treatment.rate or treatment.reverse_charge else None
        lines.append(
            InvoiceLine(
                position=position,
                type=draft.type,
                description=draft.description[:500],
                quantity=draft.quantity,
                unit_price=amounts.unit_price,
                amount=amounts.amount,
                tax_rate=amounts.tax_rate,
                tax_name=tax_name,
                tax_amount=amounts.tax_amount,
                gross_amount=amounts.gross_amount,
                item_id=draft.item_id,
                catalog_item_id=draft.catalog_item_id,
                period_start=draft.period_start,
                period_end=draft.period_end,
                extra_data=draft.extra_data or {},
            )
        )
    return lines


def pending_invoice(
    *,
    number: str,
    invoice_type: str,
    user,
    currency: Currency,
    lines: list[InvoiceLine],
    total: Decimal,
    treatment: TaxTreatment,
    payment_method: PaymentMethod | None,
    subscription_id,
    tarif_plan_id,
    period_start: datetime.datetime | None,
    period_end: datetime.datetime | None,
    buyer: dict,
    seller: dict,
    now: datetime.datetime,
    due_date: datetime.datetime,
) -> Invoice:
    """The unsaved PENDING invoice over ``lines`` (subtotal and tax summed from them), with the
    currency's rate, the payment method's code and name and the buyer and seller snapshots."""
    return Invoice(
        invoice_number=number,
        invoice_type=invoice_type,
        user=user,
        status=InvoiceStatus.PENDING,
        currency=currency.code,
        exchange_rate=currency.exchange_rate,
        subtotal=sum((line.amount for line in lines), Decimal(0)),
        tax_amount=sum((line.tax_amount for line in lines), Decimal(0)),
        total_amount=total,
        reverse_charge=treatment.reverse_charge,
        payment_method=payment_method.code if payment_method else None,
        payment_method_name=payment_method.name if payment_method else None,
        subscription_id=subscription_id,
        tarif_plan_id=tarif_plan_id,
        period_start=period_start,
        period_end=period_end,
        billing_address=buyer,
        seller=seller,
        invoiced_at=now,
        due_date=due_date,
    )


def issued_summary(invoice: Invoice, *, user) -> str:
    """The summary of an issued invoice's audit entry."""
    return (
        f"Invoice {invoice.invoice_number} ({invoice.invoice_type}) issued to {user.email}: "
        f"{invoice.total_amount} {invoice.currency}"
    )


def issued_audit(invoice: Invoice, *, user, actor, actor_type, actor_label) -> dict:
    """The audit entry of an issued invoice, as keywords of ``audit_record``."""
    return {
        "action": "invoice.issued",
        "object_type": "invoice",
        "object_id": invoice.pk,
        "subject_user_id": user.pk,
        "summary": issued_summary(invoice, user=user),
        "actor": actor,
        "actor_type": actor_type,
        "actor_label": actor_label,
        "after": {
            "status": invoice.status,
            "total_amount": str(invoice.total_amount),
            "currency": invoice.currency,
        },
    }


def invoice_issue(
    *,
    user,
    invoice_type: str,
    currency: Currency,
    drafts: list[LineDraft],
    payment_method: PaymentMethod | None,
    subscription_id=None,
    tarif_plan_id=None,
    due_date: datetime.datetime | None = None,
    period_start: datetime.datetime | None = None,
    period_end: datetime.datetime | None = None,
    treatment: TaxTreatment | None = None,
    actor=None,
    actor_type: str | None = None,
    actor_label: str | None = None,
    now: datetime.datetime | None = None,
    invoice_id=None,
) -> Invoice:
    """Issues a PENDING invoice with a gapless number, taxed lines and buyer/seller snapshots,
    inside the caller's transaction; ``invoice_issued`` is sent and its PDF queued for rendering
    after commit. ``invoice_id`` is the primary key to use when the caller already wrote rows
    naming the invoice (their foreign keys are checked at commit). The returned invoice carries
    its lines."""
    if not drafts:
        raise ValueError("An invoice needs at least one line")
    now = now or timezone.now()
    treatment = treatment or treatment_for(user, on=now.date())
    lines = build_lines(drafts, treatment=treatment, places=currency.decimal_places)
    total = sum((line.gross_amount for line in lines), Decimal(0))
    if total < 0:
        raise ValueError("An invoice total cannot be negative")
    settings = platform_settings_get()
    seller = seller_snapshot()
    # No savepoint of its own: the issue is all or nothing with its caller's transaction.
    with transaction.atomic(savepoint=False):
        invoice = pending_invoice(
            number="",
            invoice_type=invoice_type,
            user=user,
            currency=currency,
            lines=lines,
            total=total,
            treatment=treatment,
            payment_method=payment_method,
            subscription_id=subscription_id,
            tarif_plan_id=tarif_plan_id,
            period_start=period_start,
            period_end=period_end,
            buyer=buyer_snapshot(user),
            seller=seller,
            now=now,
            due_date=due_date or now + datetime.timedelta(days=settings.payment_terms_days),
        )
        if invoice_id is not None:
            invoice.pk = invoice_id
        for line in lines:
            line.invoice = invoice
        # The number last: its counter row stays locked until the commit, so every concurrent
        # issue of the series waits from here on. Then the invoice and its lines in one
        # statement (the lines' foreign key is checked at commit).
        invoice.invoice_number = number_allocate(series=INVOICE_SERIES, year=now.year)
        insert_together([invoice], lines)
        invoice._loaded = {
            field.attname: getattr(invoice, field.attname)
            for field in Invoice._meta.concrete_fields
        }
        audit_record(
            **issued_audit(
                invoice, user=user, actor=actor, actor_type=actor_type, actor_label=actor_label
            )
        )
        invoice_issued.send_on_commit(sender=Invoice, invoice=invoice)
        pdfs_store_on_commit(invoice_ids=[invoice.pk])
    invoice._prefetched_objects_cache = {}
    issued_lines = invoice.lines.all()
    issued_lines._result_cache = lines
    issued_lines._prefetch_done = True
    invoice._prefetched_objects_cache["lines"] = issued_lines
    return invoice

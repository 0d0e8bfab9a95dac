"""The EN 16931 semantic model of an issued invoice or credit note.

Everything comes from what was stored when the document was issued: the invoice's lines and
amounts and its seller and buyer snapshots. Two things are read now, as on the PDF: the payment
method (whether it is a bank transfer, which decides the payment means code) and, for invoices
issued before the seller's contact details were kept with the invoice, those contact details
(telephone, contact name, register id) from the platform settings.

Tax categories (UNTDID 5305) follow the tax the line was charged with:

- ``S`` standard rate: a line taxed at a rate above zero;
- ``AE`` reverse charge: every line of an invoice issued under the EU reverse charge;
- ``Z`` zero rated: a line taxed at a configured rate of 0 %;
- ``E`` exempt: a line on which no tax rate applied at all (the buyer's country has none).

Amounts carry the currency's decimal places. A line with a negative net (a proration credit)
is written with a negative quantity and a positive net price, so net price × quantity = line net
holds and no price is negative. A credit note has no lines of its own: it gets one line per tax
category and rate of its invoice, carrying its net and tax (split in proportion to the invoice's
amounts when the invoice had more than one rate).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from accounts.models import UserDetails
from billing.catalog.models import PaymentMethod
from billing.catalog.selectors import currency_places
from billing.catalog.services.payment_methods import PaymentMethodKind, payment_method_kind
from billing.invoices.models import CreditNote, Invoice
from platform_settings.selectors import platform_settings_get
from vbwd.exceptions import Conflict

INVOICE_TYPE_CODE = "380"  # commercial invoice
CREDIT_NOTE_TYPE_CODE = "381"

STANDARD = "S"
REVERSE_CHARGE = "AE"
ZERO_RATED = "Z"
EXEMPT = "E"

# Why a line carries no tax (BT-120 / BT-121).
EXEMPTION = {
    REVERSE_CHARGE: ("Reverse charge: VAT is due from the recipient", "VATEX-EU-AE"),
    EXEMPT: ("No VAT charged: no tax rate applies to the buyer's country", None),
}

# Payment means (UNTDID 4461).
SEPA_CREDIT_TRANSFER = "58"
CREDIT_TRANSFER = "30"
ONLINE_PAYMENT_SERVICE = "68"
NOT_DEFINED = "1"  # a refund by bank transfer goes to an account the buyer names

# Seller details kept in the snapshot since the e-invoice needs them; an invoice issued before
# they were kept reads them from the settings.
SELLER_CONTACT_FIELDS = ("company_phone", "company_contact_name", "company_register_id")


class EInvoiceIncomplete(Conflict):
    """The document lacks a field its e-invoice must carry; ``missing`` names each one."""

    code = "einvoice_incomplete"

    def __init__(self, document_number: str, profile_name: str, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"{document_number} cannot be produced as {profile_name}: missing "
            + "; ".join(missing),
            extra={"missing": missing},
        )


@dataclass(frozen=True)
class Party:
    name: str | None
    street: str | None
    street_2: str | None
    city: str | None
    postal_code: str | None
    subdivision: str | None
    country: str | None
    vat_id: str | None
    email: str | None
    phone: str | None = None
    contact_name: str | None = None
    legal_id: str | None = None


@dataclass(frozen=True)
class Line:
    line_id: str
    name: str
    quantity: Decimal  # negative for a credit line
    net_price: Decimal  # >= 0
    net_amount: Decimal  # quantity × net_price
    tax_category: str
    tax_rate: Decimal
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None


@dataclass(frozen=True)
class TaxSubtotal:
    category: str
    rate: Decimal
    basis: Decimal  # sum of the net of its lines
    tax: Decimal  # sum of the tax charged on its lines
    exemption_reason: str | None = None
    exemption_code: str | None = None


@dataclass(frozen=True)
class PaymentInstructions:
    means_code: str
    means_text: str | None
    iban: str | None
    bic: str | None
    account_name: str | None
    reference: str


@dataclass(frozen=True)
class EInvoice:
    number: str
    type_code: str
    issue_date: datetime.date
    currency: str
    places: int
    seller: Party
    buyer: Party
    buyer_reference: str | None
    lines: list[Line]
    tax_subtotals: list[TaxSubtotal]
    line_total: Decimal
    tax_basis_total: Decimal
    tax_total: Decimal
    grand_total: Decimal
    paid_amount: Decimal
    payable_amount: Decimal
    due_date: datetime.date | None
    payment_terms: str | None
    payment: PaymentInstructions | None
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None
    preceding_invoice: str | None = None
    preceding_invoice_date: datetime.date | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == CREDIT_NOTE_TYPE_CODE


def einvoice_model(document: Invoice | CreditNote) -> EInvoice:
    """The EN 16931 semantic model of an issued invoice or credit note, from what it stored."""
    if isinstance(document, CreditNote):
        return _credit_note_model(document)
    return _invoice_model(document)


def einvoice_parties(document: Invoice | CreditNote) -> tuple[Party, Party]:
    """(seller, buyer) of the document, from its snapshots alone."""
    invoice = document.invoice if isinstance(document, CreditNote) else document
    return _seller(dict(invoice.seller or {})), _buyer(dict(invoice.billing_address or {}))


# --- invoices -----------------------------------------------------------------------------------


def _invoice_model(invoice: Invoice) -> EInvoice:
    places = currency_places(invoice.currency)
    seller_snapshot = dict(invoice.seller or {})
    stored_lines = list(invoice.lines.all())
    lines = [
        _line(line, reverse_charge=invoice.reverse_charge, places=places) for line in stored_lines
    ]
    subtotals = _subtotals(
        (line, stored.tax_amount) for line, stored in zip(lines, stored_lines, strict=True)
    )
    paid = invoice.total_amount if invoice.paid_at is not None else Decimal(0)
    payable = invoice.total_amount - paid
    settings = platform_settings_get()
    return EInvoice(
        number=invoice.invoice_number,
        type_code=INVOICE_TYPE_CODE,
        issue_date=_day(invoice.invoiced_at),
        currency=invoice.currency,
        places=places,
        seller=_seller(seller_snapshot),
        buyer=_buyer(dict(invoice.billing_address or {})),
        buyer_reference=_buyer_reference(invoice),
        lines=lines,
        tax_subtotals=subtotals,
        line_total=_q(invoice.subtotal, places),
        tax_basis_total=_q(invoice.subtotal, places),
        tax_total=_q(invoice.tax_amount, places),
        grand_total=_q(invoice.total_amount, places),
        paid_amount=_q(paid, places),
        payable_amount=_q(payable, places),
        due_date=_day(invoice.due_date),
        payment_terms=f"Payable by {_day(invoice.due_date).isoformat()} "
        f"({settings.payment_terms_days} days net)"
        if invoice.due_date
        else None,
        payment=_payment(invoice, seller_snapshot),
        period_start=_day(invoice.period_start),
        period_end=_day(invoice.period_end),
        notes=_notes(invoice.reverse_charge),
    )


def _line(stored, *, reverse_charge: bool, places: int) -> Line:
    quantity = Decimal(stored.quantity)
    price = _q(stored.unit_price, places)
    if price < 0:
        quantity, price = -quantity, -price
    return Line(
        line_id=str(stored.position + 1),
        name=stored.description,
        quantity=quantity,
        net_price=price,
        net_amount=_q(stored.amount, places),
        tax_category=_category(stored.tax_rate, stored.tax_name, reverse_charge),
        tax_rate=stored.tax_rate,
        period_start=_day(stored.period_start),
        period_end=_day(stored.period_end),
    )


def _category(rate: Decimal, tax_name: str | None, reverse_charge: bool) -> str:
    if reverse_charge:
        return REVERSE_CHARGE
    if rate > 0:
        return STANDARD
    return ZERO_RATED if tax_name else EXEMPT


def _subtotals(lines_and_tax) -> list[TaxSubtotal]:
    """One row per (category, rate), in the order they first appear."""
    rows: dict[tuple[str, Decimal], list[Decimal]] = {}
    for line, tax in lines_and_tax:
        row = rows.setdefault((line.tax_category, line.tax_rate), [Decimal(0), Decimal(0)])
        row[0] += line.net_amount
        row[1] += tax
    subtotals = []
    for (category, rate), (basis, tax) in rows.items():
        reason, code = EXEMPTION.get(category, (None, None))
        subtotals.append(
            TaxSubtotal(category, rate, basis, tax, exemption_reason=reason, exemption_code=code)
        )
    return subtotals


def _payment(invoice: Invoice, seller: dict) -> PaymentInstructions:
    """A bank transfer (an offline method, or none recorded) to the seller's account, or the
    online payment service the invoice was paid or is to be paid with."""
    method = (
        PaymentMethod.objects.filter(code=invoice.payment_method).first()
        if invoice.payment_method
        else None
    )
    if method is not None and payment_method_kind(method) == PaymentMethodKind.GATEWAY:
        return PaymentInstructions(
            means_code=ONLINE_PAYMENT_SERVICE,
            means_text=invoice.payment_method_name or method.name,
            iban=None,
            bic=None,
            account_name=None,
            reference=invoice.invoice_number,
        )
    iban = seller.get("bank_iban") or None
    return PaymentInstructions(
        means_code=SEPA_CREDIT_TRANSFER
        if invoice.currency == "EUR" and _is_sepa(iban)
        else CREDIT_TRANSFER,
        means_text=invoice.payment_method_name or "Bank transfer",
        iban=iban,
        bic=seller.get("bank_bic") or None,
        account_name=seller.get("bank_account_holder") or None,
        reference=invoice.invoice_number,
    )


def _refund_means(invoice: Invoice, seller: dict) -> str:
    """How a credit note's money went back: through the online payment service the invoice was
    paid with, else by a transfer to the buyer (its account is not the seller's to state)."""
    means = _payment(invoice, seller).means_code
    return means if means == ONLINE_PAYMENT_SERVICE else NOT_DEFINED


# IBAN countries of the SEPA area.
_SEPA = frozenset(
    {"AD", "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GI",
     "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MC", "MT", "NL", "NO", "PL",
     "PT", "RO", "SE", "SI", "SK", "SM", "VA"}
)  # fmt: skip


def _is_sepa(iban: str | None) -> bool:
    return bool(iban) and iban[:2].upper() in _SEPA


def _notes(reverse_charge: bool) -> list[str]:
    return ["Reverse charge: VAT is due from the recipient."] if reverse_charge else []


# --- credit notes -------------------------------------------------------------------------------


def _credit_note_model(note: CreditNote) -> EInvoice:
    invoice = note.invoice
    places = currency_places(note.currency)
    stored_lines = list(invoice.lines.all())
    invoice_lines = [
        _line(line, reverse_charge=invoice.reverse_charge, places=places) for line in stored_lines
    ]
    groups = _subtotals(
        (line, stored.tax_amount) for line, stored in zip(invoice_lines, stored_lines, strict=True)
    )
    nets = _allocate(note.net_amount, [group.basis for group in groups], places)
    taxes = _allocate(note.tax_amount, [group.tax for group in groups], places)
    kind = "Refund" if note.full_refund else "Partial refund"
    lines = [
        Line(
            line_id=str(index + 1),
            name=f"{kind} of invoice {invoice.invoice_number}",
            quantity=Decimal(1),
            net_price=net,
            net_amount=net,
            tax_category=group.category,
            tax_rate=group.rate,
            period_start=_day(invoice.period_start),
            period_end=_day(invoice.period_end),
        )
        for index, (group, net) in enumerate(zip(groups, nets, strict=True))
    ]
    subtotals = [
        TaxSubtotal(
            group.category,
            group.rate,
            net,
            tax,
            exemption_reason=group.exemption_reason,
            exemption_code=group.exemption_code,
        )
        for group, net, tax in zip(groups, nets, taxes, strict=True)
    ]
    seller_snapshot = dict(invoice.seller or {})
    return EInvoice(
        number=note.credit_note_number,
        type_code=CREDIT_NOTE_TYPE_CODE,
        issue_date=_day(note.created_at),
        currency=note.currency,
        places=places,
        seller=_seller(seller_snapshot),
        buyer=_buyer(dict(invoice.billing_address or {})),
        buyer_reference=_buyer_reference(invoice),
        lines=lines,
        tax_subtotals=subtotals,
        line_total=_q(note.net_amount, places),
        tax_basis_total=_q(note.net_amount, places),
        tax_total=_q(note.tax_amount, places),
        grand_total=_q(note.amount, places),
        # The credit note is issued once the money went back: nothing is left to pay out.
        paid_amount=_q(note.amount, places),
        payable_amount=_q(Decimal(0), places),
        due_date=None,
        payment_terms=None,
        payment=PaymentInstructions(
            means_code=_refund_means(invoice, seller_snapshot),
            means_text="Refunded to the original payment method",
            iban=None,
            bic=None,
            account_name=None,
            reference=note.refund_reference or note.credit_note_number,
        ),
        period_start=_day(invoice.period_start),
        period_end=_day(invoice.period_end),
        preceding_invoice=invoice.invoice_number,
        preceding_invoice_date=_day(invoice.invoiced_at),
        notes=_notes(invoice.reverse_charge),
    )


def _allocate(total: Decimal, weights: list[Decimal], places: int) -> list[Decimal]:
    """``total`` split in proportion to ``weights`` at the currency's places; the last share
    takes what rounding left, so the shares add up to ``total`` exactly."""
    if len(weights) == 1:
        return [_q(total, places)]
    whole = sum(weights, Decimal(0))
    shares = []
    for weight in weights[:-1]:
        share = _q(total * weight / whole, places) if whole else _q(Decimal(0), places)
        shares.append(share)
    shares.append(_q(total, places) - sum(shares, Decimal(0)))
    return shares


# --- parties ------------------------------------------------------------------------------------


def _seller(snapshot: dict) -> Party:
    contact = dict(snapshot)
    if not all(key in snapshot for key in SELLER_CONTACT_FIELDS):
        settings = platform_settings_get()
        for key in SELLER_CONTACT_FIELDS:
            contact.setdefault(key, getattr(settings, key) or None)
    return Party(
        name=snapshot.get("company_name") or None,
        street=snapshot.get("address_street") or None,
        street_2=None,
        city=snapshot.get("address_city") or None,
        postal_code=snapshot.get("address_postal_code") or None,
        subdivision=None,
        country=(snapshot.get("address_country") or "").upper() or None,
        vat_id=_compact(snapshot.get("vat_id")),
        email=snapshot.get("email") or None,
        phone=contact.get("company_phone") or None,
        contact_name=contact.get("company_contact_name") or None,
        legal_id=contact.get("company_register_id") or None,
    )


def _buyer(snapshot: dict) -> Party:
    return Party(
        name=snapshot.get("company") or snapshot.get("name") or None,
        street=snapshot.get("line1") or None,
        street_2=snapshot.get("line2") or None,
        city=snapshot.get("city") or None,
        postal_code=snapshot.get("postal_code") or None,
        subdivision=snapshot.get("state") or None,
        country=(snapshot.get("country") or "").upper() or None,
        vat_id=_compact(snapshot.get("vat_id")),
        email=snapshot.get("email") or None,
        contact_name=snapshot.get("name") if snapshot.get("company") else None,
    )


def _buyer_reference(invoice: Invoice) -> str | None:
    """The buyer reference kept with the invoice; for an invoice issued before the reference was
    kept, the one in the buyer's billing details now."""
    snapshot = invoice.billing_address or {}
    if "buyer_reference" in snapshot:
        return snapshot["buyer_reference"] or None
    stored = UserDetails.objects.filter(user_id=invoice.user_id).values_list(
        "buyer_reference", flat=True
    )
    return stored.first() or None


def _compact(vat_id: str | None) -> str | None:
    text = "".join(ch for ch in (vat_id or "") if ch.isalnum()).upper()
    return text or None


# --- helpers ------------------------------------------------------------------------------------


def _q(amount: Decimal, places: int) -> Decimal:
    return Decimal(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _day(value) -> datetime.date | None:
    """The calendar day of a stored time, in the site's time zone (as the PDF prints it)."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.date()

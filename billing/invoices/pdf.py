"""Invoice and credit-note PDFs: a Django template rendered by xhtml2pdf.

What the document says comes from the invoice itself: its lines, amounts and the buyer and seller
snapshots taken at issue, so a PDF printed years later shows what was issued. Only two things are
read now: the footer from the platform settings and, for an unpaid invoice, the payment method's
instructions text (the bank details printed beside it are the seller snapshot's).

Text is drawn in DejaVu Sans, shipped in ``fonts/`` (licence in ``fonts/LICENSE``), so Cyrillic,
Greek and accented Latin print. The faces are registered with ReportLab once per process and made
known to xhtml2pdf under the family name ``DejaVuSans``; a render reads no file and fetches
nothing (the resource policy refuses the network and every local path outside ``fonts/``).
"""

from __future__ import annotations

import threading
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from django.template.loader import render_to_string
from django.utils import timezone
from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy
from xhtml2pdf.default import DEFAULT_FONT

from accounts.models import UserDetails
from billing.catalog.models import Country, PaymentMethod
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places
from billing.catalog.services.payment_methods import (
    PaymentMethodKind,
    localized_texts,
    payment_method_kind,
)
from billing.invoices.models import CreditNote, Invoice, InvoiceStatus
from platform_settings.selectors import platform_settings_get

INVOICE_TEMPLATE = "billing/invoice_pdf.html"
CREDIT_NOTE_TEMPLATE = "billing/credit_note_pdf.html"

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FAMILY = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
FONT_FILES = {FONT_FAMILY: "DejaVuSans.ttf", FONT_BOLD: "DejaVuSans-Bold.ttf"}

# Nothing in these documents is fetched: no network, no local file outside the fonts.
RESOURCE_POLICY = ResourceAccessPolicy(allow_remote=False, base_dir=FONT_DIR)

# The stamp printed for an invoice that is no longer waiting for payment: (label, date field).
STATUS_STAMPS = {
    InvoiceStatus.PAID: ("PAID", "paid_at"),
    InvoiceStatus.REFUNDED: ("REFUNDED", "refunded_at"),
    InvoiceStatus.CANCELLED: ("VOID", "cancelled_at"),
    InvoiceStatus.FAILED: ("FAILED", None),
    InvoiceStatus.OVERDUE: ("OVERDUE", None),
}

_fonts_lock = threading.Lock()
_fonts_ready = False


class PdfRenderError(Exception):
    """xhtml2pdf reported errors while converting the document."""


def fonts_register() -> None:
    """Makes DejaVu Sans (regular and bold) drawable by xhtml2pdf. The faces are read and
    registered with ReportLab once per process; the family's bold/italic map is set again on
    every call (four dict entries), so a document elsewhere that declared a family of the same
    name cannot leave it pointing at another file."""
    global _fonts_ready
    if not _fonts_ready:
        with _fonts_lock:
            if not _fonts_ready:
                registered = set(pdfmetrics.getRegisteredFontNames())
                for name, filename in FONT_FILES.items():
                    if name not in registered:
                        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / filename)))
                # xhtml2pdf copies this table into every document: `font-family: DejaVuSans`.
                DEFAULT_FONT[FONT_FAMILY.lower()] = FONT_FAMILY
                _fonts_ready = True
    # No oblique face is shipped: italic draws upright.
    for bold, face in ((0, FONT_FAMILY), (1, FONT_BOLD)):
        for italic in (0, 1):
            addMapping(FONT_FAMILY, bold, italic, face)


# --- rendering ----------------------------------------------------------------------------------


def render_invoice_pdf(invoice: Invoice, *, locale: str | None = None) -> bytes:
    """The invoice as PDF bytes. ``locale`` picks the payment instructions' translation
    (default: the owner's saved language)."""
    return html_to_pdf(render_to_string(INVOICE_TEMPLATE, invoice_pdf_context(invoice, locale)))


def render_credit_note_pdf(credit_note: CreditNote) -> bytes:
    """The credit note as PDF bytes."""
    return html_to_pdf(render_to_string(CREDIT_NOTE_TEMPLATE, credit_note_pdf_context(credit_note)))


def html_to_pdf(html: str) -> bytes:
    """Converts one of these templates' HTML to PDF bytes with the embedded fonts."""
    fonts_register()
    out = BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=RESOURCE_POLICY)
    if status.err:
        raise PdfRenderError(f"PDF rendering failed with {status.err} error(s)")
    return out.getvalue()


# --- template context ---------------------------------------------------------------------------


def invoice_pdf_context(invoice: Invoice, locale: str | None = None) -> dict:
    """Everything the invoice template prints, amounts already formatted."""
    places = currency_places(invoice.currency)
    lines = list(invoice.lines.all())
    seller = dict(invoice.seller or {})
    buyer = dict(invoice.billing_address or {})
    countries = _country_names(seller.get("address_country"), buyer.get("country"))

    stamp = STATUS_STAMPS.get(invoice.status)
    stamp_date = getattr(invoice, stamp[1]) if stamp and stamp[1] else None

    return {
        "title": "Invoice",
        "invoice": invoice,
        "number": invoice.invoice_number,
        "issue_date": _date(invoice.invoiced_at),
        "due_date": _date(invoice.due_date),
        "currency": invoice.currency,
        "seller": _seller_block(seller, countries),
        "buyer": _buyer_block(buyer, countries),
        "stamp": stamp[0] if stamp else None,
        "stamp_date": _date(stamp_date),
        "lines": [
            {
                "description": line.description,
                "period": _period(line.period_start, line.period_end),
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price, places),
                "net": _money(line.amount, places),
                "tax_rate": _percent(line.tax_rate),
                "tax": _money(line.tax_amount, places),
                "gross": _money(line.gross_amount, places),
            }
            for line in lines
        ],
        "tax_breakdown": [
            {
                "name": row["name"],
                "rate": _percent(row["rate"]),
                "net": _money(row["net"], places),
                "tax": _money(row["tax"], places),
            }
            for row in tax_breakdown(lines)
        ],
        "subtotal": _money(invoice.subtotal, places),
        "tax_total": _money(invoice.tax_amount, places),
        "total": _money(invoice.total_amount, places),
        "refunded": (
            _money(invoice.refunded_amount, places) if invoice.refunded_amount > 0 else None
        ),
        "amount_due": _money(invoice.amount_due, places),
        "reverse_charge": invoice.reverse_charge,
        "payment": _payment_instructions(invoice, seller, locale) if invoice.is_payable else None,
        "payment_method_name": invoice.payment_method_name,
        "footer": platform_settings_get().invoice_footer,
    }


def credit_note_pdf_context(credit_note: CreditNote) -> dict:
    """Everything the credit-note template prints, amounts already formatted."""
    invoice = credit_note.invoice
    places = currency_places(credit_note.currency)
    seller = dict(invoice.seller or {})
    buyer = dict(invoice.billing_address or {})
    countries = _country_names(seller.get("address_country"), buyer.get("country"))
    return {
        "title": "Credit note",
        "credit_note": credit_note,
        "number": credit_note.credit_note_number,
        "issue_date": _date(credit_note.created_at),
        "invoice_number": invoice.invoice_number,
        "invoice_date": _date(invoice.invoiced_at),
        "currency": credit_note.currency,
        "seller": _seller_block(seller, countries),
        "buyer": _buyer_block(buyer, countries),
        "kind": "Full refund" if credit_note.full_refund else "Partial refund",
        "net": _money(credit_note.net_amount, places),
        "tax": _money(credit_note.tax_amount, places),
        "total": _money(credit_note.amount, places),
        "invoice_total": _money(invoice.total_amount, places),
        # Only what the customer is meant to read; the staff's reason stays internal.
        "customer_reason": credit_note.customer_reason,
        "refund_reference": credit_note.refund_reference,
        "reverse_charge": invoice.reverse_charge,
        "reversed_date": _date(credit_note.reversed_at),
        "footer": platform_settings_get().invoice_footer,
    }


def tax_breakdown(lines) -> list[dict]:
    """One row per distinct tax rate, in the order the rates first appear: the rate's name, the
    net and the tax of its lines (sums of the per-line rounded amounts)."""
    rows: dict[Decimal, dict] = {}
    for line in lines:
        row = rows.setdefault(
            line.tax_rate,
            {"name": line.tax_name, "rate": line.tax_rate, "net": Decimal(0), "tax": Decimal(0)},
        )
        row["name"] = row["name"] or line.tax_name
        row["net"] += line.amount
        row["tax"] += line.tax_amount
    return list(rows.values())


def _payment_instructions(invoice: Invoice, seller: dict, locale: str | None) -> dict:
    """How to pay an open invoice: the method's text, and for a bank transfer (an offline method,
    or none recorded) the seller's bank details with the invoice number as the reference."""
    method = (
        PaymentMethod.objects.filter(code=invoice.payment_method).first()
        if invoice.payment_method
        else None
    )
    instructions = None
    if method is not None:
        if locale is None:
            locale = _owner_locale(invoice)
        instructions = localized_texts(method, locale).get("instructions")
    offline = method is None or payment_method_kind(method) == PaymentMethodKind.OFFLINE
    bank = [
        (label, seller.get(key))
        for label, key in (
            ("Account holder", "bank_account_holder"),
            ("Bank", "bank_name"),
            ("IBAN", "bank_iban"),
            ("BIC", "bank_bic"),
        )
        if seller.get(key)
    ]
    return {
        "instructions": instructions,
        "bank": bank if offline else [],
        "reference": invoice.invoice_number,
    }


def _owner_locale(invoice: Invoice) -> str | None:
    config = UserDetails.objects.filter(user_id=invoice.user_id).values_list("config", flat=True)
    language = (config.first() or {}).get("language")
    return language if isinstance(language, str) and language else None


def address_blocks(invoice: Invoice) -> tuple[dict, dict]:
    """The seller's and the buyer's blocks as the invoice prints them (from its snapshots)."""
    seller = dict(invoice.seller or {})
    buyer = dict(invoice.billing_address or {})
    countries = _country_names(seller.get("address_country"), buyer.get("country"))
    return _seller_block(seller, countries), _buyer_block(buyer, countries)


def _seller_block(seller: dict, countries: dict) -> dict:
    country = seller.get("address_country")
    return {
        "name": seller.get("company_name"),
        "lines": _present(
            seller.get("address_street"),
            _join(seller.get("address_postal_code"), seller.get("address_city")),
            countries.get(country, country),
        ),
        "vat_id": seller.get("vat_id"),
        "email": seller.get("email"),
        "website": seller.get("website_url"),
    }


def _buyer_block(buyer: dict, countries: dict) -> dict:
    country = buyer.get("country")
    return {
        "name": buyer.get("name"),
        "company": buyer.get("company"),
        "lines": _present(
            buyer.get("line1"),
            buyer.get("line2"),
            _join(buyer.get("postal_code"), buyer.get("city")),
            buyer.get("state"),
            countries.get(country, country),
        ),
        "vat_id": buyer.get("vat_id"),
        "email": buyer.get("email"),
    }


def _country_names(*codes) -> dict[str, str]:
    """``{"GR": "Greece (GR)"}`` for the codes present in the countries table."""
    wanted = {code for code in codes if code}
    if not wanted:
        return {}
    return {
        code: f"{name} ({code})"
        for code, name in Country.objects.filter(code__in=wanted).values_list("code", "name")
    }


def _money(amount: Decimal, places: int) -> str:
    return format_money(amount, places)


def _percent(rate: Decimal) -> str:
    """``24.00`` → ``24%``, ``7.50`` → ``7.5%``."""
    text = format(rate.normalize(), "f") if rate else "0"
    return f"{text}%"


def _date(value) -> str | None:
    if value is None:
        return None
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.date().isoformat()


def _period(start, end) -> str | None:
    if start is None or end is None:
        return None
    return f"{_date(start)} – {_date(end)}"


def _join(*parts) -> str | None:
    return " ".join(part for part in parts if part) or None


def _present(*parts) -> list[str]:
    return [part for part in parts if part]

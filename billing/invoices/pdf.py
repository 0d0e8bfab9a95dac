"""Invoice and credit-note PDFs: a Django template rendered by xhtml2pdf.

What the document says comes from the invoice itself: its lines, amounts and the buyer and seller
snapshots taken at issue, so a PDF printed years later shows what was issued. Only a few things
are read now: the footer from the platform settings, the seller's logo (``VBWD_INVOICE_LOGO``),
the buyer's language and, for an unpaid invoice, the payment method's instructions text (the
bank details printed beside it are the seller snapshot's).

Language. A document is written in its buyer's language (``language`` in the owner's saved
preferences, ``UserDetails.config``), else in ``VBWD_DEFAULT_LANGUAGE``, else in English; only
the languages with a catalog in ``locale/`` (``PDF_LANGUAGES``) are used, so a buyer reading
another language gets the platform's default. Labels come from Django's translation catalogs;
dates and numbers follow the language's formats (``8. Dezember 2026``, ``1.234,56``), amounts with
exactly the currency's decimal places. Tax is named as the tax rate that was charged is named
("MwSt.", "VAT", "ΦΠΑ"), never by a fixed word.

Text is drawn in DejaVu Sans, shipped in ``fonts/`` (licence in ``fonts/LICENSE``), so Cyrillic,
Greek and accented Latin print. The faces are registered with ReportLab once per process and made
known to xhtml2pdf under the family name ``DejaVuSans``; a render reads no file and fetches
nothing (the resource policy refuses the network and every local path outside ``fonts/``; the
logo is read here and handed over inline).
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import re
import threading
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from PIL import Image, UnidentifiedImageError
from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy
from xhtml2pdf.default import DEFAULT_FONT

from accounts.models import UserDetails
from billing.catalog.models import Country, PaymentMethod
from billing.catalog.selectors import currency_places
from billing.catalog.services.payment_methods import (
    PaymentMethodKind,
    localized_texts,
    payment_method_kind,
)
from billing.invoices.lines import name_gives_amount
from billing.invoices.models import CreditNote, Invoice, InvoiceStatus, LineType
from platform_settings.selectors import platform_settings_get
from vbwd.money import round_money

logger = logging.getLogger(__name__)

INVOICE_TEMPLATE = "billing/invoice_pdf.html"
CREDIT_NOTE_TEMPLATE = "billing/credit_note_pdf.html"

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FAMILY = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
FONT_FILES = {FONT_FAMILY: "DejaVuSans.ttf", FONT_BOLD: "DejaVuSans-Bold.ttf"}

# Nothing in these documents is fetched: no network, no local file outside the fonts.
RESOURCE_POLICY = ResourceAccessPolicy(allow_remote=False, base_dir=FONT_DIR)

# The languages a document can be written in: those with a catalog in locale/ whose script
# DejaVu Sans draws.
PDF_LANGUAGES = ("en", "de", "fr", "es", "ru")
FALLBACK_LANGUAGE = "en"

# The stamp printed for an invoice that is no longer waiting for payment: (label, date field).
STATUS_STAMPS = {
    InvoiceStatus.PAID: (gettext_lazy("PAID"), "paid_at"),
    InvoiceStatus.REFUNDED: (gettext_lazy("REFUNDED"), "refunded_at"),
    InvoiceStatus.CANCELLED: (gettext_lazy("VOID"), "cancelled_at"),
    InvoiceStatus.FAILED: (gettext_lazy("FAILED"), None),
    InvoiceStatus.OVERDUE: (gettext_lazy("OVERDUE"), None),
}

# The seller's logo: a PNG or JPEG file on this machine, printed at most this large (points).
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
LOGO_MAX_BYTES = 1024 * 1024
LOGO_MAX_WIDTH = 170.0
LOGO_MAX_HEIGHT = 48.0

# The footer's "page X of Y". X is xhtml2pdf's page number. Y is not xhtml2pdf's
# <pdf:pagecount>, which lays the whole document out twice; the template prints this marker
# (text cannot contain it: the template escapes "<") and ``html_to_pdf`` puts the count in.
PAGE_NUMBER = mark_safe("<pdf:pagenumber>")
PAGE_COUNT = mark_safe("<vbwd-page-count>")
_PAGES = re.compile(rb"/Count (\d+)")

# What checkout appended to a token bundle's name on lines issued before it stopped repeating
# the amount: "Starter (1000 tokens)".
_BUNDLE_AMOUNT = re.compile(r"^(?P<name>.*\S)\s+\((?P<amount>\d[\d.,\s]*) tokens\)$")

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
    """The invoice as PDF bytes, in ``locale``'s language when one is given and a catalog exists
    for it (default: the buyer's saved language; see the module's docstring)."""
    return html_to_pdf(invoice_pdf_html(invoice, locale=locale)[0])


def render_credit_note_pdf(credit_note: CreditNote) -> bytes:
    """The credit note as PDF bytes, in its buyer's language."""
    return html_to_pdf(credit_note_pdf_html(credit_note)[0])


def invoice_pdf_html(invoice: Invoice, *, locale: str | None = None) -> tuple[str, str]:
    """The invoice template's HTML and the language it is written in."""
    context = invoice_pdf_context(invoice, locale)
    with translation.override(context["language"]):
        return render_to_string(INVOICE_TEMPLATE, context), context["language"]


def credit_note_pdf_html(credit_note: CreditNote) -> tuple[str, str]:
    """The credit-note template's HTML and the language it is written in."""
    context = credit_note_pdf_context(credit_note)
    with translation.override(context["language"]):
        return render_to_string(CREDIT_NOTE_TEMPLATE, context), context["language"]


def html_to_pdf(html: str) -> bytes:
    """Converts one of these templates' HTML to PDF bytes with the embedded fonts. The page count
    is laid out as 1; a document that turns out longer is laid out once more with its count
    (the footer is a frame of its own, so the number's width moves nothing else)."""
    if PAGE_COUNT not in html:
        return _html_to_pdf(html)
    data = _html_to_pdf(html.replace(PAGE_COUNT, "1"))
    pages = max((int(count) for count in _PAGES.findall(data)), default=1)
    if pages > 1:
        data = _html_to_pdf(html.replace(PAGE_COUNT, str(pages)))
    return data


def _html_to_pdf(html: str) -> bytes:
    fonts_register()
    out = BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=RESOURCE_POLICY)
    if status.err:
        raise PdfRenderError(f"PDF rendering failed with {status.err} error(s)")
    return out.getvalue()


# --- language -----------------------------------------------------------------------------------


def pdf_language(*candidates) -> str:
    """The first of ``candidates`` (locale codes such as ``de-AT``; None skipped) whose language
    has a catalog, else the platform's default language, else English."""
    for candidate in (*candidates, settings.VBWD_DEFAULT_LANGUAGE):
        if isinstance(candidate, str) and candidate:
            language = candidate.strip().replace("_", "-").split("-")[0].lower()
            if language in PDF_LANGUAGES:
                return language
    return FALLBACK_LANGUAGE


def _owner_locale(user_id) -> str | None:
    """The language the owner chose (``UserDetails.config["language"]``), as saved."""
    config = UserDetails.objects.filter(user_id=user_id).values_list("config", flat=True)
    language = (config.first() or {}).get("language")
    return language if isinstance(language, str) and language else None


# --- template context ---------------------------------------------------------------------------


def invoice_pdf_context(invoice: Invoice, locale: str | None = None) -> dict:
    """Everything the invoice template prints, amounts and dates already formatted in the
    document's language (``language`` in the result)."""
    owner_locale = _owner_locale(invoice.user_id)
    language = pdf_language(locale, owner_locale)
    with translation.override(language):
        return _invoice_context(invoice, language, locale or owner_locale)


def credit_note_pdf_context(credit_note: CreditNote) -> dict:
    """Everything the credit-note template prints, amounts and dates already formatted in the
    document's language (``language`` in the result)."""
    language = pdf_language(_owner_locale(credit_note.invoice.user_id))
    with translation.override(language):
        return _credit_note_context(credit_note, language)


def _invoice_context(invoice: Invoice, language: str, locale: str | None) -> dict:
    places = currency_places(invoice.currency)
    lines = list(invoice.lines.all())
    seller = dict(invoice.seller or {})
    buyer = dict(invoice.billing_address or {})
    countries = _country_names(seller.get("address_country"), buyer.get("country"))

    stamp = STATUS_STAMPS.get(invoice.status)
    stamp_date = getattr(invoice, stamp[1]) if stamp and stamp[1] else None

    return {
        **_common(language, seller, buyer, countries),
        "title": _("Invoice"),
        "invoice": invoice,
        "number": invoice.invoice_number,
        "issue_date": _date(invoice.invoiced_at),
        "due_date": _date(invoice.due_date),
        "currency": invoice.currency,
        "stamp": str(stamp[0]) if stamp else None,
        "stamp_paid": invoice.status == InvoiceStatus.PAID,
        "stamp_date": _date(stamp_date),
        "lines": [
            {
                "description": line_description(line),
                "period": _period(line.period_start, line.period_end),
                "quantity": formats.number_format(line.quantity, force_grouping=True),
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
    }


def _credit_note_context(credit_note: CreditNote, language: str) -> dict:
    invoice = credit_note.invoice
    places = currency_places(credit_note.currency)
    seller = dict(invoice.seller or {})
    buyer = dict(invoice.billing_address or {})
    countries = _country_names(seller.get("address_country"), buyer.get("country"))
    return {
        **_common(language, seller, buyer, countries),
        "title": _("Credit note"),
        "credit_note": credit_note,
        "number": credit_note.credit_note_number,
        "issue_date": _date(credit_note.created_at),
        "invoice_number": invoice.invoice_number,
        "invoice_date": _date(invoice.invoiced_at),
        "currency": credit_note.currency,
        "kind": _("Full refund") if credit_note.full_refund else _("Partial refund"),
        "net": _money(credit_note.net_amount, places),
        "tax": _money(credit_note.tax_amount, places),
        "total": _money(credit_note.amount, places),
        "invoice_total": _money(invoice.total_amount, places),
        # Only what the customer is meant to read; the staff's reason stays internal.
        "customer_reason": credit_note.customer_reason,
        "refund_reference": credit_note.refund_reference,
        "reverse_charge": invoice.reverse_charge,
        "reversed_stamp": _("REVERSED"),
        "reversed_date": _date(credit_note.reversed_at),
    }


def _common(language: str, seller: dict, buyer: dict, countries: dict) -> dict:
    """What both documents print alike: the parties, the logo and the footer."""
    return {
        "language": language,
        "seller": _seller_block(seller, countries),
        "buyer": _buyer_block(buyer, countries),
        "logo": seller_logo(),
        "footer": platform_settings_get().invoice_footer,
        "page_number": PAGE_NUMBER,
        "page_count": PAGE_COUNT,
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


def line_description(line) -> str:
    """The line's description as printed. A token bundle's line issued with its amount appended
    ("Starter (1000 tokens)") says the amount in the document's language, and only once: a
    bundle whose name already gives it ("500 Tokens (500 tokens)") prints its name alone."""
    if line.type != LineType.TOKEN_BUNDLE:
        return line.description
    match = _BUNDLE_AMOUNT.match(line.description)
    if match is None:
        return line.description
    name, amount = match["name"], int(re.sub(r"\D", "", match["amount"]))
    if name_gives_amount(name, amount):
        return name
    count = ngettext("%(count)s token", "%(count)s tokens", amount) % {
        "count": formats.number_format(amount, force_grouping=True)
    }
    return f"{name} ({count})"


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
        instructions = localized_texts(method, locale).get("instructions")
    offline = method is None or payment_method_kind(method) == PaymentMethodKind.OFFLINE
    bank = [
        (label, value)
        for label, value in (
            (_("Account holder"), seller.get("bank_account_holder")),
            (_("Bank"), seller.get("bank_name")),
            ("IBAN", iban_grouped(seller.get("bank_iban"))),
            ("BIC", seller.get("bank_bic")),
        )
        if value
    ]
    return {
        "instructions": instructions,
        "bank": bank if offline else [],
        "reference": invoice.invoice_number,
    }


def iban_grouped(iban: str | None) -> str | None:
    """``DE89370400440532013000`` → ``DE89 3704 0044 0532 0130 00``, as IBANs are printed."""
    compact = "".join(ch for ch in (iban or "") if ch.isalnum()).upper()
    return " ".join(compact[start : start + 4] for start in range(0, len(compact), 4)) or None


# --- the seller's logo --------------------------------------------------------------------------


def seller_logo() -> dict | None:
    """The logo to print (``src`` an inline ``data:`` URI, ``width``/``height`` in points), or
    None while ``VBWD_INVOICE_LOGO`` names no file. The file must be a local PNG or JPEG of at
    most 1 MiB; another one is logged and left out, never fetched. Read once per file version."""
    path = getattr(settings, "VBWD_INVOICE_LOGO", "")
    if not path:
        return None
    try:
        stat = os.stat(path)
    except OSError as error:
        logger.warning("Invoice logo %s cannot be read: %s", path, error)
        return None
    return _logo(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _logo(path: str, mtime_ns: int, size: int) -> dict | None:
    if size > LOGO_MAX_BYTES:
        logger.warning("Invoice logo %s is larger than %d bytes", path, LOGO_MAX_BYTES)
        return None
    with open(path, "rb") as source:
        data = source.read(LOGO_MAX_BYTES + 1)
    mime = next((kind for magic, kind in LOGO_TYPES.items() if data.startswith(magic)), None)
    try:
        if mime is None:
            raise UnidentifiedImageError("not a PNG or JPEG file")
        with Image.open(BytesIO(data)) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError) as error:
        logger.warning("Invoice logo %s is not a PNG or JPEG image: %s", path, error)
        return None
    scale = min(LOGO_MAX_WIDTH / width, LOGO_MAX_HEIGHT / height)
    return {
        "src": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}",
        "width": f"{width * scale:.1f}",
        "height": f"{height * scale:.1f}",
    }


# --- parties ------------------------------------------------------------------------------------


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


# --- formats (called with the document's language active) --------------------------------------


def _money(amount: Decimal, places: int) -> str:
    """The amount with exactly the currency's places, in the language's digits: ``1,234.56``,
    ``1.234,56``, ``1 234,56``."""
    return formats.number_format(
        round_money(amount, places), decimal_pos=places, use_l10n=True, force_grouping=True
    )


def _percent(rate: Decimal) -> str:
    """``24.00`` → ``24%``, ``7.50`` → ``7.5%`` (``7,5%`` where the comma is decimal)."""
    if not rate:
        return "0%"
    return f"{formats.number_format(rate.normalize(), use_l10n=True)}%"


def _date(value) -> str | None:
    """The calendar day in the site's time zone, as the language writes dates."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value.date(), "DATE_FORMAT")


def _period(start, end) -> str | None:
    if start is None or end is None:
        return None
    return f"{_date(start)} – {_date(end)}"


def _join(*parts) -> str | None:
    return " ".join(part for part in parts if part) or None


def _present(*parts) -> list[str]:
    return [part for part in parts if part]

"""Invoice and credit-note PDFs in the buyer's language: labels, dates and numbers, service
periods, page numbers, bank details, the logo and token-bundle lines, read back with poppler's
pdftotext / pdfimages."""

from __future__ import annotations

import datetime
import gettext
import re
import shutil
import subprocess
from decimal import Decimal
from io import BytesIO

import pytest
from django.utils import timezone
from PIL import Image
from pypdf import PdfReader

from billing.catalog.models import TaxRate
from billing.invoices import pdf
from billing.invoices.lines import bundle_description
from billing.invoices.models import CreditNote, LineType
from billing.invoices.pdf import PDF_LANGUAGES, render_credit_note_pdf, render_invoice_pdf
from billing.invoices.services import LineDraft, number_allocate
from billing.invoices.tests.factories import (
    addon_draft,
    addon_subscription,
    buyer,
    custom_draft,
    issue_invoice,
    paid_invoice,
    subscription,
    subscription_draft,
    tax_rate,
)
from platform_settings.services import platform_settings_update
from vbwd.settings import BASE_DIR

pytestmark = pytest.mark.django_db

SELLER = {
    "company_name": "VBWD Software GmbH",
    "address_street": "Hauptstraße 5",
    "address_city": "Berlin",
    "address_postal_code": "10115",
    "address_country": "DE",
    "vat_id": "DE136695976",
    "bank_account_holder": "VBWD Software GmbH",
    "bank_name": "Commerzbank",
    "bank_iban": "DE89370400440532013000",
    "bank_bic": "COBADEFFXXX",
}
MARCH = {
    "period_start": timezone.make_aware(datetime.datetime(2026, 3, 1, 12)),
    "period_end": timezone.make_aware(datetime.datetime(2026, 3, 31, 12)),
}
# Labels of the German catalog that an English document must not print.
GERMAN_LABELS = (
    "Rechnung", "Steuer", "Netto", "Brutto", "Gesamt", "Zwischensumme", "Leistungszeitraum",
    "Einzelpreis", "Fällig", "Betrag", "Zahlung", "Seite", "Währung", "MwSt", "USt",
)  # fmt: skip


@pytest.fixture(autouse=True)
def seller(admin_user):
    return platform_settings_update(data=SELLER, actor=admin_user)


@pytest.fixture
def read(tmp_path):
    """pdftotext's reading of PDF bytes, spaces (no-break ones too) collapsed."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF text back")

    def text(data: bytes, *, layout: bool = False) -> str:
        path = tmp_path / "document.pdf"
        path.write_bytes(data)
        command = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        if layout:
            return out.replace("\xa0", " ").replace("\u202f", " ")
        return " ".join(out.replace("\xa0", " ").replace("\u202f", " ").split())

    return text


def customer(language: str | None, **details):
    config = {"language": language} if language else {}
    return buyer(first_name="Иван", last_name="Петров", config=config, **details)


def thousands_invoice(user):
    """One line of 1,234.56 at German VAT (``MwSt.`` 19 %) for the March service period, and a
    token bundle whose name lacks the amount."""
    if not TaxRate.objects.filter(code="VAT_DE_I18N").exists():
        tax_rate("DE", "19.00", name="MwSt.", code="VAT_DE_I18N")
    sub = subscription(user)
    return issue_invoice(
        user,
        [
            subscription_draft(sub, unit_price="1234.56", description="Pro", **MARCH),
            LineDraft(type=LineType.TOKEN_BUNDLE, description="Starter (1000 tokens)",
                      unit_price=Decimal("10.00")),
        ],
    )  # fmt: skip


# --- languages ----------------------------------------------------------------------------------


def test_a_german_buyer_reads_german_labels_dates_and_numbers(read):
    invoice = thousands_invoice(customer("de-AT"))

    data = render_invoice_pdf(invoice)
    text, layout = read(data), read(data, layout=True)

    for label in ("Rechnung", "Rechnungsempfänger", "Rechnungsnummer", "Fällig am",
                  "Beschreibung", "Einzelpreis", "Steueraufstellung", "Zwischensumme",
                  "Offener Betrag", "Verwendungszweck", "USt-IdNr.: DE136695976"):  # fmt: skip
        assert label in text, label
    assert "Leistungszeitraum: 1. März 2026 – 31. März 2026" in text
    assert "Starter (1.000 Tokens)" in text
    # 1,234.56 + 10.00 net, 19 % MwSt. = 236.47: German digits, the rate's own name
    assert re.search(r"Zwischensumme +1\.244,56 EUR", layout)
    assert re.search(r"Steuer +236,47 EUR", layout)
    assert re.search(r"Gesamt +1\.481,03 EUR", layout)
    assert re.search(r"MwSt\. +19% +1\.244,56 +236,47", layout)
    assert "Bitte zahlen Sie 1.481,03 EUR bis zum" in text
    assert "Seite 1 von 1" in text
    for english in ("Invoice number", "Subtotal", "Amount due", "Service period", "page 1"):
        assert english not in text, english


def test_a_russian_buyer_reads_russian_labels_and_cyrillic_names(read):
    invoice = thousands_invoice(customer("ru"))

    data = render_invoice_pdf(invoice)
    text, layout = read(data), read(data, layout=True)

    assert "Иван Петров" in text
    for label in ("Счёт", "Плательщик", "Номер счёта", "Оплатить до", "Описание", "Подытог",
                  "К оплате", "Назначение платежа", "Номер НДС: DE136695976"):  # fmt: skip
        assert label in text, label
    assert "Период услуги: 1 марта 2026 г. – 31 марта 2026 г." in text
    assert "Starter (1 000 токенов)" in text
    assert re.search(r"Итого +1 481,03 EUR", layout)
    assert "страница 1 из 1" in text
    assert "Invoice number" not in text


def test_french_and_spanish_buyers(read):
    french = read(render_invoice_pdf(thousands_invoice(customer("fr"))))
    spanish = read(render_invoice_pdf(thousands_invoice(customer("es-MX"))))

    for label in ("Facture", "Facturé à", "Sous-total", "Montant dû", "1 481,03 EUR",
                  "Période de service: 1 mars 2026 – 31 mars 2026", "page 1 sur 1"):  # fmt: skip
        assert label in french, label
    for label in ("Factura", "Facturar a", "Importe pendiente", "1 481,03 EUR",
                  "Periodo de servicio: 1 de marzo de 2026 – 31 de marzo de 2026",
                  "página 1 de 1"):  # fmt: skip
        assert label in spanish, label


def test_an_english_document_has_no_german_word_and_names_the_tax_as_its_rate_does(read):
    user = customer("en")
    tax_rate("DE", "19.00", name="VAT", code="VAT_DE_ENGLISH")
    invoice = issue_invoice(user, [custom_draft("1234.56", **MARCH)])

    data = render_invoice_pdf(invoice)
    text = read(data)
    labels = text.replace(SELLER["company_name"], "").replace(SELLER["address_street"], "")
    labels = labels.replace(SELLER["bank_name"], "")

    for word in GERMAN_LABELS:
        assert word not in labels, word
    assert re.search(r"VAT +19% +1,234\.56 +234\.57", read(data, layout=True))
    assert "Service period: March 1, 2026 – March 31, 2026" in text
    assert re.search(r"Total +1,469\.13 EUR", read(data, layout=True))
    assert "page 1 of 1" in text


def test_the_language_falls_back_to_the_platform_default_then_english(read, settings):
    settings.VBWD_DEFAULT_LANGUAGE = "de"
    unread = issue_invoice(customer("ja"))  # no catalog for Japanese: the platform's default
    silent = issue_invoice(customer(None))

    assert "Rechnungsnummer" in read(render_invoice_pdf(unread))
    assert "Rechnungsnummer" in read(render_invoice_pdf(silent))
    assert "Invoice number" in read(render_invoice_pdf(silent, locale="en-GB"))
    settings.VBWD_DEFAULT_LANGUAGE = "xx"
    assert "Invoice number" in read(render_invoice_pdf(silent))
    assert pdf.pdf_language("pt-BR", None) == "en"


def test_the_credit_note_is_written_in_the_buyers_language(read):
    invoice = paid_invoice(customer("de"), [custom_draft("50.00"), custom_draft("1000.00")])
    credit_note = CreditNote.objects.create(
        credit_note_number=number_allocate(series="CN", year=timezone.now().year),
        invoice=invoice,
        user=invoice.user,
        currency="EUR",
        net_amount=Decimal("1000.00"),
        tax_amount=Decimal("190.00"),
        amount=Decimal("1190.00"),
        customer_reason="Kulanz",
    )

    text = read(render_credit_note_pdf(credit_note))

    for label in ("Gutschrift", "Gutschriftsnummer", "Rechnungsdatum", "Grund", "Kulanz",
                  f"Teilerstattung zur Rechnung {invoice.invoice_number}", "Gutgeschrieben",
                  "1.190,00 EUR", "Seite 1 von 1", "Иван Петров"):  # fmt: skip
        assert label in text, label
    assert f"Diese Gutschrift bezieht sich auf die Rechnung {invoice.invoice_number} vom" in text
    assert "Credit note" not in text
    assert "Partial refund" not in text

    invoice.user.details.config = {"language": "ru"}
    invoice.user.details.save(update_fields=["config"])
    russian = read(render_credit_note_pdf(credit_note))
    assert "Кредит-нота" in russian
    assert "Частичный возврат по счёту" in russian
    assert "1 190,00 EUR" in russian


def test_every_language_has_a_compiled_catalog_matching_its_source():
    for language in PDF_LANGUAGES:
        folder = BASE_DIR / "locale" / language / "LC_MESSAGES"
        source = (folder / "django.po").read_text()
        with open(folder / "django.mo", "rb") as compiled:
            catalog = gettext.GNUTranslations(compiled)
        pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', source, flags=re.MULTILINE)
        assert len(pairs) > 40, language
        for msgid, msgstr in pairs:
            assert catalog.gettext(msgid) == msgstr, (language, msgid)
        assert catalog.gettext("Invoice") == {
            "en": "Invoice", "de": "Rechnung", "fr": "Facture", "es": "Factura", "ru": "Счёт",
        }[language]  # fmt: skip


# --- lines, pages, bank details, logo -----------------------------------------------------------


def test_each_subscription_and_add_on_line_prints_its_service_period(read):
    user = customer("en")
    april = {
        "period_start": timezone.make_aware(datetime.datetime(2026, 4, 1, 12)),
        "period_end": timezone.make_aware(datetime.datetime(2026, 4, 30, 12)),
    }
    invoice = issue_invoice(
        user,
        [
            subscription_draft(subscription(user), unit_price="20.00", description="Pro", **MARCH),
            addon_draft(addon_subscription(user), unit_price="5.00", description="Extra seat",
                        **april),
            custom_draft("1.00", description="Setup fee"),
        ],
    )  # fmt: skip

    text = read(render_invoice_pdf(invoice))

    assert "Pro Service period: March 1, 2026 – March 31, 2026" in text
    assert "Extra seat Service period: April 1, 2026 – April 30, 2026" in text
    assert text.count("Service period") == 2  # the fee has none


def test_every_page_says_page_x_of_y(read):
    drafts = [custom_draft("1.00", description=f"Seat {number:02d}") for number in range(80)]
    long_invoice = issue_invoice(customer("en"), drafts)

    data = render_invoice_pdf(long_invoice)

    pages = PdfReader(BytesIO(data)).pages
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert f"page {number} of {len(pages)}" in " ".join(page.extract_text().split())
    text = read(data)
    assert f"page {len(pages)} of {len(pages)}" in text
    assert "page-count" not in text
    assert "page 1 of 1" in read(render_invoice_pdf(issue_invoice(customer("en"))))


def test_the_iban_is_printed_in_groups_of_four(read):
    text = read(render_invoice_pdf(issue_invoice(customer("en"))))

    assert "IBAN DE89 3704 0044 0532 0130 00" in text or (
        "DE89 3704 0044 0532 0130 00" in text and "IBAN" in text
    )
    assert "DE89370400440532013000" not in text
    assert pdf.iban_grouped(" gb82 west 1234 5698 7654 32") == "GB82 WEST 1234 5698 7654 32"


def test_a_token_bundle_line_says_its_amount_once(read):
    invoice = issue_invoice(
        customer("en"),
        [
            LineDraft(type=LineType.TOKEN_BUNDLE, description="500 Tokens (500 tokens)",
                      unit_price=Decimal("5.00")),
            LineDraft(type=LineType.TOKEN_BUNDLE, description="Starter (1000 tokens)",
                      unit_price=Decimal("9.00")),
            custom_draft("1.00", description="Consulting (3 tokens)"),
        ],
    )  # fmt: skip

    text = read(render_invoice_pdf(invoice))

    assert "500 Tokens 1 5.00" in text
    assert "(500 tokens)" not in text
    assert "Starter (1,000 tokens)" in text
    assert "Consulting (3 tokens)" in text  # only token-bundle lines are rewritten
    assert bundle_description("500 Tokens", 500) == "500 Tokens"
    assert bundle_description("1,000 tokens", 1000) == "1,000 tokens"
    assert bundle_description("Starter", 1000) == "Starter (1000 tokens)"


@pytest.fixture
def images(tmp_path):
    if shutil.which("pdfimages") is None:
        pytest.skip("pdfimages (poppler-utils) is not installed: cannot list the PDF's images")

    def listed(data: bytes) -> list[list[str]]:
        path = tmp_path / "images.pdf"
        path.write_bytes(data)
        out = subprocess.run(
            ["pdfimages", "-list", str(path)], check=True, capture_output=True, text=True
        ).stdout
        return [row.split() for row in out.splitlines()[2:] if row.strip()]

    return listed


def test_the_logo_is_printed_only_when_set(images, settings, tmp_path, read):
    logo = tmp_path / "logo.png"
    Image.new("RGB", (400, 100), (20, 90, 160)).save(logo)
    invoice = issue_invoice(customer("en"))

    settings.VBWD_INVOICE_LOGO = ""
    assert images(render_invoice_pdf(invoice)) == []

    settings.VBWD_INVOICE_LOGO = str(logo)
    with_logo = render_invoice_pdf(invoice)
    rows = images(with_logo)
    assert len(rows) == 1
    assert rows[0][3:5] == ["400", "100"]  # width, height in pixels
    assert "VBWD Software GmbH" in read(with_logo)

    # Not an image, or no such file: printed without, never an error.
    not_an_image = tmp_path / "logo.txt"
    not_an_image.write_text("hello")
    for path in (not_an_image, tmp_path / "missing.png"):
        settings.VBWD_INVOICE_LOGO = str(path)
        assert images(render_invoice_pdf(invoice)) == []


def test_the_checks_name_a_default_language_without_catalog_and_an_unreadable_logo(
    settings, tmp_path
):
    from billing.invoices.checks import pdf_settings_check

    assert pdf_settings_check() == []
    settings.VBWD_DEFAULT_LANGUAGE = "ja"
    settings.VBWD_INVOICE_LOGO = str(tmp_path / "missing.png")

    assert [warning.id for warning in pdf_settings_check()] == ["invoices.W001", "invoices.W002"]
    settings.VBWD_DEFAULT_LANGUAGE = "de-AT"
    assert [warning.id for warning in pdf_settings_check()] == ["invoices.W002"]

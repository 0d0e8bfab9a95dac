"""Invoice and credit-note PDFs: what pdftotext reads back from the rendered bytes."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from decimal import Decimal
from io import BytesIO

import pytest
from django.utils import dateformat, timezone
from pypdf import PdfReader
from pypdf.generic import ContentStream

from accounts.models import UserDetails
from accounts.tests.factories import UserFactory
from billing.catalog.models import Currency, PaymentMethod, TaxRate
from billing.catalog.tests.factories_geography import CurrencyFactory
from billing.catalog.tests.factories_payment_methods import (
    PaymentMethodFactory,
    PaymentMethodTranslationFactory,
)
from billing.invoices.models import CreditNote, InvoiceStatus, LineType
from billing.invoices.pdf import (
    credit_note_pdf_context,
    invoice_pdf_context,
    render_credit_note_pdf,
    render_invoice_pdf,
    tax_breakdown,
)
from billing.invoices.services import (
    LineDraft,
    invoice_issue,
    invoice_mark_paid,
    number_allocate,
)
from platform_settings.services import platform_settings_update

pytestmark = pytest.mark.django_db

SELLER = {
    "company_name": "VBWD Software GmbH",
    "address_street": "Hauptstraße 5",
    "address_city": "Berlin",
    "address_postal_code": "10115",
    "address_country": "DE",
    "vat_id": "DE136695976",
    "company_email": "billing@vbwd.example",
    "website_url": "https://vbwd.example",
    "bank_account_holder": "VBWD Software GmbH",
    "bank_name": "Commerzbank",
    "bank_iban": "DE89370400440532013000",
    "bank_bic": "COBADEFFXXX",
    "invoice_footer": "Registered at Amtsgericht Berlin, HRB 123456",
}
GREEK_BUYER = {
    "first_name": "Иван",
    "last_name": "Петров",
    "address_line_1": "Οδός Ερμού 10",
    "city": "Αθήνα",
    "postal_code": "10563",
    "country": "GR",
}


@pytest.fixture
def pdf_text(tmp_path):
    """pdftotext's reading of PDF bytes (poppler-utils)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF text back")

    def read(data: bytes, *, layout: bool = False) -> str:
        path = tmp_path / "document.pdf"
        path.write_bytes(data)
        command = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    return read


@pytest.fixture
def seller(admin_user):
    return platform_settings_update(data=SELLER, actor=admin_user)


@pytest.fixture
def greek_vat():
    return TaxRate.objects.create(
        country_code="GR",
        name="ΦΠΑ",
        code="GR_VAT_24",
        rate=Decimal("24"),
        valid_from=datetime.date(2020, 1, 1),
    )


@pytest.fixture
def eur():
    return Currency.objects.get(code="EUR")


@pytest.fixture
def bank_transfer():
    return PaymentMethod.objects.get(code="invoice")


def buyer(**details):
    user = UserFactory(email="buyer@example.com")
    UserDetails.objects.filter(user=user).update(**details)
    user.refresh_from_db()
    return user


def issue(user, currency, drafts, method=None):
    return invoice_issue(
        user=user,
        invoice_type="CHECKOUT",
        currency=currency,
        drafts=drafts,
        payment_method=method,
    )


def english_date(moment) -> str:
    """How an English document writes the day of ``moment``: ``Dec. 8, 2026``."""
    return dateformat.format(timezone.localtime(moment).date(), "N j, Y")


def plan_drafts():
    return [
        LineDraft(type=LineType.SUBSCRIPTION, description="Pro plan (monthly)",
                  unit_price=Decimal("100.00")),
        LineDraft(type=LineType.TOKEN_BUNDLE, description="1,000 tokens",
                  unit_price=Decimal("25.00"), quantity=2),
    ]  # fmt: skip


def test_greek_buyer_in_cyrillic_and_greek(seller, greek_vat, eur, bank_transfer, pdf_text):
    invoice = issue(buyer(**GREEK_BUYER), eur, plan_drafts(), bank_transfer)

    data = render_invoice_pdf(invoice)

    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    assert "Иван Петров" in text
    assert "Οδός Ερμού 10" in text
    assert "10563 Αθήνα" in text
    assert "Greece (GR)" in text
    assert invoice.invoice_number in text
    assert "Pro plan (monthly)" in text
    assert "ΦΠΑ" in text
    assert "24%" in text
    layout = pdf_text(data, layout=True)
    assert re.search(r"Subtotal +150\.00 EUR", layout)
    assert re.search(r"Tax +36\.00 EUR", layout)
    assert re.search(r"Total +186\.00 EUR", layout)
    assert re.search(r"Amount due +186\.00 EUR", layout)
    # description, quantity, unit price, net, rate, tax, gross
    assert re.search(r"Pro plan \(monthly\) +1 +100\.00 +100\.00 +24% +24\.00 +124\.00", layout)
    assert re.search(r"1,000 tokens +2 +25\.00 +50\.00 +24% +12\.00 +62\.00", layout)
    assert "Reverse charge" not in text


def test_every_glyph_is_drawn_in_embedded_dejavu(seller, greek_vat, eur):
    invoice = issue(buyer(**GREEK_BUYER), eur, plan_drafts())

    drawn = fonts_drawing_text(render_invoice_pdf(invoice))

    # ReportLab opens each text object with Helvetica selected; nothing is drawn in it.
    assert drawn == {"/AAAAAA+DejaVuSans", "/AAAAAA+DejaVuSans-Bold"}


def test_seller_buyer_dates_and_bank_details_of_an_unpaid_invoice(
    seller, greek_vat, eur, bank_transfer, pdf_text
):
    invoice = issue(buyer(**GREEK_BUYER), eur, plan_drafts(), bank_transfer)

    text = pdf_text(render_invoice_pdf(invoice))

    for expected in (
        "VBWD Software GmbH",
        "Hauptstraße 5",
        "10115 Berlin",
        "Germany (DE)",
        "VAT ID: DE136695976",
        "billing@vbwd.example",
        "https://vbwd.example",
        english_date(invoice.invoiced_at),
        english_date(invoice.due_date),
        "Transfer the invoice total to the bank account on the invoice, quoting the invoice "
        "number.",
        "DE89 3704 0044 0532 0130 00",
        "COBADEFFXXX",
        "Commerzbank",
        "Registered at Amtsgericht Berlin, HRB 123456",
    ):
        assert expected in text, expected
    assert "Reference" in text
    assert text.count(invoice.invoice_number) >= 3  # header, details, payment reference
    assert "PAID" not in text


def test_reverse_charge_invoice_says_so(seller, greek_vat, eur, pdf_text):
    company = buyer(
        **GREEK_BUYER, company="Ακμή Α.Ε.", tax_number="EL094259216"
    )  # fmt: skip
    invoice = issue(company, eur, plan_drafts())
    assert invoice.reverse_charge is True

    text = pdf_text(render_invoice_pdf(invoice))

    assert (
        "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive "
        "2006/112/EC)." in " ".join(text.split())
    )
    assert "Ακμή Α.Ε." in text
    assert "VAT ID: EL094259216" in text
    assert "0%" in text
    assert "150.00 EUR" in text
    assert "24%" not in text


def test_paid_invoice_has_the_stamp_and_no_payment_request(
    seller, greek_vat, eur, bank_transfer, admin_user, pdf_text
):
    invoice = issue(buyer(**GREEK_BUYER), eur, plan_drafts(), bank_transfer)
    paid_at = timezone.now()
    invoice = invoice_mark_paid(
        invoice_id=invoice.pk, actor=admin_user, payment_reference="TRX-1", paid_at=paid_at
    ).invoice
    assert invoice.status == InvoiceStatus.PAID

    text = pdf_text(render_invoice_pdf(invoice), layout=True)

    assert "PAID" in text
    assert "Paid on" in text
    assert english_date(invoice.paid_at) in text
    assert "186.00 EUR" in text
    assert re.search(r"Amount due +0\.00 EUR", text)
    assert "DE89 3704" not in text
    assert "Please pay" not in text


def test_accented_latin_names(seller, eur, pdf_text):
    user = buyer(
        first_name="Zoë",
        last_name="Müller-Ñúñez",
        company="Société Ærø & Fils",
        address_line_1="Rue de l'Église 3",
        city="Łódź",
        postal_code="90-001",
        country="PL",
    )
    invoice = issue(user, eur, [LineDraft(type=LineType.CUSTOM, description="Café crème",
                                          unit_price=Decimal("9.99"))])  # fmt: skip

    text = pdf_text(render_invoice_pdf(invoice))

    assert "Zoë Müller-Ñúñez" in text
    assert "Société Ærø & Fils" in text
    assert "Rue de l'Église 3" in text
    assert "90-001 Łódź" in text
    assert "Poland (PL)" in text
    assert "Café crème" in text


def test_credit_note_pdf(seller, greek_vat, eur, admin_user, pdf_text):
    invoice = issue(buyer(**GREEK_BUYER), eur, plan_drafts())
    invoice = invoice_mark_paid(invoice_id=invoice.pk, actor=admin_user).invoice
    credit_note = CreditNote.objects.create(
        credit_note_number=number_allocate(series="CN", year=timezone.now().year),
        invoice=invoice,
        user=invoice.user,
        currency="EUR",
        net_amount=Decimal("50.00"),
        tax_amount=Decimal("12.00"),
        amount=Decimal("62.00"),
        reason="Internal: chargeback threatened, approved by finance",
        customer_reason="Tokens not used — goodwill",
        refund_reference="re_123",
        created_by=admin_user,
    )

    data = render_credit_note_pdf(credit_note)

    text = pdf_text(data)
    assert data.startswith(b"%PDF-")
    assert "Credit note" in text
    assert credit_note.credit_note_number in text
    assert credit_note.credit_note_number.startswith("CN-")
    assert invoice.invoice_number in text
    assert "Иван Петров" in text
    assert "Αθήνα" in text
    assert "Tokens not used — goodwill" in text
    assert "chargeback" not in text  # the staff's own reason is never printed
    assert "Partial refund" in text
    assert "re_123" in text
    assert "Registered at Amtsgericht Berlin, HRB 123456" in text
    layout = pdf_text(data, layout=True)
    assert "50.00 EUR" in layout
    assert "12.00 EUR" in layout
    assert "62.00 EUR" in layout
    assert "186.00 EUR" in layout  # the invoice total it refers to


def test_snapshots_not_current_settings_except_the_footer(
    seller, greek_vat, eur, bank_transfer, admin_user, pdf_text
):
    user = buyer(**GREEK_BUYER)
    invoice = issue(user, eur, plan_drafts(), bank_transfer)
    platform_settings_update(
        data={
            "company_name": "Renamed AG",
            "bank_iban": "GB82WEST12345698765432",
            "invoice_footer": "New footer",
        },
        actor=admin_user,
    )
    UserDetails.objects.filter(user=user).update(first_name="Other", city="Θεσσαλονίκη")

    text = pdf_text(render_invoice_pdf(invoice))

    assert "VBWD Software GmbH" in text
    assert "Renamed AG" not in text
    assert "DE89 3704 0044 0532 0130 00" in text
    assert "GB82" not in text
    assert "Иван Петров" in text
    assert "Αθήνα" in text
    assert "Θεσσαλονίκη" not in text
    assert "New footer" in text


def test_translated_instructions_in_the_owners_language(seller, eur, pdf_text):
    method = PaymentMethodFactory(code="wire", instructions="Pay by wire.")
    PaymentMethodTranslationFactory(
        payment_method=method, locale="de", instructions="Bitte überweisen Sie den Betrag."
    )
    user = buyer(country="DE", config={"language": "de-AT"})
    invoice = issue(user, eur, plan_drafts(), method)

    assert "Bitte überweisen Sie den Betrag." in pdf_text(render_invoice_pdf(invoice))
    assert "Pay by wire." in pdf_text(render_invoice_pdf(invoice, locale="en"))


def test_gateway_method_prints_its_text_without_bank_details(seller, eur, pdf_text):
    method = PaymentMethodFactory(
        code="card", plugin_id="alpha", instructions="Pay online from your account."
    )
    invoice = issue(buyer(country="DE"), eur, plan_drafts(), method)

    text = pdf_text(render_invoice_pdf(invoice))

    assert "Pay online from your account." in text
    assert "DE89 3704" not in text
    assert invoice.invoice_number in text


def test_money_uses_the_currency_places(seller, pdf_text):
    yen = CurrencyFactory(code="JPY", decimal_places=0, exchange_rate=Decimal("160"))
    invoice = issue(buyer(country="US"), yen, [
        LineDraft(type=LineType.CUSTOM, description="Seats", unit_price=Decimal("1200"),
                  quantity=3),
    ])  # fmt: skip

    text = pdf_text(render_invoice_pdf(invoice), layout=True)

    assert "3,600 JPY" in text
    assert "3,600.00" not in text


def test_tax_breakdown_one_row_per_rate(greek_vat, eur):
    invoice = issue(buyer(**GREEK_BUYER), eur, [
        *plan_drafts(),
        LineDraft(type=LineType.CUSTOM, description="Book", unit_price=Decimal("10.00"),
                  tax_rate=Decimal("6"), tax_name="ΦΠΑ μειωμένος"),
    ])  # fmt: skip

    rows = tax_breakdown(invoice.lines.all())

    assert rows == [
        {"name": "ΦΠΑ", "rate": Decimal("24.00"), "net": Decimal("150.00"),
         "tax": Decimal("36.00")},
        {"name": "ΦΠΑ μειωμένος", "rate": Decimal("6.00"), "net": Decimal("10.00"),
         "tax": Decimal("0.60")},
    ]  # fmt: skip
    context = invoice_pdf_context(invoice)
    assert context["tax_breakdown"] == [
        {"name": "ΦΠΑ", "rate": "24%", "net": "150.00", "tax": "36.00"},
        {"name": "ΦΠΑ μειωμένος", "rate": "6%", "net": "10.00", "tax": "0.60"},
    ]
    assert (context["subtotal"], context["tax_total"], context["total"]) == (
        "160.00", "36.60", "196.60"
    )  # fmt: skip


def test_refunded_amount_and_credit_note_context(seller, greek_vat, eur, admin_user):
    invoice = issue(buyer(**GREEK_BUYER), eur, plan_drafts())
    invoice = invoice_mark_paid(invoice_id=invoice.pk, actor=admin_user).invoice
    credit_note = CreditNote.objects.create(
        credit_note_number="CN-2026-000001",
        invoice=invoice,
        user=invoice.user,
        currency="EUR",
        net_amount=Decimal("150.00"),
        tax_amount=Decimal("36.00"),
        amount=Decimal("186.00"),
        full_refund=True,
    )

    context = credit_note_pdf_context(credit_note)

    assert context["kind"] == "Full refund"
    assert (context["net"], context["tax"], context["total"]) == ("150.00", "36.00", "186.00")
    assert context["invoice_number"] == invoice.invoice_number
    assert context["buyer"]["name"] == "Иван Петров"
    assert context["customer_reason"] is None
    assert "reason" not in context


def test_render_query_count(seller, greek_vat, eur, bank_transfer, django_assert_max_num_queries):
    invoice = issue(buyer(**GREEK_BUYER), eur, plan_drafts(), bank_transfer)
    render_invoice_pdf(invoice)  # settings cached

    # currency places, lines, country names, payment method, owner's language
    with django_assert_max_num_queries(5):
        render_invoice_pdf(invoice)


def fonts_drawing_text(data: bytes) -> set[str]:
    """BaseFont of every font that shows text, following Tf through q/Q."""
    reader = PdfReader(BytesIO(data))
    drawn = set()
    for page in reader.pages:
        names = {
            key: str(font.get_object()["/BaseFont"])
            for key, font in page["/Resources"]["/Font"].items()
        }
        current, stack = None, []
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"q":
                stack.append(current)
            elif operator == b"Q":
                current = stack.pop()
            elif operator == b"Tf":
                current = names[operands[0]]
            elif operator in (b"Tj", b"TJ", b"'", b'"'):
                drawn.add(current)
    return drawn


def test_long_invoice_repeats_the_table_header_on_each_page(seller, eur, pdf_text):
    drafts = [
        LineDraft(type=LineType.CUSTOM, description=f"Seat {number:02d}", unit_price=Decimal("1"))
        for number in range(80)
    ]
    invoice = issue(buyer(country="DE"), eur, drafts)

    data = render_invoice_pdf(invoice)

    pages = [page.extract_text() for page in PdfReader(BytesIO(data)).pages]
    with_lines = [page for page in pages if "Seat " in page]
    assert len(with_lines) >= 2
    assert all("Unit price" in page for page in with_lines)
    text = pdf_text(data)
    assert "Seat 00" in text
    assert "Seat 79" in text
    assert "80.00 EUR" in text


def test_buyer_text_is_printed_not_interpreted_as_markup(seller, eur, pdf_text):
    user = buyer(first_name="<b>Eve</b>", company='<img src="/etc/passwd">', country="DE")
    invoice = issue(user, eur, plan_drafts())

    text = pdf_text(render_invoice_pdf(invoice))

    assert "<b>Eve</b>" in text
    assert '<img src="/etc/passwd">' in text

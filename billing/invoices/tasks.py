"""Invoice jobs: the invoice email (PDF attached), storing issued documents' PDFs and the overdue
scan."""

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string


def _day(value) -> str | None:
    return value.date().isoformat() if value else None


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invoice_email(invoice_id: str) -> bool:
    """Emails the invoice with its PDF to the buyer; an anonymised buyer gets nothing.
    Returns whether a message was sent."""
    from billing.catalog.models import PaymentMethod
    from billing.catalog.pricing import format_money
    from billing.catalog.selectors import currency_places
    from billing.invoices.models import Invoice, InvoiceStatus
    from billing.invoices.pdf_store import stored_invoice_pdf
    from billing.invoices.services.emailing import invoice_recipient

    invoice = Invoice.objects.select_related("user").filter(pk=invoice_id).first()
    if invoice is None:
        return False
    email = invoice_recipient(invoice)
    if email is None:
        return False
    places = currency_places(invoice.currency)
    seller = invoice.seller or {}
    open_invoice = invoice.status in (InvoiceStatus.PENDING, InvoiceStatus.OVERDUE)
    method = (
        PaymentMethod.objects.filter(code=invoice.payment_method).first()
        if invoice.payment_method
        else None
    )
    # Bank details only for offline methods; a gateway invoice is paid in the customer's account.
    by_transfer = method is None or not method.plugin_id
    context = {
        "name": (invoice.billing_address or {}).get("name"),
        "number": invoice.invoice_number,
        "status": invoice.status,
        "total": format_money(invoice.total_amount, places),
        "currency": invoice.currency,
        "payable": open_invoice and invoice.total_amount > 0,
        "issued_on": _day(invoice.invoiced_at),
        "due_on": _day(invoice.due_date),
        "paid_on": _day(invoice.paid_at),
        "method_name": invoice.payment_method_name,
        "account_holder": seller.get("bank_account_holder") or seller.get("company_name"),
        "bank_name": seller.get("bank_name"),
        "iban": seller.get("bank_iban") if by_transfer else None,
        "bic": seller.get("bank_bic"),
        "seller_name": seller.get("company_name"),
    }
    message = EmailMessage(
        subject=f"Invoice {invoice.invoice_number}",
        body=render_to_string("emails/invoice.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
    )
    message.attach(f"{invoice.invoice_number}.pdf", stored_invoice_pdf(invoice), "application/pdf")
    message.send()
    return True


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def store_document_pdfs(invoice_ids: list[str], credit_note_ids: list[str]) -> int:
    """Renders and stores the PDFs of just-issued invoices and credit notes, so their downloads
    read a file (``billing/invoices/pdf_store.py``). Returns how many documents were found."""
    from billing.invoices.pdf_store import pdfs_store

    return pdfs_store(invoice_ids, credit_note_ids)


@shared_task
def mark_overdue_invoices():
    """Marks open invoices past their due date OVERDUE (``invoice_overdue`` per invoice)."""
    from billing.invoices.services.overdue import invoices_mark_overdue

    return invoices_mark_overdue()


@shared_task
def refunds_complete_pending():
    """Repeats unanswered provider refunds with their own keys and records them."""
    from billing.invoices.services.refunds import refunds_complete_pending

    return refunds_complete_pending()

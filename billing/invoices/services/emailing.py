"""Sending an invoice to its buyer by email."""

from __future__ import annotations

from django.db import transaction

from accounts.models import UserStatus
from audit.services import audit_record
from billing.invoices.models import Invoice
from vbwd.exceptions import BusinessRuleError, NotFound

ANONYMISED_DOMAIN = "@anonymised.invalid"
NO_EMAIL = "Invoice cannot be sent: the customer has no email address"


def invoice_recipient(invoice: Invoice) -> str | None:
    """The buyer's current email address; None for an anonymised user."""
    user = invoice.user
    email = (user.email or "").strip()
    if user.status == UserStatus.DELETED or not email or email.endswith(ANONYMISED_DOMAIN):
        return None
    return email


def invoice_resend(*, invoice_id, actor) -> str:
    """Queues the invoice email (PDF attached) to the buyer after commit and returns the
    address; refused for an anonymised buyer."""
    from billing.invoices import tasks

    with transaction.atomic():
        invoice = Invoice.objects.select_related("user").filter(pk=invoice_id).first()
        if invoice is None:
            raise NotFound("Invoice not found")
        email = invoice_recipient(invoice)
        if email is None:
            raise BusinessRuleError(NO_EMAIL)
        audit_record(
            action="invoice.sent",
            object_type="invoice",
            object_id=invoice.pk,
            subject_user_id=invoice.user_id,
            summary=f"Invoice {invoice.invoice_number} sent to {email}",
            actor=actor,
            after={"email": email},
        )
        invoice_pk = str(invoice.pk)
        transaction.on_commit(lambda: tasks.send_invoice_email.delay(invoice_pk), robust=True)
    return email

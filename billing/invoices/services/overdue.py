"""The overdue job: PENDING invoices past their due date become OVERDUE."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from audit.models import ActorType
from audit.services import audit_record
from billing.invoices.models import Invoice, InvoiceStatus
from billing.invoices.signals import invoice_overdue

JOB_NAME = "invoices_mark_overdue"


def _send_overdue(invoice: Invoice) -> None:
    invoice_overdue.send_on_commit(sender=Invoice, invoice=invoice)


def invoices_mark_overdue(*, batch_size: int = 500, now: datetime.datetime | None = None) -> int:
    """Moves every PENDING invoice whose due date has passed to OVERDUE, one batch per
    transaction; rows another worker holds are skipped, so concurrent runs mark each invoice
    once and ``invoice_overdue`` is sent once per invoice, after commit. Returns how many."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    marked = 0
    while True:
        with transaction.atomic():
            batch = list(
                Invoice.objects.select_for_update(skip_locked=True)
                .filter(status=InvoiceStatus.PENDING, due_date__lt=now)
                .order_by("due_date", "pk")[:batch_size]
            )
            if not batch:
                return marked
            for invoice in batch:
                invoice.mark_overdue()
                invoice.save(update_fields=["status", "updated_at"])
                audit_record(
                    action="invoice.overdue",
                    object_type="invoice",
                    object_id=invoice.pk,
                    subject_user_id=invoice.user_id,
                    summary=(
                        f"Invoice {invoice.invoice_number} overdue: due "
                        f"{invoice.due_date:%Y-%m-%d %H:%M} UTC"
                    ),
                    actor_type=ActorType.SYSTEM,
                    actor_label=JOB_NAME,
                    before={"status": InvoiceStatus.PENDING},
                    after={"status": InvoiceStatus.OVERDUE},
                )
                _send_overdue(invoice)
                marked += 1

"""Voiding an unpaid invoice."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing.invoices import lines as line_registry
from billing.invoices.models import Invoice


def invoice_void(
    *,
    invoice_id,
    actor=None,
    reason: str | None = None,
    actor_type: str | None = None,
    actor_label: str | None = None,
) -> Invoice:
    """PENDING/OVERDUE → CANCELLED; every line's pending purchase is cancelled by its handler
    (a CHECKOUT invoice's pending subscription, add-ons and bundles can no longer be paid)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        now = timezone.now()
        before = invoice.status
        invoice.void(at=now)
        invoice.save(update_fields=["status", "cancelled_at", "updated_at"])
        audit_record(
            action="invoice.voided",
            object_type="invoice",
            object_id=invoice.pk,
            subject_user_id=invoice.user_id,
            summary=f"Invoice {invoice.invoice_number} voided",
            actor=actor,
            actor_type=actor_type,
            actor_label=actor_label,
            before={"status": before},
            after={"status": invoice.status},
            reason=reason,
        )
        context = line_registry.LineContext(
            invoice=invoice,
            now=now,
            actor=actor,
            actor_type=actor_type,
            actor_label=actor_label,
            reason=reason,
        )
        for line in invoice.lines.all():
            line_registry.handler_for(line.type).cancel(line, context)
    return invoice

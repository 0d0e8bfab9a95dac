"""The data functions the views render with: currencies read once per call."""

from __future__ import annotations

from collections.abc import Iterable

from billing.catalog.models import Plan
from billing.invoices.extensions import subscription_facts
from billing.invoices.models import (
    CreditNote,
    Invoice,
    Payment,
)
from billing.invoices.selectors import currency_places_by_code
from billing.invoices.serializers.documents import (
    AdminPaymentSerializer,
    CreditNoteSerializer,
    PaymentSerializer,
)
from billing.invoices.serializers.envelopes import (
    BankTransferInstructionsSerializer,
    GatewaySessionSerializer,
)
from billing.invoices.serializers.invoices import (
    AdminInvoiceDetailSerializer,
    AdminInvoiceSerializer,
    InvoiceDetailSerializer,
    InvoiceRefSerializer,
    InvoiceSerializer,
)
from vbwd.rows import row_by


def _context(places: dict[str, int] | None) -> dict:
    return {"places": places if places is not None else currency_places_by_code()}


def invoice_data(invoice: Invoice, *, detail: bool = False, places=None) -> dict:
    """One invoice in the user shape; ``detail`` adds payments and credit notes."""
    serializer = InvoiceDetailSerializer if detail else InvoiceSerializer
    return serializer(invoice, context=_context(places)).data


def invoices_data(invoices: Iterable[Invoice]) -> list:
    """Invoices in the user shape, currencies read once."""
    invoices = list(invoices)
    places = currency_places_by_code() if invoices else {}
    return InvoiceSerializer(invoices, many=True, context=_context(places)).data


def _plan_for(invoice: Invoice) -> dict:
    """``{id: Plan}`` of the invoice's plan (empty without one, or when it is gone)."""
    if invoice.tarif_plan_id is None:
        return {}
    plan = row_by(Plan, "id", invoice.tarif_plan_id)
    return {} if plan is None else {plan.pk: plan}


def admin_invoice_data(
    invoice: Invoice, *, detail: bool = False, facts: dict | None = None, places=None
) -> dict:
    """One invoice in the admin shape. ``detail`` adds payments with provider data, credit notes
    and the plan and subscription facts; ``facts`` is the mapping of
    ``extensions.subscription_facts`` (read here when not given)."""
    context = _context(places)
    if not detail:
        return AdminInvoiceSerializer(invoice, context=context).data
    if facts is None:
        facts = subscription_facts([invoice.subscription_id])
    context["facts"] = facts
    context["plans"] = _plan_for(invoice)
    return AdminInvoiceDetailSerializer(invoice, context=context).data


def admin_invoices_data(invoices: Iterable[Invoice]) -> list:
    """Invoices in the admin list shape, currencies read once."""
    invoices = list(invoices)
    places = currency_places_by_code() if invoices else {}
    return AdminInvoiceSerializer(invoices, many=True, context=_context(places)).data


def invoice_ref_data(invoice: Invoice, *, places=None) -> dict:
    return InvoiceRefSerializer(invoice, context=_context(places)).data


def payment_data(payment: Payment, *, admin: bool = False, places=None) -> dict:
    """A Payment; ``admin`` adds ``provider_data``."""
    serializer = AdminPaymentSerializer if admin else PaymentSerializer
    return serializer(payment, context=_context(places)).data


def credit_note_data(credit_note: CreditNote, *, places=None) -> dict:
    """A CreditNote (reads ``credit_note.invoice`` for its number: select it with the note)."""
    return CreditNoteSerializer(credit_note, context=_context(places)).data


def payment_start_data(start) -> dict:
    """PaymentStart from ``billing.invoices.services.payments.PaymentStart``."""
    context = _context(None)
    payment = start.payment
    return {
        "action": start.action,
        "invoice": InvoiceSerializer(start.invoice, context=context).data,
        "payment": PaymentSerializer(payment, context=context).data if payment else None,
        "instructions": (
            BankTransferInstructionsSerializer(start.instructions).data
            if start.instructions is not None
            else None
        ),
        "session": (
            GatewaySessionSerializer(start.session).data if start.session is not None else None
        ),
        "message": start.message,
    }


def credit_notes_data(credit_notes: Iterable[CreditNote]) -> list:
    credit_notes = list(credit_notes)
    places = currency_places_by_code() if credit_notes else {}
    return CreditNoteSerializer(credit_notes, many=True, context=_context(places)).data

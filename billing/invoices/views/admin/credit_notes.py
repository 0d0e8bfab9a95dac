"""Staff credit-note endpoints."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from billing.invoices import selectors
from billing.invoices.models import CreditNote
from billing.invoices.pdf import render_credit_note_pdf
from billing.invoices.serializers import (
    CreditNoteEnvelopeSerializer,
    CreditNoteListSerializer,
    CreditNotePageSerializer,
    credit_note_data,
    credit_notes_data,
)
from billing.invoices.views.admin.common import (
    CREDIT_NOTE_NOT_FOUND,
    CREDIT_NOTE_TAGS,
    DATE_PARAMETERS,
    PAGINATION_PARAMETERS,
    PDF_RESPONSE,
    TAGS,
    _filter_dates,
    _pdf,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.exceptions import NotFound
from vbwd.filters import parse_uuid
from vbwd.pagination import paginate
from vbwd.schema import errors


class AdminInvoiceCreditNotesView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The invoice's credit notes, oldest first",
        responses={200: CreditNoteListSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, invoice_id):
        invoice = selectors.invoice_for_staff(invoice_id, detail=False)
        notes = (
            CreditNote.objects.filter(invoice=invoice)
            .select_related("invoice")
            .order_by("created_at", "credit_note_number")
        )
        return Response({"credit_notes": credit_notes_data(notes)})


# --- credit notes ---------------------------------------------------------------------------


def _credit_note(credit_note_id) -> CreditNote:
    note = CreditNote.objects.select_related("invoice").filter(pk=credit_note_id).first()
    if note is None:
        raise NotFound(CREDIT_NOTE_NOT_FOUND)
    return note


class AdminCreditNotesView(AdminMixin, ApiView):
    @extend_schema(
        tags=CREDIT_NOTE_TAGS,
        summary="Every credit note, paginated, newest first",
        parameters=[
            *PAGINATION_PARAMETERS,
            OpenApiParameter("user_id", str),
            OpenApiParameter("invoice_id", str),
            *DATE_PARAMETERS,
        ],
        responses={200: CreditNotePageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = request.query_params
        notes = CreditNote.objects.select_related("invoice")
        user_id = parse_uuid(query.get("user_id"), name="user_id")
        if user_id:
            notes = notes.filter(user_id=user_id)
        invoice_id = parse_uuid(query.get("invoice_id"), name="invoice_id")
        if invoice_id:
            notes = notes.filter(invoice_id=invoice_id)
        notes = _filter_dates(notes, query, "created_at")
        rows, meta = paginate(query, notes.order_by("-created_at", "-credit_note_number"))
        return Response({"credit_notes": credit_notes_data(rows), **meta})


class AdminCreditNoteView(AdminMixin, ApiView):
    @extend_schema(
        tags=CREDIT_NOTE_TAGS,
        summary="One credit note",
        responses={200: CreditNoteEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, credit_note_id):
        return Response({"credit_note": credit_note_data(_credit_note(credit_note_id))})


class AdminCreditNotePdfView(AdminMixin, ApiView):
    @extend_schema(
        tags=CREDIT_NOTE_TAGS,
        summary="The credit note as PDF",
        responses={**PDF_RESPONSE, **errors(401, 403, 404)},
    )
    def get(self, request, credit_note_id):
        note = _credit_note(credit_note_id)
        return _pdf(render_credit_note_pdf(note), f"{note.credit_note_number}.pdf")

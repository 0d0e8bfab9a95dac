"""Staff credit-note endpoints."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.invoices import selectors
from billing.invoices.models import CreditNote
from billing.invoices.pdf_store import stored_credit_note_pdf
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
    PAGINATION_PARAMETERS,
    PDF_RESPONSE,
    TAGS,
    UUID_MESSAGES,
    _pdf,
)
from billing.invoices.views.xml import (
    INCOMPLETE,
    XML_RESPONSE,
    EInvoiceQuerySerializer,
    profile_from,
    xml_response,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.exceptions import NotFound
from vbwd.fields import DateOrDateTimeField, UUIDField
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


class AdminCreditNotesQuerySerializer(serializers.Serializer):
    user_id = UUIDField(required=False, blank_as_null=True, error_messages=UUID_MESSAGES)
    invoice_id = UUIDField(required=False, blank_as_null=True, error_messages=UUID_MESSAGES)
    date_from = DateOrDateTimeField()
    date_to = DateOrDateTimeField()


class AdminCreditNotesView(AdminMixin, ApiView):
    @extend_schema(
        tags=CREDIT_NOTE_TAGS,
        summary="Every credit note, paginated, newest first",
        parameters=[AdminCreditNotesQuerySerializer, *PAGINATION_PARAMETERS],
        responses={200: CreditNotePageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = AdminCreditNotesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        notes = selectors.credit_notes_for_staff(**query.validated_data)
        rows, meta = paginate(request.query_params, notes)
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
        return _pdf(stored_credit_note_pdf(note), f"{note.credit_note_number}.pdf")


class AdminCreditNoteXmlView(AdminMixin, ApiView):
    @extend_schema(
        tags=CREDIT_NOTE_TAGS,
        summary="The credit note as a structured e-invoice (CII XML, EN 16931, type 381)",
        description="Factur-X / ZUGFeRD (profile EN 16931, the default) or XRechnung 3.0 "
        "(`profile=xrechnung`); it refers to the invoice it credits. " + INCOMPLETE,
        parameters=[EInvoiceQuerySerializer],
        responses={**XML_RESPONSE, **errors(400, 401, 403, 404, 409)},
    )
    def get(self, request, credit_note_id):
        profile = profile_from(request.query_params)
        note = _credit_note(credit_note_id)
        return xml_response(note, note.credit_note_number, profile)

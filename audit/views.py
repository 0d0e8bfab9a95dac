"""Admin API of the audit log (read-only)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from audit import selectors
from audit.serializers import (
    AuditEntryEnvelopeSerializer,
    AuditEntrySerializer,
    AuditPageSerializer,
    AuditQuerySerializer,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.pagination import paginate
from vbwd.schema import errors

TAGS = ["admin: audit log"]
PAGINATION_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]


class AdminAuditLogView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Audit entries, newest first, filtered",
        parameters=[AuditQuerySerializer, *PAGINATION_PARAMETERS],
        responses={200: AuditPageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        entries = selectors.audit_entries_filtered(**query.validated_data)
        rows, meta = paginate(request.query_params, entries)
        return Response({"entries": AuditEntrySerializer(rows, many=True).data, **meta})


class AdminAuditEntryView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One audit entry",
        responses={200: AuditEntryEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, entry_id):
        entry = selectors.audit_entry_get(entry_id)
        return Response({"entry": AuditEntrySerializer(entry).data})

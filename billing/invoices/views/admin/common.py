"""What the staff invoice and credit-note endpoints share: tags, limits, input helpers and the PDF
response.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from billing.invoices import selectors
from billing.invoices.serializers import (
    admin_invoice_data,
)
from vbwd.exceptions import ValidationFailed
from vbwd.filters import parse_bool
from vbwd.money import parse_money

TAGS = ["admin: invoices"]
CREDIT_NOTE_TAGS = ["admin: credit notes"]

CREDIT_NOTE_NOT_FOUND = "Credit note not found"
NOT_DELETABLE = "Invoices cannot be deleted; void the invoice instead"
DEFAULT_PAYMENT_REFERENCE = "MANUAL"
INVOICE_ORDERING = ("invoiced_at", "due_date", "total_amount", "invoice_number")
MAX_REFERENCE_LENGTH = 255
MAX_REASON_LENGTH = 500
MAX_METHOD_LABEL_LENGTH = 100

PAGINATION_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]
DATE_PARAMETERS = [
    OpenApiParameter("date_from", str, description="date (inclusive UTC day) or datetime"),
    OpenApiParameter("date_to", str, description="date (inclusive UTC day) or datetime"),
]


# --- input ----------------------------------------------------------------------------------


def _text(data, name: str, *, max_length: int, default: str | None = None) -> str | None:
    """An optional text field: null and "" mean "not given"."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return default
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be a string", field=name)
    value = value.strip()
    if len(value) > max_length:
        raise ValidationFailed(f"{name} must be at most {max_length} characters", field=name)
    return value


def _flag(data, name: str) -> bool:
    return bool(parse_bool(data.get(name), name=name))


def _amount(data, *, places: int, allow_negative: bool = False) -> Decimal | None:
    value = data.get("amount")
    if value is None or value == "":
        return None
    return parse_money(value, field="amount", places=places, allow_negative=allow_negative)


def _as_utc(value: datetime.datetime) -> datetime.datetime:
    if timezone.is_naive(value):
        return timezone.make_aware(value, datetime.UTC)
    return value


def _paid_at(data) -> datetime.datetime | None:
    value = data.get("paid_at")
    if value is None or value == "":
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValidationFailed("paid_at must be a datetime", field="paid_at")
    parsed = _as_utc(parsed)
    if parsed > timezone.now():
        raise ValidationFailed("paid_at cannot be in the future", field="paid_at")
    return parsed


def _date_bound(value, *, name: str, end: bool) -> tuple[datetime.datetime, str] | None:
    """``date_from`` / ``date_to`` as (moment, lookup): a date is the whole UTC day, inclusive
    (``date_to`` a day → before the next day's start), a datetime is exact and inclusive."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        day = parse_date(text) if len(text) == 10 else None
        moment = None if day else parse_datetime(text)
    except ValueError:
        day = moment = None
    if day is not None:
        start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
        return (start + datetime.timedelta(days=1), "lt") if end else (start, "gte")
    if moment is None:
        raise ValidationFailed(f"{name} must be a date (YYYY-MM-DD) or a datetime", field=name)
    return _as_utc(moment), "lte" if end else "gte"


def _filter_dates(queryset, query, field: str):
    for name, end in (("date_from", False), ("date_to", True)):
        bound = _date_bound(query.get(name), name=name, end=end)
        if bound is not None:
            moment, lookup = bound
            queryset = queryset.filter(**{f"{field}__{lookup}": moment})
    return queryset


def _invoice_response(invoice_id) -> dict:
    return admin_invoice_data(selectors.invoice_for_staff(invoice_id, detail=False))


# --- request shapes (schema only; the views validate with the helpers above) -----------------


PDF_RESPONSE = {
    (200, "application/pdf"): OpenApiResponse(
        response=OpenApiTypes.BINARY, description="attachment <number>.pdf"
    )
}


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- invoices -------------------------------------------------------------------------------

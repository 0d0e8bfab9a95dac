"""Reads of the audit log for staff."""

from __future__ import annotations

import datetime

from django.db.models import Q, QuerySet

from audit.models import AuditEntry
from vbwd.exceptions import NotFound

ENTRY_NOT_FOUND = "Audit entry not found"


def _period(entries: QuerySet, *, date_from=None, date_to=None) -> QuerySet:
    """A date bound is the whole UTC day, inclusive; a datetime bound is exact, inclusive."""
    for value, end in ((date_from, False), (date_to, True)):
        if value is None:
            continue
        if isinstance(value, datetime.datetime):
            lookup, moment = ("lte" if end else "gte"), value
        else:
            start = datetime.datetime.combine(value, datetime.time.min, tzinfo=datetime.UTC)
            lookup, moment = ("lt", start + datetime.timedelta(days=1)) if end else ("gte", start)
        entries = entries.filter(**{f"created_at__{lookup}": moment})
    return entries


def audit_entries_filtered(
    *,
    actor_type: str | None = None,
    actor_id=None,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    user_id=None,
    search: str | None = None,
    date_from=None,
    date_to=None,
) -> QuerySet[AuditEntry]:
    """Entries newest first. ``action`` matches as a prefix (``invoice.``); ``user_id`` keeps
    what this user did and what was done to anything of theirs."""
    entries = AuditEntry.objects.order_by("-created_at", "-id")
    if actor_type:
        entries = entries.filter(actor_type=actor_type)
    if actor_id is not None:
        entries = entries.filter(actor_id=actor_id)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if object_id:
        entries = entries.filter(object_id=object_id)
    if action:
        entries = entries.filter(action__startswith=action)
    if user_id is not None:
        entries = entries.filter(Q(actor_id=user_id) | Q(subject_user_id=user_id))
    if search:
        entries = entries.filter(summary__icontains=search)
    return _period(entries, date_from=date_from, date_to=date_to)


def audit_entry_get(entry_id) -> AuditEntry:
    entry = AuditEntry.objects.filter(pk=entry_id).first()
    if entry is None:
        raise NotFound(ENTRY_NOT_FOUND)
    return entry

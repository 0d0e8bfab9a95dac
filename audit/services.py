"""The one way to write the audit log."""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
from collections.abc import Iterator
from typing import Any

from audit.models import ActorType, AuditEntry
from vbwd import request_context


def _actor_type_for(actor) -> str:
    if actor is None:
        return ActorType.SYSTEM
    return ActorType.STAFF if getattr(actor, "is_staff", False) else ActorType.USER


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


# The entries of the open ``audit_batch``, or None outside one.
_batch: contextvars.ContextVar[list[AuditEntry] | None] = contextvars.ContextVar(
    "audit_batch", default=None
)


@contextlib.contextmanager
def audit_batch() -> Iterator[None]:
    """Collects the entries ``audit_record`` writes inside the block and inserts them in one
    query when the block ends without an error, in the order they were recorded. Use it inside
    the use case's transaction and around code that opens no savepoint it recovers from (the
    entries of a rolled-back savepoint would still be inserted). A nested batch joins the open
    one; an error discards the entries along with the transaction they belong to."""
    if _batch.get() is not None:
        yield
        return
    entries: list[AuditEntry] = []
    token = _batch.set(entries)
    try:
        yield
    finally:
        _batch.reset(token)
    if entries:
        AuditEntry.objects.bulk_create(entries)


def audit_record(**fields: Any) -> AuditEntry:
    """Appends one audit entry in the caller's transaction, with the current request id and IP
    (inside an ``audit_batch``, when the batch ends).

    Takes the keywords of ``audit_entry_build``. ``actor`` is the acting user (None for the
    system or a provider, named by ``actor_label``); its type defaults to STAFF for admins, USER
    otherwise, SYSTEM without an actor.
    """
    entry = audit_entry_build(**fields)
    batch = _batch.get()
    if batch is not None:
        batch.append(entry)
    else:
        entry.save(force_insert=True)
    return entry


def changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values differ, as (before, after) for an audit entry."""
    keys = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def audit_entry_build(
    *,
    action: str,
    object_type: str,
    object_id: Any,
    summary: str,
    actor=None,
    actor_type: str | None = None,
    actor_label: str | None = None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str | None = None,
    subject_user_id: Any = None,
) -> AuditEntry:
    """An unsaved entry exactly as ``audit_record`` would write it, for callers that insert many
    at once in their transaction (the renewal run's invoices)."""
    context = request_context.current()
    return AuditEntry(
        actor_type=actor_type or _actor_type_for(actor),
        actor_id=getattr(actor, "pk", None),
        actor_email=getattr(actor, "email", None),
        actor_label=actor_label,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        subject_user_id=subject_user_id,
        summary=summary[:500],
        before=before,
        after=after,
        reason=reason or None,
        ip_address=_valid_ip(context.ip_address),
        request_id=context.request_id,
    )

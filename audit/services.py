"""The one way to write the audit log."""

from __future__ import annotations

import ipaddress
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


def audit_record(**fields: Any) -> AuditEntry:
    """Appends one audit entry in the caller's transaction, with the current request id and IP.

    Takes the keywords of ``audit_entry_build``. ``actor`` is the acting user (None for the
    system or a provider, named by ``actor_label``); its type defaults to STAFF for admins, USER
    otherwise, SYSTEM without an actor.
    """
    entry = audit_entry_build(**fields)
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

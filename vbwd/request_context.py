"""Per-request facts (request id, client IP) that services read without being handed a request.

The middleware sets them for each request; Celery tasks and management commands run with none,
and audit rows then carry no request id or IP.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class RequestContext:
    request_id: str | None = None
    ip_address: str | None = None


_EMPTY = RequestContext()
_current: ContextVar[RequestContext | None] = ContextVar("vbwd_request_context", default=None)

MAX_REQUEST_ID_LENGTH = 128


def current() -> RequestContext:
    return _current.get() or _EMPTY


def activate(context: RequestContext):
    return _current.set(context)


def reset(token) -> None:
    _current.reset(token)


def request_id_from_header(value: str | None) -> str:
    """The client's X-Request-ID when it is 1–128 printable ASCII characters, else a new one."""
    if value and len(value) <= MAX_REQUEST_ID_LENGTH and value.isascii() and value.isprintable():
        return value
    return uuid.uuid4().hex


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or the X-Forwarded-For entry VBWD_TRUSTED_PROXY_COUNT hops from the right."""
    meta = request.META
    hops = settings.VBWD_TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return meta.get("REMOTE_ADDR") or None

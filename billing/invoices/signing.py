"""Signed invoice download links: ``/api/v1/user/invoices/<id>/pdf?signature=<s>``
works without an Authorization header for ``VBWD_PDF_LINK_TTL_SECONDS`` (default 300).

The signature binds the invoice id and the user id with a salt used for nothing else, so a link
opens exactly one invoice for its owner, and a link of another purpose cannot be replayed here.
"""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.core import signing
from django.utils import timezone

SALT = "vbwd.invoices.pdf-download"
DEFAULT_TTL_SECONDS = 300


def link_ttl_seconds() -> int:
    return int(getattr(settings, "VBWD_PDF_LINK_TTL_SECONDS", DEFAULT_TTL_SECONDS))


def _canonical(value) -> str:
    return str(uuid.UUID(str(value)))


def _value(invoice_id, user_id) -> str:
    return f"{_canonical(invoice_id)}:{_canonical(user_id)}"


def download_signature(*, invoice_id, user_id) -> str:
    """A signature for this invoice and user, timestamped now."""
    return signing.TimestampSigner(salt=SALT).sign(_value(invoice_id, user_id))


def download_expires_at(now: datetime.datetime | None = None) -> datetime.datetime:
    return (now or timezone.now()) + datetime.timedelta(seconds=link_ttl_seconds())


def download_signature_user_id(signature: str | None, *, invoice_id) -> str | None:
    """The user id the signature was issued to when it is valid for ``invoice_id`` and not
    expired; None otherwise (tampered, expired, another invoice, empty)."""
    if not signature:
        return None
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(signature, max_age=link_ttl_seconds())
    except signing.BadSignature:  # SignatureExpired is a subclass
        return None
    signed_invoice, _, user_id = value.partition(":")
    if signed_invoice != _canonical(invoice_id) or not user_id:
        return None
    return user_id

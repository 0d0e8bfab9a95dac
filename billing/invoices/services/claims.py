"""Claims of provider calls: claim → commit → call → record.

A provider (a payment gateway) is never called inside a transaction that holds row locks. The
caller first writes a PENDING row (a payment for a checkout session or an off-session charge, a
refund) whose id or stored key is the idempotency key the provider receives, and commits. While
the call is under way the row's ``call_started_at`` is set: a second request for the same thing
waits for that answer instead of calling again. A call that ended without an answer to record
(an error, a timeout) clears the mark and keeps the row PENDING, so the retry sends the same key
and the provider answers with its first result instead of acting twice. A process that died
during the call leaves the mark; after ``CLAIM_LEASE_SECONDS`` the claim counts as abandoned and
the next request or job run takes it over, again with the same key.

``provider_call_allowed`` is asked right before every provider call: inside a transaction (for
instance the one an API request with an Idempotency-Key runs in, unless its view is resumable)
the call raises instead of being made with row locks held and an uncommitted claim.

An API view that claims here is resumable (see ``vbwd.idempotency``): a retry of its request
after a crash finds what the request claimed and recorded and resumes instead of acting again. A
session claim is found by its invoice and sent with a provider key that includes the client's
Idempotency-Key; a refund claim and its credit note through the request's recovery points.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from vbwd.idempotency import in_transaction

# Longer than any provider call may take (the gateways time out well before).
CLAIM_LEASE_SECONDS = 120
# How long a request waits for a concurrent call on the same claim, and how often it looks.
CLAIM_WAIT_SECONDS = 20.0
CLAIM_POLL_SECONDS = 0.05


def claim_is_live(call_started_at: datetime.datetime | None, *, now=None) -> bool:
    """A provider call for the claim started and its lease has not run out."""
    if call_started_at is None:
        return False
    now = now or timezone.now()
    return now - call_started_at < datetime.timedelta(seconds=CLAIM_LEASE_SECONDS)


def provider_call_allowed(action: str) -> None:
    """Raises unless the caller is outside every transaction, as a provider call must be."""
    if in_transaction():
        raise RuntimeError(
            f"{action}: a payment provider is called only outside a transaction (claim, "
            "commit, call, record); an API view that calls one sets idempotency_resumable"
        )

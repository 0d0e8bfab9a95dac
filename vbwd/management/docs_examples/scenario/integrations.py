"""Outbound webhooks, the audit log and frontend events: what staff wire the billing to."""

from __future__ import annotations

import itertools
from unittest import mock

from vbwd.management.docs_examples.recorder import Recorder

# The examples run offline: the receiver's name resolves to a fixed public address, and the
# signing secrets are fixed strings instead of random ones.
RECEIVER = "https://hooks.example.com/vbwd"
RECEIVER_ADDRESS = "93.184.215.14"
SECRET_DIGITS = "0123456789abcdef"


def _lookup(host: str, port: int) -> list[str]:
    if host == "hooks.example.com":
        return [RECEIVER_ADDRESS]
    if host == "127.0.0.1":
        return ["127.0.0.1"]
    raise OSError(f"{host} does not resolve")


def webhooks(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(16)
    secrets = (f"whsec_{digit * 64}" for digit in itertools.cycle(SECRET_DIGITS))
    with (
        mock.patch("webhooks.addresses._lookup", _lookup),
        mock.patch("webhooks.services.endpoints._new_secret", side_effect=lambda: next(secrets)),
    ):
        _webhooks(rec, ids)


def _webhooks(rec: Recorder, ids: dict[str, str]) -> None:
    rec.call("webhooks-event-types", "GET", "admin/webhooks/event-types", who="admin", expect=200)
    created = rec.call(
        "webhooks-create",
        "POST",
        "admin/webhooks",
        {
            "url": RECEIVER,
            "events": ["invoice.issued", "payment.captured", "tokens.credited"],
            "description": "Provisioning service",
        },
        who="admin",
        expect=201,
    )
    webhook = created["webhook"]["id"]
    rec.call(
        "webhooks-create-http",
        "POST",
        "admin/webhooks",
        {"url": "http://hooks.example.com/vbwd", "events": ["*"]},
        who="admin",
        expect=400,
    )
    rec.call(
        "webhooks-create-internal",
        "POST",
        "admin/webhooks",
        {"url": "https://127.0.0.1/hooks", "events": ["*"]},
        who="admin",
        expect=400,
    )
    rec.call(
        "webhooks-create-unknown-event",
        "POST",
        "admin/webhooks",
        {"url": RECEIVER, "events": ["invoice.paid"]},
        who="admin",
        expect=400,
    )
    rec.call(
        "webhooks-update",
        "PUT",
        f"admin/webhooks/{webhook}",
        {"events": ["*"]},
        who="admin",
        expect=200,
    )
    rec.call("webhooks-list", "GET", "admin/webhooks?is_active=true", who="admin", expect=200)
    # Staff credit Jane 50 tokens: a tokens.credited event, delivered by the worker.
    rec.call(
        None,
        "POST",
        f"admin/users/{ids['jane:user']}/tokens/adjust",
        {"amount": 50, "reason": "Welcome back"},
        who="admin",
        expect=200,
    )
    deliveries = rec.call(
        "webhooks-deliveries",
        "GET",
        f"admin/webhooks/{webhook}/deliveries?event_type=tokens.credited",
        who="admin",
        expect=200,
    )
    delivery = deliveries["deliveries"][0]["id"]
    rec.call(
        "webhooks-delivery", "GET", f"admin/webhooks/deliveries/{delivery}", who="admin", expect=200
    )
    rec.call(
        "webhooks-detail",
        "GET",
        f"admin/webhooks/{webhook}",
        who="admin",
        expect=200,
    )
    rec.call("webhooks-toggle", "POST", f"admin/webhooks/{webhook}/toggle", {}, who="admin")
    rec.call(
        "webhooks-replay-disabled",
        "POST",
        f"admin/webhooks/deliveries/{delivery}/replay",
        {},
        who="admin",
        expect=400,
    )
    rec.call(None, "POST", f"admin/webhooks/{webhook}/toggle", {}, who="admin", expect=200)
    rec.call(
        "webhooks-replay",
        "POST",
        f"admin/webhooks/deliveries/{delivery}/replay",
        {},
        who="admin",
        expect=202,
    )
    rec.call(
        "webhooks-rotate-secret",
        "POST",
        f"admin/webhooks/{webhook}/rotate-secret",
        {},
        who="admin",
        expect=200,
    )
    rec.call("webhooks-delete", "DELETE", f"admin/webhooks/{webhook}", who="admin", expect=200)


def audit_log(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(17)
    entries = rec.call(
        "audit-log-list",
        "GET",
        f"admin/audit-log?user_id={ids['jane:user']}&action=invoice.&limit=3",
        who="admin",
        expect=200,
    )
    rec.call(
        "audit-log-entry",
        "GET",
        f"admin/audit-log/{entries['entries'][0]['id']}",
        who="admin",
        expect=200,
    )
    rec.call(
        "audit-log-bad-filter",
        "GET",
        "admin/audit-log?date_from=yesterday",
        who="admin",
        expect=400,
    )


def frontend_events(rec: Recorder) -> None:
    rec.section(18)
    rec.call("events-types", "GET", "events/types", expect=200)
    rec.call(
        "events-post",
        "POST",
        "events",
        {
            "events": [
                {"type": "payment:initiated", "data": {"plan": "pro"}},
                {"type": "cart:opened"},
            ]
        },
        expect=200,
    )

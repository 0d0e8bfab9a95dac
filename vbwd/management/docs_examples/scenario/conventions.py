"""The rules every endpoint shares: errors, idempotency keys, rate limits, pagination."""

from __future__ import annotations

from django.test import override_settings

from vbwd.management.docs_examples.recorder import Recorder
from vbwd.management.docs_examples.scenario import shows

# --- conventions: errors, idempotency, rate limits, pagination ------------------------------


def run(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(14)
    rec.call("errors-not-found", "GET", "no/such/route", expect=404)
    rec.call("errors-method", "DELETE", "tarif-plans", expect=405)
    rec.call("errors-no-token", "GET", "user/profile", expect=401)
    rec.call(
        "errors-bad-token",
        "GET",
        "user/profile",
        headers={"Authorization": "Bearer not-a-token"},
        expect=401,
    )
    rec.call(
        "errors-validation",
        "POST",
        "admin/tax-rates",
        {"country_code": "DE", "name": "Reduced", "rate": "107", "valid_from": "2026-13-01"},
        who="admin",
        expect=400,
    )
    rec.call(
        "errors-malformed",
        "POST",
        "user/checkout",
        '{"plan_id": ',
        who="customer",
        content_type="application/json",
        expect=400,
    )
    rec.call(
        "errors-media-type",
        "POST",
        "user/checkout",
        "plan_id=basic",
        who="customer",
        content_type="application/x-www-form-urlencoded",
        expect=415,
    )
    key = {"Idempotency-Key": "checkout-2026-03-02-0001"}
    body = {"token_bundle_ids": [ids["bundle:500 Tokens"]]}
    rec.call(
        "idempotency-first",
        "POST",
        "user/checkout",
        body,
        who="customer",
        headers=key,
        expect=201,
        show=shows.checkout_summary,
    )
    rec.call(
        "idempotency-replay",
        "POST",
        "user/checkout",
        body,
        who="customer",
        headers=key,
        expect=201,
        show=shows.checkout_summary,
    )
    rec.call(
        "idempotency-conflict",
        "POST",
        "user/checkout",
        {"token_bundle_ids": [ids["bundle:5000 Tokens"]]},
        who="customer",
        headers=key,
        expect=409,
    )
    with override_settings(VBWD_RATE_LIMITS={"check_email_ip": "2/minute"}):
        for _ in range(2):
            rec.call(None, "GET", "auth/check-email?email=a@example.com", same_minute=True)
        rec.call(
            "rate-limited",
            "GET",
            "auth/check-email?email=a@example.com",
            same_minute=True,
            expect=429,
        )
    rec.call(
        "pagination-page",
        "GET",
        "admin/invoices?page=2&per_page=2",
        who="admin",
        expect=200,
        show=shows.invoice_numbers,
    )
    rec.call(
        "pagination-offset",
        "GET",
        "admin/invoices?limit=2&offset=1",
        who="admin",
        expect=200,
        show=shows.invoice_numbers,
    )
    rec.call(
        "request-id",
        "GET",
        "health",
        headers={"X-Request-ID": "checkout-page-7f3a"},
        expect=200,
    )

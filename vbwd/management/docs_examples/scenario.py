"""The documented requests, in the order a client would make them, on the demo data.

Each ``rec.call(name, …)`` with a name becomes the example of that name in ``docs/api/``; calls
without a name only prepare the state the next examples show. Sections start at their own hour
of the example clock (``Recorder.section``).
"""

from __future__ import annotations

from django.core.management import call_command
from django.test import override_settings

from accounts.demo import DEMO_ADMIN, DEMO_USER
from vbwd.management.docs_examples.recorder import Recorder


def _by(items: list[dict], key: str, value) -> dict:
    return next(item for item in items if item[key] == value)


def _plugin_list(built_in: set[str]):
    """Only the plugins that ship with VBWD (the test settings add fixtures of their own)."""

    def show(body: dict) -> dict:
        return {**body, "plugins": [p for p in body["plugins"] if p["name"] in built_in]}

    return show


def _first(key: str):
    """The list under ``key`` cut to its first item (the guide says so where it shows it)."""

    def show(body: dict) -> dict:
        return {**body, key: body[key][:1]}

    return show


def _checkout_summary(body: dict) -> dict:
    """A checkout answer cut to the invoice's number, status and total, and the message."""
    invoice = body.get("invoice")
    if invoice is None:
        return body
    keys = ("id", "invoice_number", "status", "total_amount", "currency")
    return {"invoice": {key: invoice[key] for key in keys}, "message": body["message"]}


def run(rec: Recorder) -> None:
    rec.section(0)
    call_command("seed_demo", stdout=_Silent())
    ids: dict[str, str] = {}
    _service(rec)
    _auth(rec)
    _profile(rec)
    _catalog(rec, ids)
    _checkout(rec, ids)
    _invoices(rec, ids)
    _subscriptions(rec, ids)
    _tokens(rec)
    _admin_users(rec, ids)
    _admin_billing(rec, ids)
    _admin_catalog(rec, ids)
    _admin_settings(rec)
    _plugins(rec)
    _conventions(rec, ids)
    _account_deletion(rec)


class _Silent:
    def write(self, *args, **kwargs) -> None:
        pass

    def flush(self) -> None:
        pass


# --- service -------------------------------------------------------------------------------


def _service(rec: Recorder) -> None:
    rec.section(1)
    rec.call("service-banner", "GET", "/")
    rec.call("service-health", "GET", "health")
    rec.call("service-languages", "GET", "config/languages")


# --- authentication ------------------------------------------------------------------------


def _auth(rec: Recorder) -> None:
    rec.section(2)
    body = rec.call(
        "auth-register",
        "POST",
        "auth/register",
        {
            "email": "jane@example.com",
            "password": "Str0ng!Passw0rd",
            "first_name": "Jane",
            "last_name": "Doe",
            "locale": "de",
        },
        expect=200,
    )
    rec.users["jane"] = "jane@example.com"
    rec.call(
        "auth-register-taken",
        "POST",
        "auth/register",
        {"email": "Jane@Example.com", "password": "Str0ng!Passw0rd"},
        expect=409,
    )
    rec.call(
        "auth-register-weak",
        "POST",
        "auth/register",
        {"email": "john@example.com", "password": "password"},
        expect=400,
    )
    body = rec.call(
        "auth-login",
        "POST",
        "auth/login",
        {"email": DEMO_USER[0], "password": DEMO_USER[1]},
        expect=200,
    )
    rec.users["customer"] = DEMO_USER[0]
    rec.users["admin"] = DEMO_ADMIN[0]
    refresh = body["refresh_token"]
    rec.call(
        "auth-login-wrong",
        "POST",
        "auth/login",
        {"email": DEMO_USER[0], "password": "wrong"},
        expect=401,
    )
    rec.call("auth-me", "GET", "auth/me", who="customer", expect=200)
    body = rec.call("auth-refresh", "POST", "auth/refresh", {"refresh_token": refresh}, expect=200)
    rec.call("auth-refresh-reused", "POST", "auth/refresh", {"refresh_token": refresh}, expect=401)
    rec.call("auth-check-email", "GET", "auth/check-email?email=test@example.com", expect=200)
    rec.call(
        "auth-forgot-password",
        "POST",
        "auth/forgot-password",
        {"email": "test@example.com"},
        expect=200,
    )
    rec.call(
        "auth-reset-password-invalid",
        "POST",
        "auth/reset-password",
        {"uid": "MQ", "token": "expired-token", "new_password": "N3w!Password"},
        expect=400,
    )
    rec.call(
        "auth-logout",
        "POST",
        "auth/logout",
        {"refresh_token": body["refresh_token"]},
        who="customer",
        expect=200,
    )


# --- profile -------------------------------------------------------------------------------


def _profile(rec: Recorder) -> None:
    rec.section(3)
    rec.call("profile-get", "GET", "user/profile", who="customer", expect=200)
    rec.call(
        "profile-update",
        "PUT",
        "user/profile",
        {"phone": "+49301234568", "config": {"language": "de", "theme": "dark"}},
        who="customer",
        expect=200,
    )
    rec.call("details-get", "GET", "user/details", who="jane", expect=200)
    rec.call(
        "details-update",
        "PUT",
        "user/details",
        {
            "company": "Doe Consulting GmbH",
            "tax_number": "ATU13585627",
            "address_line_1": "Mariahilfer Straße 1",
            "city": "Wien",
            "postal_code": "1060",
            "country": "AT",
        },
        who="jane",
        expect=200,
    )
    rec.call(
        "details-update-invalid",
        "PUT",
        "user/details",
        {"country": "XX", "phone": "0" * 30},
        who="jane",
        expect=400,
    )
    rec.call(
        "change-password",
        "POST",
        "user/change-password",
        {"currentPassword": "Str0ng!Passw0rd", "newPassword": "Str0nger!Passw0rd"},
        who="jane",
        expect=200,
    )


# --- catalog -------------------------------------------------------------------------------


def _catalog(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(4)
    body = rec.call(None, "GET", "tarif-plans", expect=200)
    for plan in body["plans"]:
        ids[f"plan:{plan['slug']}"] = plan["id"]
    rec.call(
        "catalog-plans",
        "GET",
        "tarif-plans?currency=EUR&country=DE&category=main",
        expect=200,
        show=_first("plans"),
    )
    rec.call("catalog-plan", "GET", "tarif-plans/pro?country=AT", expect=200)
    rec.call("catalog-plan-unknown-currency", "GET", "tarif-plans?currency=XYZ", expect=400)
    body = rec.call("catalog-addons", "GET", "addons", expect=200)
    for addon in body["addons"]:
        ids[f"addon:{addon['slug']}"] = addon["id"]
    body = rec.call("catalog-token-bundles", "GET", "token-bundles", expect=200)
    for bundle in body["bundles"]:
        ids[f"bundle:{bundle['name']}"] = bundle["id"]
    rec.call("catalog-currencies", "GET", "config/currencies", expect=200)
    rec.call("catalog-countries", "GET", "settings/countries", expect=200)
    rec.call(
        "catalog-payment-methods",
        "GET",
        "settings/payment-methods?currency=EUR&country=DE",
        expect=200,
    )
    rec.call("catalog-terms", "GET", "settings/terms", expect=200)


# --- checkout ------------------------------------------------------------------------------


def _checkout(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(5)
    body = rec.call(
        "checkout",
        "POST",
        "user/checkout",
        {
            "plan_id": ids["plan:pro"],
            "token_bundle_ids": [ids["bundle:1000 Tokens"]],
            "add_on_ids": [ids["addon:priority-support"]],
            "payment_method_code": "invoice",
        },
        who="jane",
        expect=201,
    )
    ids["jane:checkout-invoice"] = body["invoice"]["id"]
    ids["jane:subscription"] = body["subscription"]["id"]
    rec.call(
        "checkout-exclusive",
        "POST",
        "user/checkout",
        {"plan_id": ids["plan:enterprise"]},
        who="customer",
        expect=400,
    )
    rec.call("checkout-empty", "POST", "user/checkout", {}, who="customer", expect=400)
    body = rec.call(
        "checkout-bundle",
        "POST",
        "user/checkout",
        {"token_bundle_ids": [ids["bundle:500 Tokens"]]},
        who="customer",
        expect=201,
    )
    ids["customer:bundle-invoice"] = body["invoice"]["id"]


# --- invoices ------------------------------------------------------------------------------


def _invoices(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(6)
    body = rec.call("invoices-list", "GET", "user/invoices?status=paid", who="customer")
    ids["customer:paid-invoice"] = body["invoices"][0]["id"]
    rec.call(
        "invoices-detail",
        "GET",
        f"user/invoices/{ids['customer:paid-invoice']}",
        who="customer",
        expect=200,
    )
    rec.call(
        "invoices-pay",
        "POST",
        f"user/invoices/{ids['customer:bundle-invoice']}/pay",
        {},
        who="customer",
        expect=200,
    )
    rec.call(
        "invoices-pay-paid",
        "POST",
        f"user/invoices/{ids['customer:paid-invoice']}/pay",
        {},
        who="customer",
        expect=400,
    )
    rec.call(
        "invoices-download",
        "GET",
        f"user/invoices/{ids['customer:paid-invoice']}/download",
        who="customer",
        expect=200,
    )
    rec.call(
        "invoices-other-users",
        "GET",
        f"user/invoices/{ids['jane:checkout-invoice']}",
        who="customer",
        expect=404,
    )


# --- subscriptions -------------------------------------------------------------------------


def _subscriptions(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(7)
    body = rec.call("subscriptions-active", "GET", "user/subscriptions/active", who="customer")
    subscription = body["subscription"]["id"]
    ids["customer:subscription"] = subscription
    rec.call("subscriptions-list", "GET", "user/subscriptions", who="jane", expect=200)
    rec.call(
        "subscriptions-proration",
        "GET",
        f"user/subscriptions/{subscription}/proration?new_plan_id={ids['plan:pro']}",
        who="customer",
        expect=200,
    )
    body = rec.call(
        "subscriptions-upgrade",
        "POST",
        f"user/subscriptions/{subscription}/upgrade",
        {"plan_id": ids["plan:pro"]},
        who="customer",
        expect=200,
    )
    ids["customer:upgrade-invoice"] = body["invoice"]["id"]
    # Staff record Jane's bank transfer: her trial becomes a paid subscription.
    rec.call(
        None,
        "POST",
        f"admin/invoices/{ids['jane:checkout-invoice']}/mark-paid",
        {"payment_reference": "BANK-2026-03-0042"},
        who="admin",
        expect=200,
    )
    jane = ids["jane:subscription"]
    rec.call(
        "subscriptions-upgrade-cheaper",
        "POST",
        f"user/subscriptions/{jane}/upgrade",
        {"plan_id": ids["plan:basic"]},
        who="jane",
        expect=400,
    )
    rec.call(
        "subscriptions-downgrade",
        "POST",
        f"user/subscriptions/{jane}/downgrade",
        {"plan_id": ids["plan:basic"]},
        who="jane",
        expect=200,
    )
    rec.call(
        "subscriptions-cancel-downgrade",
        "POST",
        f"user/subscriptions/{jane}/cancel-downgrade",
        {},
        who="jane",
        expect=200,
    )
    rec.call(
        "subscriptions-pause",
        "POST",
        f"user/subscriptions/{jane}/pause",
        {},
        who="jane",
        expect=200,
    )
    rec.wait(_days(3))
    rec.call(
        "subscriptions-resume",
        "POST",
        f"user/subscriptions/{jane}/resume",
        {},
        who="jane",
        expect=200,
    )
    rec.call(
        "subscriptions-resume-not-paused",
        "POST",
        f"user/subscriptions/{jane}/resume",
        {},
        who="jane",
        expect=400,
    )
    rec.call(
        "subscriptions-cancel",
        "POST",
        f"user/subscriptions/{jane}/cancel",
        {"reason": "Switching providers"},
        who="jane",
        expect=200,
    )
    rec.call(
        "subscriptions-reactivate",
        "POST",
        f"user/subscriptions/{jane}/reactivate",
        {},
        who="jane",
        expect=200,
    )
    body = rec.call("addons-list", "GET", "user/addons", who="jane", expect=200)
    ids["jane:addon"] = body["addon_subscriptions"][0]["id"]


def _days(days: int):
    import datetime

    return datetime.timedelta(days=days)


# --- tokens --------------------------------------------------------------------------------


def _tokens(rec: Recorder) -> None:
    rec.section(8)
    rec.call("tokens-balance", "GET", "user/tokens/balance", who="customer", expect=200)
    rec.call("tokens-transactions", "GET", "user/tokens/transactions", who="customer", expect=200)


# --- admin: users --------------------------------------------------------------------------


def _admin_users(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(9)
    rec.call("admin-users-list", "GET", "admin/users?search=example.com&per_page=2", who="admin")
    rec.call("admin-users-forbidden", "GET", "admin/users", who="customer", expect=403)
    jane = _by(
        rec.call(None, "GET", "admin/users?search=jane", who="admin")["users"],
        "email",
        "jane@example.com",
    )
    ids["jane:user"] = jane["id"]
    rec.call("admin-users-detail", "GET", f"admin/users/{jane['id']}", who="admin", expect=200)
    body = rec.call(
        "admin-users-create",
        "POST",
        "admin/users",
        {
            "email": "max@example.com",
            "password": "Welcome-2026",
            "first_name": "Max",
            "last_name": "Muster",
            "details": {"country": "DE", "city": "Hamburg"},
        },
        who="admin",
        expect=201,
    )
    max_id = body["id"]
    rec.call(
        "admin-users-update",
        "PUT",
        f"admin/users/{max_id}",
        {"name": "Max Mustermann", "phone": "+4940123456"},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-users-roles",
        "PUT",
        f"admin/users/{max_id}/roles",
        {"roles": ["VENDOR"]},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-users-suspend",
        "POST",
        f"admin/users/{max_id}/suspend",
        {"reason": "Chargeback under investigation"},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-users-activate",
        "POST",
        f"admin/users/{max_id}/activate",
        {},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-users-deletion-info",
        "GET",
        f"admin/users/{max_id}/deletion-info",
        who="admin",
        expect=200,
    )
    rec.call("admin-users-delete", "DELETE", f"admin/users/{max_id}", who="admin", expect=200)


def _account_deletion(rec: Recorder) -> None:
    """Last: the demo customer's account, with its invoices, is anonymised."""
    rec.section(15)
    customer = _by(
        rec.call(None, "GET", "admin/users?search=test@example.com", who="admin")["users"],
        "email",
        "test@example.com",
    )["id"]
    rec.call(
        "admin-users-deletion-info-financial",
        "GET",
        f"admin/users/{customer}/deletion-info",
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-users-delete-refused", "DELETE", f"admin/users/{customer}", who="admin", expect=409
    )
    rec.call(
        "admin-users-anonymise",
        "DELETE",
        f"admin/users/{customer}?force=true",
        who="admin",
        expect=200,
    )


# --- admin: subscriptions, invoices, tokens -------------------------------------------------


def _admin_billing(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(10)
    rec.call(
        "admin-subscriptions-list",
        "GET",
        "admin/subscriptions?status=active&search=jane",
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-invoices-list",
        "GET",
        "admin/invoices?status=pending&ordering=-total_amount&limit=2",
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-invoices-mark-paid",
        "POST",
        f"admin/invoices/{ids['customer:upgrade-invoice']}/mark-paid",
        {"payment_reference": "BANK-2026-03-0057"},
        who="admin",
        expect=200,
    )
    invoice = ids["jane:checkout-invoice"]
    rec.call(
        "admin-invoices-refund-partial",
        "POST",
        f"admin/invoices/{invoice}/refund",
        {"amount": "10.00", "reason": "Goodwill", "record_only": True},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-tokens-adjust",
        "POST",
        f"admin/users/{ids['jane:user']}/tokens/adjust",
        {"amount": -200, "reason": "Tokens used outside the app"},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-invoices-refund-shortfall",
        "POST",
        f"admin/invoices/{invoice}/refund",
        {"reason": "Customer withdrew", "record_only": True},
        who="admin",
        expect=409,
    )
    rec.call(
        "admin-invoices-refund-force",
        "POST",
        f"admin/invoices/{invoice}/refund",
        {"reason": "Customer withdrew", "record_only": True, "force": True},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-invoices-void",
        "POST",
        f"admin/invoices/{ids['customer:bundle-invoice']}/void",
        {"reason": "Ordered by mistake"},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-invoices-delete", "DELETE", f"admin/invoices/{invoice}", who="admin", expect=400
    )
    rec.call("admin-credit-notes", "GET", "admin/credit-notes", who="admin", expect=200)
    rec.call(
        "admin-tokens-ledger",
        "GET",
        f"admin/users/{ids['jane:user']}/tokens?limit=3",
        who="admin",
        expect=200,
    )


# --- admin: catalog ------------------------------------------------------------------------


def _admin_catalog(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(11)
    body = rec.call(
        "admin-plans-create",
        "POST",
        "admin/tarif-plans",
        {
            "name": "Team",
            "price": "49.00",
            "billing_period": "monthly",
            "trial_days": 7,
            "features": {"default_tokens": 1000, "seats": 5},
            "sort_order": 4,
        },
        who="admin",
        expect=201,
    )
    plan = body["plan"]["id"]
    rec.call(
        "admin-plans-create-invalid",
        "POST",
        "admin/tarif-plans",
        {"name": "", "price": "-1"},
        who="admin",
        expect=400,
    )
    rec.call(
        "admin-plans-update",
        "PUT",
        f"admin/tarif-plans/{plan}",
        {"price": "45.00", "description": "For teams of up to five"},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-plans-delete-used",
        "DELETE",
        f"admin/tarif-plans/{ids['plan:basic']}",
        who="admin",
        expect=409,
    )
    body = rec.call(
        "admin-categories-create",
        "POST",
        "admin/tarif-plan-categories",
        {"name": "Teams", "is_single": False},
        who="admin",
        expect=201,
    )
    rec.call(
        "admin-categories-attach",
        "POST",
        f"admin/tarif-plan-categories/{body['category']['id']}/attach-plans",
        {"plan_ids": [plan]},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-addons-create",
        "POST",
        "admin/addons",
        {"name": "Extra Seat", "price": "5.00", "tarif_plan_ids": [plan]},
        who="admin",
        expect=201,
    )
    rec.call(
        "admin-token-bundles-create",
        "POST",
        "admin/token-bundles",
        {"name": "10000 Tokens", "token_amount": 10000, "price": "59.00"},
        who="admin",
        expect=201,
    )
    rec.call(
        "admin-currencies-create",
        "POST",
        "admin/currencies",
        {"code": "GBP", "name": "Pound sterling", "symbol": "£", "exchange_rate": "0.835000"},
        who="admin",
        expect=201,
    )
    rec.call(
        "admin-countries-enable", "POST", "admin/countries/fr/enable", {}, who="admin", expect=200
    )
    rec.call(
        "admin-tax-rates-create",
        "POST",
        "admin/tax-rates",
        {
            "country_code": "FR",
            "name": "TVA",
            "code": "VAT_FR_STANDARD",
            "rate": "20.00",
            "valid_from": "2026-01-01",
        },
        who="admin",
        expect=201,
    )
    rec.call(
        "admin-payment-methods-create",
        "POST",
        "admin/payment-methods",
        {
            "code": "sepa_transfer",
            "name": "SEPA transfer",
            "instructions": "Transfer the amount within 7 days.",
            "currencies": ["EUR"],
            "fee_type": "fixed",
            "fee_amount": "1.50",
        },
        who="admin",
        expect=201,
    )


# --- admin: settings -----------------------------------------------------------------------


def _admin_settings(rec: Recorder) -> None:
    rec.section(12)
    rec.call("admin-settings-get", "GET", "admin/settings", who="admin", expect=200)
    rec.call(
        "admin-settings-update",
        "PUT",
        "admin/settings",
        {"payment_terms_days": 30, "grace_period_days": 10, "payment_retry_days": [1, 4, 8]},
        who="admin",
        expect=200,
    )
    rec.call(
        "admin-settings-invalid",
        "PUT",
        "admin/settings",
        {"invoice_number_format": "INV-{number}", "bank_iban": "DE00 1234"},
        who="admin",
        expect=400,
    )


# --- plugins -------------------------------------------------------------------------------


def _plugins(rec: Recorder) -> None:
    from plugins import registry

    rec.section(13)
    built_in = {
        name
        for name, config in registry.installed().items()
        if config.name.startswith("plugins.") and ".tests." not in config.name
    }
    rec.call("plugins-list", "GET", "admin/plugins", who="admin", show=_plugin_list(built_in))
    rec.call("plugins-demo-route", "GET", "plugins/demo", expect=200)
    rec.call(
        "plugins-config",
        "PUT",
        "admin/plugins/demo/config",
        {"greeting": "Welcome to our shop"},
        who="admin",
        expect=200,
    )
    rec.call("plugins-detail", "GET", "admin/plugins/demo", who="admin", expect=200)
    rec.call("plugins-disable", "POST", "admin/plugins/demo/disable", {}, who="admin")
    rec.call("plugins-disabled-route", "GET", "plugins/demo", expect=404)
    rec.call("plugins-enable", "POST", "admin/plugins/demo/enable", {}, who="admin")
    rec.call(None, "POST", "admin/plugins/stripe/enable", {}, who="admin", expect=200)
    rec.call(
        "plugins-stripe-config",
        "PUT",
        "admin/plugins/stripe/config",
        {"webhook_secret": "whsec_example", "checkout_mode": "elements"},
        who="admin",
        expect=200,
    )
    rec.call(
        "plugins-webhook-bad-signature",
        "POST",
        "plugins/stripe/webhook",
        {"id": "evt_1", "type": "checkout.session.completed"},
        headers={"Stripe-Signature": "t=1772442000,v1=0000"},
        expect=400,
    )


# --- conventions: errors, idempotency, rate limits, pagination ------------------------------


def _conventions(rec: Recorder, ids: dict[str, str]) -> None:
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
        show=_checkout_summary,
    )
    rec.call(
        "idempotency-replay",
        "POST",
        "user/checkout",
        body,
        who="customer",
        headers=key,
        expect=201,
        show=_checkout_summary,
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
        show=_invoice_numbers,
    )
    rec.call(
        "pagination-offset",
        "GET",
        "admin/invoices?limit=2&offset=1",
        who="admin",
        expect=200,
        show=_invoice_numbers,
    )
    rec.call(
        "request-id",
        "GET",
        "health",
        headers={"X-Request-ID": "checkout-page-7f3a"},
        expect=200,
    )


def _invoice_numbers(body: dict) -> dict:
    """A page of invoices, each shown by its number and status only."""
    rows = [
        {"invoice_number": row["invoice_number"], "status": row["status"]}
        for row in body["invoices"]
    ]
    return {**body, "invoices": rows}

"""What a customer does: the service routes, authentication, the profile, the catalog, checkout,
invoices, subscriptions and tokens."""

from __future__ import annotations

from accounts.demo import DEMO_ADMIN, DEMO_USER
from vbwd.management.docs_examples.recorder import Recorder
from vbwd.management.docs_examples.scenario import shows

# --- service -------------------------------------------------------------------------------


def service(rec: Recorder) -> None:
    rec.section(1)
    rec.call("service-banner", "GET", "/")
    rec.call("service-health", "GET", "health")
    rec.call("service-languages", "GET", "config/languages")


# --- authentication ------------------------------------------------------------------------


def auth(rec: Recorder) -> None:
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


def profile(rec: Recorder) -> None:
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


def catalog(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(4)
    body = rec.call(None, "GET", "tarif-plans", expect=200)
    for plan in body["plans"]:
        ids[f"plan:{plan['slug']}"] = plan["id"]
    rec.call(
        "catalog-plans",
        "GET",
        "tarif-plans?currency=EUR&country=DE&category=main",
        expect=200,
        show=shows.first("plans"),
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


def checkout(rec: Recorder, ids: dict[str, str]) -> None:
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


def invoices(rec: Recorder, ids: dict[str, str]) -> None:
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


def subscriptions(rec: Recorder, ids: dict[str, str]) -> None:
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
    rec.wait(shows.days(3))
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


# --- tokens --------------------------------------------------------------------------------


def tokens(rec: Recorder) -> None:
    rec.section(8)
    rec.call("tokens-balance", "GET", "user/tokens/balance", who="customer", expect=200)
    rec.call("tokens-transactions", "GET", "user/tokens/transactions", who="customer", expect=200)

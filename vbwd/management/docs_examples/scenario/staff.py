"""What staff do: users, subscriptions, invoices and tokens, the catalog, the settings and the
plugins; and, last of the story, an account's anonymisation."""

from __future__ import annotations

from plugins import registry
from vbwd.management.docs_examples.recorder import Recorder
from vbwd.management.docs_examples.scenario import shows

# --- admin: users --------------------------------------------------------------------------


def users(rec: Recorder, ids: dict[str, str]) -> None:
    rec.section(9)
    rec.call("admin-users-list", "GET", "admin/users?search=example.com&per_page=2", who="admin")
    rec.call("admin-users-forbidden", "GET", "admin/users", who="customer", expect=403)
    jane = shows.by(
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


def account_deletion(rec: Recorder) -> None:
    """Last: the demo customer's account, with its invoices, is anonymised."""
    rec.section(15)
    customer = shows.by(
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


def billing(rec: Recorder, ids: dict[str, str]) -> None:
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


def catalog(rec: Recorder, ids: dict[str, str]) -> None:
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


def settings(rec: Recorder) -> None:
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


def plugins_and_gateways(rec: Recorder) -> None:
    rec.section(13)
    built_in = {
        name
        for name, config in registry.installed().items()
        if config.name.startswith("plugins.") and ".tests." not in config.name
    }
    rec.call("plugins-list", "GET", "admin/plugins", who="admin", show=shows.plugin_list(built_in))
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
    # The analytics plugin (enabled by the demo seeding) sums up the story so far.
    rec.call("analytics-dashboard", "GET", "admin/analytics/dashboard", who="admin", expect=200)
    rec.call(
        "analytics-revenue",
        "GET",
        "admin/analytics/revenue?start=2026-02-18&end=2026-03-05&interval=week&currency=USD",
        who="admin",
        expect=200,
    )
    rec.call(
        "analytics-bad-interval",
        "GET",
        "admin/analytics/revenue?interval=year",
        who="admin",
        expect=400,
    )

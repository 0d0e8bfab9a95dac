"""The plan-change routes over HTTP: proration preview, upgrade, downgrade and
cancel-downgrade; the Proration / ProrationLine shapes, error envelopes, 404 for other
users' subscriptions, query counts and the OpenAPI components."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

import pytest
import time_machine
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from billing.catalog.models import BillingPeriod, Currency
from billing.catalog.tests.factories import CategoryFactory, PlanFactory
from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType
from billing.invoices.tests.factories import buyer, de_vat
from billing.subscriptions.models import Subscription
from billing.subscriptions.tests.factories import SubscriptionFactory
from conftest import bearer
from platform_settings.selectors import platform_settings_get
from tokens.models import TokenTransactionType
from tokens.services.ledger import balance_of, tokens_credit

pytestmark = pytest.mark.django_db

D = Decimal
UTC = datetime.UTC
PRORATION_KEYS = [
    "subscription_id", "current_plan", "new_plan", "currency", "period_start", "period_end",
    "period_seconds", "remaining_seconds", "days_remaining", "credit", "credit_applied",
    "new_price", "subtotal", "tax_amount", "amount_due", "lines", "tokens_granted",
]  # fmt: skip
LINE_KEYS = [
    "type", "description", "explanation", "quantity", "unit_price", "amount", "tax_rate",
    "tax_amount", "gross_amount", "period_start", "period_end",
]  # fmt: skip


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


APRIL_21 = at(2026, 4, 21)


@pytest.fixture
def customer():
    return buyer()


def client_for(user) -> APIClient:
    """A client whose token is issued at each request's (possibly travelled) time: a token
    issued in the real present would not be valid yet in the past the tests travel to."""
    api = APIClient()
    api.user = user
    return api


@pytest.fixture
def client(customer) -> APIClient:
    return client_for(customer)


@pytest.fixture
def main():
    return CategoryFactory(name="Main", slug="main", is_single=True)


def plan(main, name: str, price: str, **kwargs):
    kwargs.setdefault("billing_period", BillingPeriod.MONTHLY)
    kwargs.setdefault("features", {"default_tokens": 0})
    row = PlanFactory(name=name, slug=name.lower(), price=D(price), **kwargs)
    main.plans.add(row)
    return row


@pytest.fixture
def basic(main):
    return plan(main, "Basic", "9.99", features={"default_tokens": 100})


@pytest.fixture
def pro(main):
    return plan(main, "Pro", "29.99", features={"default_tokens": 500})


@pytest.fixture
def sub(customer, basic) -> Subscription:
    return SubscriptionFactory(
        user=customer,
        plan=basic,
        started_at=at(2026, 4, 1),
        current_period_start=at(2026, 4, 1),
        expires_at=at(2026, 5, 1),
        anchor_day=1,
    )


def url(subscription_id, action: str) -> str:
    return f"/api/v1/user/subscriptions/{subscription_id}/{action}"


def authorised(client) -> APIClient:
    if getattr(client, "user", None) is not None:
        client.credentials(**bearer(client.user))
    return client


def post(client, path: str, body=None):
    data = json.dumps(body) if body is not None else None
    return authorised(client).post(path, data=data, content_type="application/json")


def get(client, path: str, query=None):
    return authorised(client).get(path, query or {})


def preview(client, subscription_id, new_plan_id):
    query = {"new_plan_id": str(new_plan_id)} if new_plan_id is not None else {}
    with time_machine.travel(APRIL_21, tick=False):
        return get(client, url(subscription_id, "proration"), query)


# --- preview ------------------------------------------------------------------------------------


def test_the_preview_answers_the_proration_shape_with_exact_numbers(client, sub, basic, pro):
    de_vat()

    response = preview(client, sub.pk, pro.pk)

    assert response.status_code == 200
    assert list(response.json()) == ["proration"]
    proration = response.json()["proration"]
    assert list(proration) == PRORATION_KEYS
    assert proration == {
        "subscription_id": str(sub.pk),
        "current_plan": {"id": str(basic.pk), "name": "Basic", "slug": "basic"},
        "new_plan": {"id": str(pro.pk), "name": "Pro", "slug": "pro"},
        "currency": "EUR",
        "period_start": "2026-04-01T00:00:00Z",
        "period_end": "2026-05-01T00:00:00Z",
        "period_seconds": 2592000,
        "remaining_seconds": 864000,
        "days_remaining": 10,
        "credit": "3.33",
        "credit_applied": "3.33",
        "new_price": "29.99",
        "subtotal": "26.66",
        "tax_amount": "5.07",
        "amount_due": "31.73",
        "lines": [
            {
                "type": "SUBSCRIPTION",
                "description": "Pro (monthly)",
                "explanation": "Full price of Pro for a new monthly period",
                "quantity": 1,
                "unit_price": "29.99",
                "amount": "29.99",
                "tax_rate": "19.00",
                "tax_amount": "5.70",
                "gross_amount": "35.69",
                "period_start": "2026-04-21T00:00:00Z",
                "period_end": "2026-05-21T00:00:00Z",
            },
            {
                "type": "PRORATION",
                "description": "Credit for unused time on Basic",
                "explanation": "Unused time on Basic, 10 d of 30 d",
                "quantity": 1,
                "unit_price": "-3.33",
                "amount": "-3.33",
                "tax_rate": "19.00",
                "tax_amount": "-0.63",
                "gross_amount": "-3.96",
                "period_start": "2026-04-21T00:00:00Z",
                "period_end": "2026-05-01T00:00:00Z",
            },
        ],
        # Pro's 500 tokens less the unused third of Basic's 100: 500 - round(33.33) = 467.
        "tokens_granted": 467,
    }
    assert all(list(line) == LINE_KEYS for line in proration["lines"])
    assert Invoice.objects.count() == 0


def test_money_uses_the_currency_places(client, customer, main):
    yen_basic = plan(main, "Yen Basic", "1000", currency="JPY")
    yen_pro = plan(main, "Yen Pro", "3000", currency="JPY")
    yen = SubscriptionFactory(
        user=customer,
        plan=yen_basic,
        current_period_start=at(2026, 4, 1),
        expires_at=at(2026, 5, 1),
    )
    Currency.objects.create(
        code="JPY", name="Yen", symbol="¥", decimal_places=0, exchange_rate=D("160")
    )

    proration = preview(client, yen.pk, yen_pro.pk).json()["proration"]

    assert (proration["credit"], proration["amount_due"]) == ("333", "2667")
    assert proration["lines"][1]["unit_price"] == "-333"


@pytest.mark.parametrize(
    ("query", "message"),
    [(None, "new_plan_id is required"), ("", "new_plan_id is required"),
     ("  ", "new_plan_id is required"), ("abc", "Invalid plan_id format")],
)  # fmt: skip
def test_the_preview_needs_a_plan_id(client, sub, query, message):
    response = preview(client, sub.pk, query)

    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["code"]) == (message, "validation_error")
    assert body["errors"] == {"new_plan_id": [message]}


def test_the_preview_of_the_current_plan_is_refused(client, sub, basic):
    response = preview(client, sub.pk, basic.pk)

    assert response.status_code == 400
    assert response.json() == {"error": "Already subscribed to this plan", "code": "business_rule"}


def test_no_current_period_cannot_be_prorated(client, sub, pro):
    Subscription.objects.filter(pk=sub.pk).update(expires_at=None)

    response = preview(client, sub.pk, pro.pk)

    assert response.status_code == 400
    assert response.json() == {"error": "Unable to calculate proration", "code": "business_rule"}


def test_the_preview_runs_a_constant_number_of_queries(
    client, sub, pro, django_assert_max_num_queries
):
    de_vat()
    platform_settings_get()  # the settings row exists in a running system
    with time_machine.travel(APRIL_21, tick=False):
        authorised(client)
        # user, subscription with plan and details, target plan, exclusive categories,
        # currency, settings, tax rate
        with django_assert_max_num_queries(7):
            response = client.get(url(sub.pk, "proration"), {"new_plan_id": str(pro.pk)})
    assert response.status_code == 200


# --- ownership ----------------------------------------------------------------------------------


def test_another_users_subscription_is_not_found(sub, pro):
    stranger = client_for(buyer())
    not_found = {"error": "Subscription not found", "code": "not_found"}

    assert preview(stranger, sub.pk, pro.pk).json() == not_found
    bodies = {"upgrade": {"plan_id": str(pro.pk)}, "downgrade": {"plan_id": str(pro.pk)}}
    for action in ("upgrade", "downgrade", "cancel-downgrade"):
        body = bodies.get(action)
        response = post(stranger, url(sub.pk, action), body)
        assert (response.status_code, response.json()) == (404, not_found)
    assert Invoice.objects.count() == 0
    sub.refresh_from_db()
    assert sub.pending_plan_id is None


@pytest.mark.parametrize("action", ["upgrade", "downgrade", "cancel-downgrade"])
def test_an_unknown_subscription_is_not_found(client, pro, action):
    response = post(client, url(uuid.uuid4(), action), {"plan_id": str(pro.pk)})

    assert response.status_code == 404
    assert response.json() == {"error": "Subscription not found", "code": "not_found"}


def test_a_malformed_subscription_id_does_not_match_the_route(client):
    response = get(client, "/api/v1/user/subscriptions/123/proration")

    assert response.status_code == 404
    assert response.json() == {"error": "Not found", "code": "not_found"}


def test_the_routes_need_a_token(sub, pro):
    anonymous = APIClient()

    response = preview(anonymous, sub.pk, pro.pk)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- upgrade ------------------------------------------------------------------------------------


def test_an_upgrade_returns_the_pending_invoice_and_the_unchanged_subscription(
    client, sub, basic, pro
):
    de_vat()
    with time_machine.travel(APRIL_21, tick=False):
        previewed = get(client, url(sub.pk, "proration"), {"new_plan_id": str(pro.pk)}).json()
        response = post(client, url(sub.pk, "upgrade") + "/", {"plan_id": str(pro.pk)})

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["subscription", "invoice", "proration", "message"]
    assert body["message"] == "Upgrade invoice issued. The new plan starts when it is paid."
    invoice = body["invoice"]
    assert (invoice["invoice_type"], invoice["status"], invoice["total_amount"]) == (
        "PLAN_CHANGE", "PENDING", "31.73",
    )  # fmt: skip
    assert (invoice["subscription_id"], invoice["tarif_plan_id"]) == (str(sub.pk), str(pro.pk))
    assert body["proration"] == previewed["proration"]
    # the invoice lines are the previewed lines, field for field
    for line, expected in zip(invoice["line_items"], previewed["proration"]["lines"], strict=True):
        assert {key: line[key] for key in expected if key != "explanation"} == {
            key: value for key, value in expected.items() if key != "explanation"
        }
    subscription = body["subscription"]
    assert (subscription["tarif_plan_id"], subscription["open_invoice_id"]) == (
        str(basic.pk), invoice["id"],
    )  # fmt: skip
    assert subscription["status"] == "ACTIVE"


def test_a_zero_upgrade_switches_at_once(client, customer, sub, main):
    # At the start of the period the whole price of Basic is unused: it pays its twin in full.
    twin = plan(main, "Basic Twin", "9.99", features={"default_tokens": 100})

    with time_machine.travel(at(2026, 4, 1), tick=False):
        response = post(client, url(sub.pk, "upgrade"), {"plan_id": str(twin.pk)})

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Subscription upgraded successfully."
    assert (body["invoice"]["status"], body["invoice"]["payment_ref"]) == ("PAID", "zero-price")
    assert (body["proration"]["amount_due"], body["proration"]["tokens_granted"]) == ("0.00", 0)
    subscription = body["subscription"]
    assert (subscription["tarif_plan_id"], subscription["open_invoice_id"]) == (str(twin.pk), None)
    assert (subscription["current_period_start"], subscription["expires_at"]) == (
        "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z",
    )  # fmt: skip
    assert balance_of(customer) == 0


def test_alternating_upgrades_between_equal_plans_never_create_tokens(
    client, customer, sub, basic, main
):
    twin = plan(main, "Basic Twin", "9.99", features={"default_tokens": 100})
    tokens_credit(
        user=customer,
        amount=100,
        transaction_type=TokenTransactionType.SUBSCRIPTION,
        description="Basic: tokens for the period",
        reference_type="subscription",
        reference_id=sub.pk,
        idempotency_key="first-period",
    )

    for step, target in enumerate([twin, basic] * 5):
        # Each switch starts a new period at once, so the next one finds it all unused.
        with time_machine.travel(at(2026, 4, 1, 0, step), tick=False):
            response = post(client, url(sub.pk, "upgrade"), {"plan_id": str(target.pk)})
        assert response.status_code == 200, response.json()
        body = response.json()
        assert (body["invoice"]["status"], body["invoice"]["total_amount"]) == ("PAID", "0.00")
        assert body["proration"]["tokens_granted"] == 0
        assert balance_of(customer) == 100

    sub.refresh_from_db()
    assert sub.plan_id == basic.pk
    assert Invoice.objects.filter(invoice_type=InvoiceType.PLAN_CHANGE).count() == 10


@pytest.mark.parametrize(("name", "price", "period"), [
    ("Lite", "2.00", BillingPeriod.MONTHLY),
    ("Free", "0.00", BillingPeriod.MONTHLY),
    ("Basic Weekly", "2.29", BillingPeriod.WEEKLY),  # 2.29 x 52 / 12 = 9.92 a month
    ("Basic Yearly", "119.00", BillingPeriod.YEARLY),  # 9.92 a month
])  # fmt: skip
def test_a_cheaper_target_is_refused_for_upgrade_and_preview(
    client, sub, main, name, price, period
):
    cheaper = plan(main, name, price, billing_period=period)
    message = f"Plan {name} costs less than your current plan; downgrade instead"

    with time_machine.travel(APRIL_21, tick=False):
        upgrade = post(client, url(sub.pk, "upgrade"), {"plan_id": str(cheaper.pk)})
        shown = get(client, url(sub.pk, "proration"), {"new_plan_id": str(cheaper.pk)})
        downgrade = post(client, url(sub.pk, "downgrade"), {"plan_id": str(cheaper.pk)})

    for response in (upgrade, shown):
        assert response.status_code == 400
        assert (response.json()["error"], response.json()["code"]) == (message, "business_rule")
    assert downgrade.status_code == 200
    assert Invoice.objects.count() == 0
    sub.refresh_from_db()
    assert (sub.plan_id, sub.pending_plan_id) != (cheaper.pk, None)


def test_a_target_of_the_same_monthly_price_in_another_period_is_an_upgrade(client, sub, main):
    quarterly = plan(main, "Basic Quarterly", "29.97", billing_period=BillingPeriod.QUARTERLY)

    with time_machine.travel(APRIL_21, tick=False):
        response = get(client, url(sub.pk, "proration"), {"new_plan_id": str(quarterly.pk)})

    assert response.status_code == 200
    assert response.json()["proration"]["new_price"] == "29.97"


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [({}, 400, "validation_error", "plan_id is required"),
     ({"plan_id": 7}, 400, "validation_error", "Invalid plan_id format"),
     ({"plan_id": None}, 400, "validation_error", "plan_id is required"),
     ({"plan_id": " "}, 400, "validation_error", "plan_id is required"),
     ({"plan_id": str(uuid.UUID(int=1))}, 400, "validation_error", "Plan not found")],
)  # fmt: skip
def test_upgrade_errors_use_the_envelope(client, sub, body, status, code, message):
    response = post(client, url(sub.pk, "upgrade"), body)

    assert response.status_code == status
    assert (response.json()["error"], response.json()["code"]) == (message, code)


def test_an_empty_upgrade_body_is_an_empty_object(client, sub):
    response = authorised(client).post(url(sub.pk, "upgrade"))

    assert response.status_code == 400
    assert response.json()["error"] == "plan_id is required"


def test_an_upgrade_checks_the_payment_method(client, sub, pro):
    with time_machine.travel(APRIL_21, tick=False):
        response = post(
            client, url(sub.pk, "upgrade"), {"plan_id": str(pro.pk), "payment_method_code": "x"}
        )

    assert response.status_code == 400
    assert response.json()["error"] == "Payment method 'x' not found"
    assert Invoice.objects.count() == 0


@pytest.mark.parametrize(
    ("code", "message"),
    [(" x ", "Payment method ' x ' not found"), (True, "Payment method 'True' not found"),
     (5, "Payment method '5' not found")],
)  # fmt: skip
def test_a_payment_method_that_is_not_a_known_code_is_not_found(client, sub, pro, code, message):
    with time_machine.travel(APRIL_21, tick=False):
        response = post(
            client, url(sub.pk, "upgrade"), {"plan_id": str(pro.pk), "payment_method_code": code}
        )

    assert response.status_code == 400
    assert (response.json()["error"], response.json()["code"]) == (message, "validation_error")
    assert response.json()["errors"] == {"payment_method_code": [message]}


def test_the_plan_checks_come_before_the_payment_method(client, sub, basic):
    response = post(
        client, url(sub.pk, "upgrade"), {"plan_id": str(basic.pk), "payment_method_code": True}
    )

    assert (response.status_code, response.json()["error"]) == (
        400,
        "Already subscribed to this plan",
    )


# --- downgrade and cancel-downgrade -------------------------------------------------------------


def test_a_downgrade_returns_the_subscription_with_its_pending_plan(client, customer, basic, pro):
    subscription = SubscriptionFactory(
        user=customer, plan=pro, current_period_start=at(2026, 4, 1), expires_at=at(2026, 5, 1)
    )
    with time_machine.travel(APRIL_21, tick=False):
        response = post(client, url(subscription.pk, "downgrade"), {"plan_id": str(basic.pk)})

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["subscription", "message"]
    assert body["message"] == "Downgrade scheduled for next renewal."
    assert (body["subscription"]["tarif_plan_id"], body["subscription"]["pending_plan_id"]) == (
        str(pro.pk), str(basic.pk),
    )  # fmt: skip
    assert body["subscription"]["pending_plan"] == {
        "id": str(basic.pk), "name": "Basic", "slug": "basic",
    }  # fmt: skip

    with time_machine.travel(APRIL_21, tick=False):
        response = post(client, url(subscription.pk, "cancel-downgrade"))

    assert response.status_code == 200
    assert response.json()["message"] == "Scheduled downgrade cleared."
    assert response.json()["subscription"]["pending_plan_id"] is None

    with time_machine.travel(APRIL_21, tick=False):
        response = post(client, url(subscription.pk, "cancel-downgrade"))

    assert response.status_code == 400
    assert response.json() == {"error": "No downgrade is scheduled", "code": "business_rule"}


def test_downgrading_to_the_current_plan_clears_the_schedule(client, sub, basic, pro):
    with time_machine.travel(APRIL_21, tick=False):
        post(client, url(sub.pk, "downgrade"), {"plan_id": str(pro.pk)})
        response = post(client, url(sub.pk, "downgrade"), {"plan_id": str(basic.pk)})

    assert response.status_code == 200
    assert response.json()["message"] == "Scheduled downgrade cleared."
    assert response.json()["subscription"]["pending_plan_id"] is None


def test_downgrade_messages(client, sub, main):
    lifetime = plan(main, "Lifetime", "99.00", billing_period=BillingPeriod.ONE_TIME)

    missing = post(client, url(sub.pk, "downgrade"), {})
    one_time = post(client, url(sub.pk, "downgrade"), {"plan_id": str(lifetime.pk)})

    assert (missing.status_code, missing.json()["error"]) == (400, "plan_id is required")
    assert one_time.json() == {
        "error": "A downgrade target must be a recurring plan", "code": "business_rule",
    }  # fmt: skip


def test_a_paused_subscription_cannot_be_downgraded(client, sub, pro):
    Subscription.objects.filter(pk=sub.pk).update(status="PAUSED")

    response = post(client, url(sub.pk, "downgrade"), {"plan_id": str(pro.pk)})

    assert response.json() == {
        "error": "Only active subscriptions can be downgraded", "code": "invalid_transition",
    }  # fmt: skip


def test_downgrade_pays_off_at_the_renewal(client, customer, basic, pro):
    from billing.invoices.services import invoice_mark_paid
    from billing.subscriptions.services.renewal import renewal_invoice_issue

    subscription = SubscriptionFactory(
        user=customer, plan=pro, current_period_start=at(2026, 4, 1), expires_at=at(2026, 5, 1)
    )
    with time_machine.travel(APRIL_21, tick=False):
        post(client, url(subscription.pk, "downgrade"), {"plan_id": str(basic.pk)})
    with time_machine.travel(at(2026, 4, 29), tick=False):
        renewal = renewal_invoice_issue(subscription_id=subscription.pk)
    assert (renewal.invoice_type, renewal.tarif_plan_id) == (InvoiceType.RENEWAL, basic.pk)

    with time_machine.travel(at(2026, 4, 30), tick=False):
        invoice_mark_paid(invoice_id=renewal.pk, actor=None)
        response = get(client, f"/api/v1/user/invoices/{renewal.pk}")

    assert response.json()["invoice"]["status"] == InvoiceStatus.PAID
    subscription.refresh_from_db()
    assert (subscription.plan_id, subscription.pending_plan_id) == (basic.pk, None)


# --- schema -------------------------------------------------------------------------------------


def test_the_schema_documents_the_plan_change_shapes():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    assert list(components["Proration"]["properties"]) == PRORATION_KEYS
    assert list(components["ProrationLine"]["properties"]) == LINE_KEYS
    assert set(components["UpgradeRequest"]["properties"]) == {"plan_id", "payment_method_code"}
    assert set(components["DowngradeRequest"]["properties"]) == {"plan_id"}
    base = "/api/v1/user/subscriptions/{subscription_id}"
    paths = schema["paths"]
    read = {"200", "400", "401", "404", "429"}
    assert set(paths[f"{base}/proration/"]["get"]["responses"]) == read
    for action in ("upgrade", "downgrade", "cancel-downgrade"):
        # a POST also answers 409 (Idempotency-Key), 413 and 415 (its body)
        write = read | {"409", "413", "415"}
        assert set(paths[f"{base}/{action}/"]["post"]["responses"]) == write
    parameters = paths[f"{base}/proration/"]["get"]["parameters"]
    assert "new_plan_id" in {parameter["name"] for parameter in parameters}

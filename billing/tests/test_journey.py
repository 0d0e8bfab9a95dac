"""The customer journey through the API: a German customer checks out the Pro plan
with its trial, the 1000-token bundle and Priority Support; staff record the bank transfer; the
trial rolls into a paid period, the add-on runs for a month and the tokens arrive exactly once."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Sum
from rest_framework.test import APIClient

from accounts.demo import DEMO_ADMIN, DEMO_USER, seed_accounts
from accounts.models import User
from audit.models import AuditEntry
from billing.catalog.demo import seed_catalog
from billing.catalog.models import AddOn, Plan
from billing.invoices.models import Invoice, InvoiceStatus, Payment
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from tokens.demo import seed_bundles
from tokens.models import PurchaseStatus, TokenBundle, TokenBundlePurchase, TokenTransaction

pytestmark = pytest.mark.django_db

API = "/api/v1"
UTC = datetime.UTC
# A month end, so the calendar periods show their clamping: the trial ends on Feb 14 and the
# add-on bought on Jan 31 runs to Feb 28.
NOW = datetime.datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
TRIAL_END = datetime.datetime(2026, 2, 14, 10, 0, tzinfo=UTC)


def _login(email: str, password: str) -> APIClient:
    client = APIClient()
    response = client.post(
        f"{API}/auth/login", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    return client


def _money_of(line: dict) -> tuple[str, str, str, str]:
    return (line["amount"], line["tax_rate"], line["tax_amount"], line["gross_amount"])


def _audit_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for action in AuditEntry.objects.values_list("action", flat=True):
        counts[action] = counts.get(action, 0) + 1
    return counts


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_checkout_of_a_trial_plan_a_bundle_and_an_add_on_then_staff_mark_paid(frozen):
    seed_accounts()
    seed_catalog()
    seed_bundles()
    customer = User.objects.get(email=DEMO_USER[0])
    assert (customer.details.country, customer.details.city) == ("DE", "Berlin")
    pro = Plan.objects.get(slug="pro")
    bundle = TokenBundle.objects.get(name="1000 Tokens")
    support = AddOn.objects.get(slug="priority-support")
    user_api = _login(*DEMO_USER)
    staff_api = _login(*DEMO_ADMIN)

    # 1. Checkout ------------------------------------------------------------------------------
    response = user_api.post(
        f"{API}/user/checkout",
        {
            "plan_id": str(pro.pk),
            "token_bundle_ids": [str(bundle.pk)],
            "add_on_ids": [str(support.pk)],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["message"] == "Checkout created. Trial started."
    invoice = body["invoice"]
    assert invoice["invoice_number"] == "INV-2026-000001"
    assert (invoice["status"], invoice["invoice_type"], invoice["currency"]) == (
        "PENDING",
        "CHECKOUT",
        "EUR",
    )
    assert invoice["payment_method"] == "invoice"
    assert invoice["reverse_charge"] is False
    assert invoice["billing_address"]["country"] == "DE"
    lines = {line["type"]: line for line in invoice["line_items"]}
    assert [line["type"] for line in invoice["line_items"]] == [
        "SUBSCRIPTION",
        "TOKEN_BUNDLE",
        "ADD_ON",
    ]
    assert _money_of(lines["SUBSCRIPTION"]) == ("29.99", "19.00", "5.70", "35.69")
    assert _money_of(lines["TOKEN_BUNDLE"]) == ("10.00", "19.00", "1.90", "11.90")
    assert _money_of(lines["ADD_ON"]) == ("15.00", "19.00", "2.85", "17.85")
    assert (invoice["subtotal"], invoice["tax_amount"], invoice["total_amount"]) == (
        "54.99",
        "10.45",
        "65.44",
    )
    assert (invoice["amount_due"], invoice["is_payable"]) == ("65.44", True)
    assert invoice["tax_breakdown"] == [
        {"tax_name": "MwSt.", "tax_rate": "19.00", "net_amount": "54.99", "tax_amount": "10.45"}
    ]

    subscription = Subscription.objects.get(user=customer)
    assert body["subscription"]["id"] == str(subscription.pk)
    assert body["subscription"]["status"] == "TRIALING"
    assert subscription.status == SubscriptionStatus.TRIALING
    assert subscription.trial_end_at == TRIAL_END
    assert Invoice.objects.get(pk=invoice["id"]).due_date == TRIAL_END
    assert [item["status"] for item in body["token_bundles"]] == ["PENDING"]
    assert [item["status"] for item in body["add_ons"]] == ["PENDING"]
    assert TokenTransaction.objects.filter(user=customer).count() == 0

    # 2. Staff record the bank transfer, four days into the trial ------------------------------
    paid_moment = NOW + datetime.timedelta(days=4)
    frozen.move_to(paid_moment)
    user_api, staff_api = _login(*DEMO_USER), _login(*DEMO_ADMIN)  # access tokens last an hour
    response = staff_api.post(
        f"{API}/admin/invoices/{invoice['id']}/mark-paid",
        {"payment_reference": "BANK-2026-0131"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    paid = response.json()
    assert paid["message"] == "Invoice marked as paid"
    assert paid["invoice"]["status"] == "PAID"
    assert paid["invoice"]["payment_ref"] == "BANK-2026-0131"
    assert paid["invoice"]["amount_due"] == "0.00"
    assert (paid["payment"]["gateway"], paid["payment"]["external_id"]) == (
        "manual",
        "BANK-2026-0131",
    )
    assert (paid["payment"]["amount"], paid["payment"]["status"]) == ("65.44", "CAPTURED")

    # The trial days are kept: the first paid month starts when the trial ends.
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.current_period_start == TRIAL_END
    assert subscription.expires_at == datetime.datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
    # The add-on runs from the payment for one calendar month.
    addon_item = AddOnSubscription.objects.get(user=customer)
    assert addon_item.status == AddOnSubscriptionStatus.ACTIVE
    assert addon_item.starts_at == paid_moment
    assert addon_item.expires_at == datetime.datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    assert addon_item.subscription_id == subscription.pk
    purchase = TokenBundlePurchase.objects.get(user=customer)
    assert (purchase.status, purchase.tokens_credited) == (PurchaseStatus.COMPLETED, True)

    # 1000 bundle tokens + 500 of Pro's default_tokens, each credited once.
    balance = user_api.get(f"{API}/user/tokens/balance")
    assert balance.status_code == 200
    assert balance.json()["balance"] == 1500
    ledger = TokenTransaction.objects.filter(user=customer)
    assert sorted(ledger.values_list("transaction_type", "amount")) == [
        ("PURCHASE", 1000),
        ("SUBSCRIPTION", 500),
    ]
    assert ledger.aggregate(total=Sum("amount"))["total"] == 1500

    audit = _audit_counts()
    for action in (
        "invoice.issued",
        "invoice.paid",
        "payment.captured",
        "subscription.activated",
        "addon_subscription.activated",
        "token_bundle_purchase.completed",
    ):
        assert audit.get(action) == 1, action
    assert audit.get("token_balance.credited") == 2
    marked = AuditEntry.objects.get(action="invoice.paid")
    assert marked.actor_email == DEMO_ADMIN[0]

    # The customer sees the invoice paid.
    mine = user_api.get(f"{API}/user/invoices/{invoice['id']}")
    assert mine.status_code == 200
    assert (mine.json()["invoice"]["status"], mine.json()["invoice"]["amount_due"]) == (
        "PAID",
        "0.00",
    )

    # 3. Repeating mark-paid with the same reference changes nothing ---------------------------
    frozen.move_to(NOW + datetime.timedelta(days=5))
    user_api, staff_api = _login(*DEMO_USER), _login(*DEMO_ADMIN)
    again = staff_api.post(
        f"{API}/admin/invoices/{invoice['id']}/mark-paid",
        {"payment_reference": "BANK-2026-0131"},
        format="json",
    )

    assert again.status_code == 200, again.json()
    assert again.json()["invoice"]["status"] == "PAID"
    assert again.json()["payment"]["id"] == paid["payment"]["id"]
    assert _audit_counts() == audit
    assert Payment.objects.filter(invoice_id=invoice["id"]).count() == 1
    assert TokenTransaction.objects.filter(user=customer).count() == 2
    assert user_api.get(f"{API}/user/tokens/balance").json()["balance"] == 1500
    subscription.refresh_from_db()
    assert (subscription.current_period_start, subscription.expires_at) == (
        TRIAL_END,
        datetime.datetime(2026, 3, 14, 10, 0, tzinfo=UTC),
    )
    stored = Invoice.objects.get(pk=invoice["id"])
    assert (stored.status, stored.paid_at, stored.needs_review) == (
        InvoiceStatus.PAID,
        paid_moment,
        False,
    )
    assert stored.total_amount == Decimal("65.44")

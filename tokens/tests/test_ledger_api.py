"""Balances and the ledger over HTTP (customers and staff), the back office and tokens_check."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory
from audit.models import AuditEntry
from tokens.models import TokenBalance, TokenTransaction
from tokens.services import ledger

pytestmark = pytest.mark.django_db

TRANSACTION_KEYS = {
    "id",
    "user_id",
    "amount",
    "balance_after",
    "transaction_type",
    "reference_type",
    "reference_id",
    "description",
    "created_by",
    "created_at",
}
PAGE_KEYS = {"total", "page", "per_page", "pages", "limit", "offset"}


def _history(user, credits: int) -> None:
    for number in range(credits):
        ledger.tokens_credit(
            user=user,
            amount=10,
            description=f"Bundle {number}",
            reference_type="token_bundle_purchase",
            reference_id=f"purchase-{number}",
        )


def test_user_balance_and_transactions(user_client):
    user = user_client.user
    _history(user, 3)
    ledger.tokens_debit(
        user=user, amount=4, description="Chat message", reference_type="plugin:chat"
    )
    UserFactory()  # someone else's ledger stays invisible

    balance = user_client.get("/api/v1/user/tokens/balance")
    listing = user_client.get("/api/v1/user/tokens/transactions")
    usage_only = user_client.get("/api/v1/user/tokens/transactions", {"type": "usage"})

    assert balance.json() == {"balance": 26}
    body = listing.json()
    assert set(body) == {"transactions"} | PAGE_KEYS
    assert (body["total"], body["limit"], body["per_page"]) == (4, 50, 50)
    newest = body["transactions"][0]
    assert set(newest) == TRANSACTION_KEYS
    assert (newest["amount"], newest["balance_after"], newest["transaction_type"]) == (
        -4,
        26,
        "USAGE",
    )
    assert newest["reference_type"] == "plugin:chat"
    assert newest["created_by"] is None
    assert [entry["amount"] for entry in body["transactions"]] == [-4, 10, 10, 10]
    assert usage_only.json()["total"] == 1


def test_a_user_without_tokens_has_zero(user_client):
    assert user_client.get("/api/v1/user/tokens/balance").json() == {"balance": 0}
    assert user_client.get("/api/v1/user/tokens/transactions").json()["transactions"] == []


def test_balance_is_exactly_two_queries(user_client, django_assert_num_queries):
    _history(user_client.user, 2)

    # The caller (authentication) and the balance row.
    with django_assert_num_queries(2):
        response = user_client.get("/api/v1/user/tokens/balance")

    assert response.json() == {"balance": 20}


def test_transaction_filters_and_pages(user_client):
    _history(user_client.user, 5)

    page = user_client.get("/api/v1/user/tokens/transactions", {"limit": 2, "offset": 2}).json()
    bad = user_client.get("/api/v1/user/tokens/transactions", {"type": "gift"})

    assert (page["page"], page["pages"], len(page["transactions"])) == (2, 3, 2)
    assert bad.status_code == 400
    assert bad.json()["error"] == "Unknown type: gift"


def test_ledger_lists_run_a_constant_number_of_queries(user_client, django_assert_num_queries):
    _history(user_client.user, 1)
    with django_assert_num_queries(3):
        user_client.get("/api/v1/user/tokens/transactions")
    _history(user_client.user, 49)
    with django_assert_num_queries(3):
        assert len(user_client.get("/api/v1/user/tokens/transactions").json()["transactions"]) == 50


def test_token_routes_need_a_token(api_client):
    assert api_client.get("/api/v1/user/tokens/balance").status_code == 401
    assert api_client.get("/api/v1/user/tokens/transactions").status_code == 401


# --- staff ----------------------------------------------------------------------------------


def test_admin_reads_a_users_ledger(admin_client, user):
    _history(user, 2)

    response = admin_client.get(f"/api/v1/admin/users/{user.pk}/tokens")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"balance", "transactions"} | PAGE_KEYS
    assert (body["balance"], body["total"], body["limit"]) == (20, 2, 50)
    assert admin_client.get(f"/api/v1/admin/users/{user.pk}").json()["user"]["token_balance"] == 20


def test_admin_adjustments_go_through_the_ledger_with_staff_and_reason(admin_client, user):
    _history(user, 1)

    credited = admin_client.post(
        f"/api/v1/admin/users/{user.pk}/tokens/adjust",
        {"amount": 25, "reason": "Service outage credit"},
        format="json",
        HTTP_X_REQUEST_ID="req-adjust-1",
    )
    debited = admin_client.post(
        f"/api/v1/admin/users/{user.pk}/tokens/adjust",
        {"amount": -5, "reason": "Duplicate credit", "type": "adjustment"},
        format="json",
    )
    bonus = admin_client.post(
        f"/api/v1/admin/users/{user.pk}/tokens/adjust",
        {"amount": 3, "reason": "Loyalty", "type": "BONUS"},
        format="json",
    )

    assert credited.status_code == 200
    assert credited.json()["message"] == "Token balance adjusted"
    assert credited.json()["balance"] == 35
    assert set(credited.json()["transaction"]) == TRANSACTION_KEYS
    assert credited.json()["transaction"]["created_by"] == str(admin_client.user.pk)
    assert credited.json()["transaction"]["description"] == "Service outage credit"
    assert debited.json()["balance"] == 30
    assert bonus.json()["transaction"]["transaction_type"] == "BONUS"
    assert TokenBalance.objects.get(user=user).balance == 33
    entry = AuditEntry.objects.filter(
        object_type="token_balance", reason="Service outage credit"
    ).get()
    assert (entry.actor_id, entry.subject_user_id, entry.request_id) == (
        admin_client.user.pk,
        user.pk,
        "req-adjust-1",
    )
    assert (entry.before, entry.after["balance"]) == ({"balance": 10}, 35)


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (
            {"amount": 0, "reason": "x"},
            400,
            "validation_error",
            "amount must be a non-zero integer",
        ),
        (
            {"amount": "5", "reason": "x"},
            400,
            "validation_error",
            "amount must be a non-zero integer",
        ),
        ({"amount": 5}, 400, "validation_error", "reason is required"),
        ({"amount": 5, "reason": "   "}, 400, "validation_error", "reason is required"),
        (
            {"amount": -5, "reason": "x", "type": "BONUS"},
            400,
            "validation_error",
            "BONUS requires a positive amount",
        ),
        ({"amount": -50, "reason": "x"}, 400, "insufficient_tokens", "Insufficient token balance"),
        (
            {"amount": 5, "reason": "x", "type": "gift"},
            400,
            "validation_error",
            "Unknown type: gift",
        ),
    ],
)
def test_adjustment_errors_change_nothing(admin_client, user, body, status, code, message):
    _history(user, 1)

    response = admin_client.post(
        f"/api/v1/admin/users/{user.pk}/tokens/adjust", body, format="json"
    )

    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["error"] == message
    assert TokenBalance.objects.get(user=user).balance == 10
    assert TokenTransaction.objects.filter(user=user).count() == 1


def test_staff_token_routes_need_an_admin_and_a_real_user(user_client, admin_client):
    other = UserFactory()

    assert user_client.get(f"/api/v1/admin/users/{other.pk}/tokens").status_code == 403
    assert APIClient().get(f"/api/v1/admin/users/{other.pk}/tokens").status_code == 401
    missing = admin_client.get(f"/api/v1/admin/users/{uuid.uuid4()}/tokens")
    assert missing.json() == {"error": "User not found", "code": "not_found"}


# --- back office ----------------------------------------------------------------------------


def test_back_office_adjust_action_asks_for_a_reason():
    staff = AdminFactory()
    customer = UserFactory()
    _history(customer, 1)
    balance = TokenBalance.objects.get(user=customer)
    browser = Client()
    assert browser.login(username=staff.email, password=DEFAULT_PASSWORD)
    form = {"action": "adjust_balance", "_selected_action": [str(balance.pk)]}

    asked = browser.post("/admin/tokens/tokenbalance/", form)
    done = browser.post(
        "/admin/tokens/tokenbalance/", {**form, "apply": "1", "amount": "-4", "reason": "Abuse"}
    )

    assert asked.status_code == 200
    assert b"reason" in asked.content.lower()
    assert done.status_code == 302
    entry = TokenTransaction.objects.filter(user=customer).order_by("-created_at").first()
    assert (entry.amount, entry.description, entry.created_by_id) == (-4, "Abuse", staff.pk)
    assert browser.get("/admin/tokens/tokentransaction/").status_code == 200
    assert browser.get(f"/admin/tokens/tokenbalance/{balance.pk}/change/").status_code == 200
    assert browser.get(f"/admin/tokens/tokentransaction/{entry.pk}/delete/").status_code == 403


# --- tokens_check ---------------------------------------------------------------------------


def test_tokens_check_passes_on_a_consistent_database():
    _history(UserFactory(), 3)
    out = StringIO()

    call_command("tokens_check", stdout=out)

    assert "All 1 balance(s) match the ledger." in out.getvalue()


def test_tokens_check_exits_1_on_a_broken_database():
    healthy, broken = UserFactory(), UserFactory()
    _history(healthy, 1)
    _history(broken, 2)
    # Corruption that no service could cause: the balance row edited behind the ledger's back.
    TokenBalance.objects.filter(user=broken).update(balance=7)
    out, err = StringIO(), StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("tokens_check", stdout=out, stderr=err)

    assert exit_info.value.code == 1
    assert f"user {broken.pk}: balance 7, ledger sum 20" in out.getvalue()
    assert str(healthy.pk) not in out.getvalue()
    assert "1 of 2 balance(s) do not match the ledger" in err.getvalue()

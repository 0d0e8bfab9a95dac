"""Sends that race each other and the balance, on PostgreSQL with real row locks."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from conftest import bearer
from plugins.chat.models import ChatExchange, ChatExchangeStatus
from plugins.chat.tests.conftest import configure
from tests.support.race import run_together
from tokens.models import TokenTransaction
from tokens.services import balance_of, tokens_credit, tokens_debit

SEND = "/api/v1/plugins/chat/send"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(user))
    return client


def test_32_concurrent_sends_with_a_balance_covering_10_bill_at_most_10(chat, user):
    # Each exchange costs 2 tokens: 1 for the message, 1 for the reply.
    configure(counting_mode="words", words_per_token=10)
    tokens_credit(user=user, amount=20, description="Test tokens")
    chat.reply("fine")
    chat.stall(0.3, times=32)  # every claim is made before the first reply is billed

    results = run_together(
        [
            lambda index=index: _client(user).post(
                SEND, {"message": f"question {index}"}, format="json"
            )
            for index in range(32)
        ],
        timeout=60,
    )

    statuses = [result.status_code for result in results]
    assert set(statuses) <= {200, 400}
    refused = [result for result in results if result.status_code == 400]
    assert all(result.json()["code"] == "insufficient_tokens" for result in refused)
    # Claims hold the message cost: at most 20 of the 32 reached the model.
    assert len(chat.requests) == statuses.count(200) <= 20
    billed = TokenTransaction.objects.filter(user=user, transaction_type="USAGE")
    # Whole exchanges only, until the balance is spent: exactly 10 billed, nothing negative.
    assert [entry.amount for entry in billed] == [-2] * 10
    assert balance_of(user) == 0
    assert ChatExchange.objects.filter(status=ChatExchangeStatus.PENDING).count() == 0
    out = StringIO()
    call_command("tokens_check", stdout=out)
    assert "match the ledger" in out.getvalue()


def test_concurrent_retries_of_one_request_are_billed_once(chat, user):
    configure(counting_mode="words", words_per_token=1)
    tokens_credit(user=user, amount=100, description="Test tokens")
    chat.reply("a b c")
    chat.stall(0.3)

    results = run_together(
        [
            lambda: _client(user).post(
                SEND, {"message": "same"}, format="json", HTTP_IDEMPOTENCY_KEY="same-request"
            )
            for _ in range(6)
        ],
        timeout=60,
    )

    statuses = sorted(result.status_code for result in results)
    assert 200 in statuses
    assert set(statuses) <= {200, 409}
    [entry] = TokenTransaction.objects.filter(user=user, transaction_type="USAGE")
    assert entry.amount == -4
    assert balance_of(user) == 96
    assert len(chat.requests) == 1


def test_a_balance_spent_elsewhere_during_the_call_caps_the_debit(chat, user):
    configure(counting_mode="words", words_per_token=1)
    tokens_credit(user=user, amount=10, description="Test tokens")
    chat.reply("one two three four five")

    def spend_meanwhile(_body):
        try:
            tokens_debit(user=user, amount=7, description="Spent elsewhere")
        finally:
            connection.close()

    chat.on_request = spend_meanwhile

    response = _client(user).post(SEND, {"message": "x y"}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "response": "one two three four five",
        "tokens_used": 3,
        "balance": 0,
    }
    entry = TokenTransaction.objects.get(
        user=user, transaction_type="USAGE", reference_type="chat_exchange"
    )
    assert (
        entry.description == "Chat: 3 tokens (2 sent + 5 received), capped at the balance (7 due)"
    )
    assert balance_of(user) == 0

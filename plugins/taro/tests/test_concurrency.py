"""Follow-ups and sessions that race each other and the balance, on PostgreSQL with real
row locks."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from conftest import bearer
from plugins.taro.models import FollowUpStatus, TaroFollowUp, TaroSession
from plugins.taro.tests.conftest import configure, fund, load_deck
from tests.support.race import run_together
from tokens.models import TokenTransaction
from tokens.services import balance_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(user))
    return client


def _tokens_check_passes() -> bool:
    out = StringIO()
    call_command("tokens_check", stdout=out)
    return "match the ledger" in out.getvalue()


def test_concurrent_follow_ups_never_drive_the_balance_negative(taro, user):
    load_deck()
    configure(default_max_follow_ups=50, session_cost=10, follow_up_cost=5)
    fund(user, 10 + 5 * 6)  # the session and six follow-ups
    session = _client(user).post("/api/v1/plugins/taro/session", format="json").json()["session"]
    taro.stall(0.3, times=20)  # every claim is made before the first answer is billed
    path = f"/api/v1/plugins/taro/session/{session['session_id']}/follow-up"

    results = run_together(
        [
            lambda index=index: _client(user).post(
                path,
                {"question": f"q{index}", "follow_up_type": "ADDITIONAL" if index % 2 else None},
                format="json",
            )
            for index in range(20)
        ],
        timeout=60,
    )

    statuses = [result.status_code for result in results]
    assert set(statuses) <= {201, 400}, statuses
    refused = [result for result in results if result.status_code == 400]
    assert all(result.json()["code"] == "insufficient_tokens" for result in refused)
    assert statuses.count(201) == 6
    assert len(taro.requests) == 6
    billed = TokenTransaction.objects.filter(user=user, transaction_type="USAGE")
    assert sorted(entry.amount for entry in billed) == [-10] + [-5] * 6
    assert balance_of(user) == 0
    stored = TaroSession.objects.get(pk=session["session_id"])
    assert stored.follow_up_count == 6
    assert stored.tokens_consumed == 40
    on_table = list(stored.cards.filter(on_table=True).values_list("arcana_id", flat=True))
    assert len(on_table) == len(set(on_table))  # the added cards are all distinct
    assert TaroFollowUp.objects.filter(status=FollowUpStatus.PENDING).count() == 0
    assert _tokens_check_passes()


def test_concurrent_follow_ups_respect_the_session_maximum(taro, user):
    load_deck()
    configure(default_max_follow_ups=2)
    fund(user, 100)
    session = _client(user).post("/api/v1/plugins/taro/session", format="json").json()["session"]
    taro.stall(0.3, times=8)
    path = f"/api/v1/plugins/taro/session/{session['session_id']}/follow-up"

    results = run_together(
        [lambda: _client(user).post(path, {"question": "Why?"}, format="json") for _ in range(8)],
        timeout=60,
    )

    statuses = [result.status_code for result in results]
    assert statuses.count(201) == 2
    assert all(
        result.json()["code"] == "limit_reached" for result in results if result.status_code == 400
    )
    assert balance_of(user) == 100 - 10 - 2 * 5
    assert _tokens_check_passes()


def test_concurrent_sessions_respect_the_daily_limit_and_the_balance(taro, user):
    load_deck()
    configure(default_daily_limit=3)
    fund(user, 100)

    results = run_together(
        [
            lambda: _client(user).post("/api/v1/plugins/taro/session", format="json")
            for _ in range(10)
        ],
        timeout=60,
    )

    statuses = sorted(result.status_code for result in results)
    assert statuses == [201] * 3 + [429] * 7
    assert TaroSession.objects.filter(user=user).count() == 3
    assert TaroSession.objects.filter(user=user, status="ACTIVE").count() == 1
    assert balance_of(user) == 70
    assert _tokens_check_passes()


def test_concurrent_retries_of_one_follow_up_are_billed_once(taro, user):
    load_deck()
    fund(user, 100)
    session = _client(user).post("/api/v1/plugins/taro/session", format="json").json()["session"]
    taro.stall(0.3)
    path = f"/api/v1/plugins/taro/session/{session['session_id']}/follow-up"

    results = run_together(
        [
            lambda: _client(user).post(
                path, {"question": "Same?"}, format="json", HTTP_IDEMPOTENCY_KEY="same-follow-up"
            )
            for _ in range(6)
        ],
        timeout=60,
    )

    statuses = sorted(result.status_code for result in results)
    assert 201 in statuses
    assert set(statuses) <= {201, 409}
    assert len(taro.requests) == 1
    assert balance_of(user) == 85
    assert _tokens_check_passes()

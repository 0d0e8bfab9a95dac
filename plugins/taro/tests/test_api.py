"""The taro routes against a local OpenAI-compatible server, through the real openai client."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from rest_framework.test import APIClient

from audit.models import AuditEntry
from billing.catalog.tests.factories import PlanFactory
from billing.subscriptions.tests.factories import SubscriptionFactory
from conftest import bearer
from plugins.taro.models import (
    FollowUpStatus,
    TaroCard,
    TaroFollowUp,
    TaroSession,
    TaroSessionStatus,
)
from plugins.taro.tests.conftest import API_KEY, configure, fund
from tokens.models import TokenTransaction
from tokens.services import balance_of

BASE = "/api/v1/plugins/taro"
ALIAS = "/api/v1/taro"
SESSION = f"{BASE}/session"
HISTORY = f"{BASE}/history"
LIMITS = f"{BASE}/limits"

pytestmark = pytest.mark.django_db


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def client_for(user) -> APIClient:
    """A client whose access token is issued at the (possibly travelled) current time."""
    client = APIClient()
    client.credentials(**bearer(user))
    return client


def follow_up_path(session_id, base: str = BASE) -> str:
    return f"{base}/session/{session_id}/follow-up"


def usage_entries(user):
    return list(
        TokenTransaction.objects.filter(user=user, transaction_type="USAGE").order_by("created_at")
    )


def create_session(client, **headers):
    return client.post(SESSION, format="json", **headers)


def ask(client, session_id, question="What now?", follow_up_type=None, **headers):
    body = {"question": question}
    if follow_up_type is not None:
        body["follow_up_type"] = follow_up_type
    return client.post(follow_up_path(session_id), body, format="json", **headers)


# --- sessions -------------------------------------------------------------------------------


def test_a_session_debits_its_cost_once_and_lays_three_distinct_cards(taro, user, user_client):
    fund(user, 50)

    response = create_session(user_client)

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Taro session created successfully"
    session = body["session"]
    assert session["user_id"] == str(user.pk)
    assert session["status"] == "ACTIVE"
    assert session["follow_up_count"] == 0
    assert session["max_follow_ups"] == 3
    assert session["tokens_consumed"] == 10
    assert session["ended_at"] is None
    created = datetime.datetime.fromisoformat(session["created_at"])
    expires = datetime.datetime.fromisoformat(session["expires_at"])
    assert expires - created == datetime.timedelta(minutes=30)
    cards = session["cards"]
    assert [card["position"] for card in cards] == ["PAST", "PRESENT", "FUTURE"]
    assert len({card["arcana_id"] for card in cards}) == 3
    for card in cards:
        assert card["orientation"] in ("UPRIGHT", "REVERSED")
        arcana = card["arcana"]
        assert card["arcana_id"] == arcana["id"]
        assert arcana["image_url"].startswith("/static/taro/cards/")
        assert arcana["image_url"].endswith(".svg")
        assert set(arcana) == {
            "id", "name", "number", "suit", "rank", "arcana_type", "image_url",
            "upright_meaning", "reversed_meaning",
        }  # fmt: skip
        expected = (
            arcana["reversed_meaning"]
            if card["orientation"] == "REVERSED"
            else arcana["upright_meaning"]
        )
        assert card["interpretation"] == expected
    [entry] = usage_entries(user)
    assert entry.amount == -10
    assert entry.reference_type == "taro_session"
    assert balance_of(user) == 40
    assert taro.requests == []  # laying cards asks no model


def test_a_new_session_closes_the_earlier_active_one(taro, user, user_client):
    fund(user, 50)
    first = create_session(user_client).json()["session"]

    second = create_session(user_client).json()["session"]

    earlier = TaroSession.objects.get(pk=first["session_id"])
    assert earlier.status == TaroSessionStatus.CLOSED
    assert earlier.ended_at is not None
    assert second["status"] == "ACTIVE"
    assert TaroSession.objects.filter(user=user, status="ACTIVE").count() == 1
    assert AuditEntry.objects.filter(
        action="taro_session.closed", object_id=first["session_id"]
    ).exists()
    assert balance_of(user) == 30


def test_a_session_request_retried_with_its_key_is_billed_once(taro, user, user_client):
    fund(user, 50)
    headers = {"HTTP_IDEMPOTENCY_KEY": "taro-session-1"}

    first = create_session(user_client, **headers)
    second = create_session(user_client, **headers)

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert TaroSession.objects.filter(user=user).count() == 1
    [entry] = usage_entries(user)
    assert entry.idempotency_key == "taro:session:taro-session-1"
    assert balance_of(user) == 40


def test_a_session_the_balance_cannot_cover_is_refused(taro, user, user_client):
    fund(user, 9)

    response = create_session(user_client)

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "Insufficient tokens. You need at least 10 tokens to create a reading.",
        "message": "Insufficient tokens. You need at least 10 tokens to create a reading.",
        "code": "insufficient_tokens",
    }
    assert TaroSession.objects.count() == 0
    assert balance_of(user) == 9


def test_the_daily_limit_answers_429_until_the_next_utc_midnight(taro, user, user_client):
    fund(user, 100)
    with time_machine.travel(at(2027, 3, 1, 22, 59, 30), tick=False):
        for _ in range(3):
            assert create_session(client_for(user)).status_code == 201

        response = create_session(client_for(user))

    assert response.status_code == 429
    assert response["Retry-After"] == str(3600 + 30)
    assert response.json() == {
        "success": False,
        "error": "Daily limit reached. You can create 3 sessions per day.",
        "message": "Daily limit reached. You can create 3 sessions per day.",
        "code": "daily_limit_reached",
    }
    assert balance_of(user) == 70
    with time_machine.travel(at(2027, 3, 2, 0, 0, 1), tick=False):
        assert create_session(client_for(user)).status_code == 201


def test_the_plan_with_the_largest_limits_decides(taro, user, user_client):
    fund(user, 100)
    SubscriptionFactory(
        user=user, plan=PlanFactory(name="Mystic", features={"daily_taro_limit": 1,
                                                             "max_taro_follow_ups": 7})
    )  # fmt: skip
    SubscriptionFactory(user=user, plan=PlanFactory(name="Basic", features={}))

    limits = user_client.get(LIMITS).json()["limits"]
    created = create_session(user_client)
    refused = create_session(user_client)

    assert limits["daily_total"] == 1
    assert limits["plan_name"] == "Mystic"
    assert limits["max_follow_ups"] == 7
    assert created.json()["session"]["max_follow_ups"] == 7
    assert refused.status_code == 429
    assert refused.json()["error"] == "Daily limit reached. You can create 1 sessions per day."


# --- follow-ups -----------------------------------------------------------------------------


def test_a_follow_up_about_the_same_cards_is_answered_and_billed_once(taro, user, user_client):
    fund(user, 50)
    session = create_session(user_client).json()["session"]

    response = ask(user_client, session["session_id"], "Will it work out?")

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Follow-up question submitted successfully"
    follow_up = body["follow_up"]
    assert follow_up["session_id"] == session["session_id"]
    assert follow_up["question"] == "Will it work out?"
    assert follow_up["follow_up_type"] == "SAME_CARDS"
    assert follow_up["follow_up_count"] == 1
    assert follow_up["answer"] == "The cards counsel patience."
    assert follow_up["cards_added"] == []
    [request] = taro.requests
    messages = request["body"]["messages"]
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith("You are a thoughtful tarot reader continuing")
    assert "Will it work out?" in messages[1]["content"]
    for card in session["cards"]:
        assert card["arcana"]["name"] in messages[1]["content"]
    assert request["body"]["model"] == "local-model"
    assert request["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert [entry.amount for entry in usage_entries(user)] == [-10, -5]
    assert balance_of(user) == 35
    stored = TaroSession.objects.get(pk=session["session_id"])
    assert (stored.follow_up_count, stored.tokens_consumed) == (1, 15)


def test_an_additional_follow_up_adds_one_card_distinct_from_the_table(taro, user, user_client):
    fund(user, 50)
    configure(default_max_follow_ups=10)
    session = create_session(user_client).json()["session"]
    on_table = {card["arcana_id"] for card in session["cards"]}

    for _ in range(5):
        response = ask(user_client, session["session_id"], follow_up_type="ADDITIONAL")
        assert response.status_code == 201
        [added] = response.json()["follow_up"]["cards_added"]
        assert added["position"] == "ADDITIONAL"
        assert added["arcana_id"] not in on_table
        on_table.add(added["arcana_id"])

    [current] = user_client.get(HISTORY).json()["sessions"]
    assert [card["position"] for card in current["cards"]] == ["PAST", "PRESENT", "FUTURE"] + [
        "ADDITIONAL"
    ] * 5
    assert {card["arcana_id"] for card in current["cards"]} == on_table
    assert len(on_table) == 8


def test_a_new_spread_replaces_all_three_cards_with_the_reading_prompt(taro, user, user_client):
    fund(user, 50)
    session = create_session(user_client).json()["session"]
    old_cards = {card["card_id"] for card in session["cards"]}

    response = ask(user_client, session["session_id"], follow_up_type="NEW_SPREAD")

    assert response.status_code == 201
    added = response.json()["follow_up"]["cards_added"]
    assert [card["position"] for card in added] == ["PAST", "PRESENT", "FUTURE"]
    assert len({card["arcana_id"] for card in added}) == 3
    [current] = user_client.get(HISTORY).json()["sessions"]
    assert [card["card_id"] for card in current["cards"]] == [card["card_id"] for card in added]
    assert not old_cards & {card["card_id"] for card in current["cards"]}
    assert current["spread_id"] != session["spread_id"]
    system = taro.requests[0]["body"]["messages"][0]["content"]
    assert system.startswith("You are a thoughtful tarot reader. Read the cards")


def test_follow_ups_stop_at_the_session_maximum(taro, user, user_client):
    fund(user, 100)
    session = create_session(user_client).json()["session"]
    for _ in range(3):
        assert ask(user_client, session["session_id"]).status_code == 201

    response = ask(user_client, session["session_id"])

    assert response.status_code == 400
    assert response.json()["code"] == "limit_reached"
    assert response.json()["error"] == "Maximum follow-ups (3) reached for this session"
    assert len(taro.requests) == 3
    assert balance_of(user) == 100 - 10 - 3 * 5


def test_an_expired_session_refuses_follow_ups(taro, user, user_client):
    fund(user, 50)
    with time_machine.travel(at(2027, 3, 1, 12, 0), tick=False):
        session = create_session(client_for(user)).json()["session"]
    with time_machine.travel(at(2027, 3, 1, 12, 30), tick=False):
        response = ask(client_for(user), session["session_id"])

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["error"] == "Session has expired"
    assert taro.requests == []
    assert balance_of(user) == 40


def test_a_closed_session_refuses_follow_ups(taro, user, user_client):
    fund(user, 50)
    first = create_session(user_client).json()["session"]
    create_session(user_client)

    response = ask(user_client, first["session_id"])

    assert response.status_code == 400
    assert response.json()["error"] == "Session is closed"
    assert taro.requests == []


def test_another_users_session_answers_404(taro, user, admin_user, admin_client, user_client):
    fund(admin_user, 50)
    fund(user, 50)
    theirs = create_session(admin_client).json()["session"]

    response = ask(user_client, theirs["session_id"])

    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "Session not found",
        "message": "Session not found",
        "code": "not_found",
    }
    assert taro.requests == []
    assert balance_of(user) == 50


@pytest.mark.parametrize("status", [429, 500])
def test_a_model_error_debits_nothing(taro, user, user_client, status):
    fund(user, 50)
    session = create_session(user_client).json()["session"]
    taro.fail(status)

    response = ask(user_client, session["session_id"], follow_up_type="ADDITIONAL")

    assert response.status_code == 502
    assert response.json()["code"] == "provider_error"
    assert response.json()["success"] is False
    assert [entry.amount for entry in usage_entries(user)] == [-10]
    assert balance_of(user) == 40
    stored = TaroSession.objects.get(pk=session["session_id"])
    assert stored.follow_up_count == 0
    assert TaroCard.objects.filter(session=stored, on_table=True).count() == 3
    assert TaroFollowUp.objects.get().status == FollowUpStatus.FAILED


def test_a_model_timeout_debits_nothing(taro, user, user_client):
    fund(user, 50)
    configure(llm_timeout_seconds=0.3)
    session = create_session(user_client).json()["session"]
    taro.stall(1.5)

    response = ask(user_client, session["session_id"])

    assert response.status_code == 502
    assert balance_of(user) == 40
    assert TaroFollowUp.objects.get().status == FollowUpStatus.FAILED


def test_a_follow_up_retried_with_its_key_is_billed_once(taro, user, user_client):
    fund(user, 50)
    session = create_session(user_client).json()["session"]
    taro.fail(500)
    headers = {"HTTP_IDEMPOTENCY_KEY": "taro-follow-up-1"}

    first = ask(user_client, session["session_id"], **headers)
    second = ask(user_client, session["session_id"], **headers)
    third = ask(user_client, session["session_id"], **headers)

    assert first.status_code == 502
    assert second.status_code == third.status_code == 201
    assert third.json() == second.json()
    assert len(taro.requests) == 2
    entries = usage_entries(user)
    assert [entry.amount for entry in entries] == [-10, -5]
    assert entries[1].idempotency_key == "taro:follow-up:taro-follow-up-1"
    assert balance_of(user) == 35
    assert TaroSession.objects.get(pk=session["session_id"]).follow_up_count == 1


def test_a_follow_up_costing_more_than_the_balance_is_refused_before_the_model(
    taro, user, user_client
):
    fund(user, 14)
    configure(follow_up_cost=5)
    session = create_session(user_client).json()["session"]

    response = ask(user_client, session["session_id"])

    assert response.status_code == 400
    assert response.json()["code"] == "insufficient_tokens"
    assert response.json()["error"] == (
        "Insufficient tokens. You need at least 5 tokens for a follow-up"
    )
    assert taro.requests == []
    assert TaroFollowUp.objects.count() == 0
    assert balance_of(user) == 4


def test_a_follow_up_without_an_endpoint_answers_503(taro, user, user_client):
    fund(user, 50)
    session = create_session(user_client).json()["session"]
    configure(llm_api_endpoint=None)

    response = ask(user_client, session["session_id"])

    assert response.status_code == 503
    assert response.json()["error"] == "LLM API endpoint is not configured"
    assert balance_of(user) == 40


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Question is required"),
        ({"question": ""}, "Question is required"),
        ({"question": None}, "Question is required"),
        ({"question": "x" * 1001}, "Question must be at most 1000 characters"),
        (
            {"question": "ok", "follow_up_type": "MORE"},
            "Invalid follow_up_type. Must be one of SAME_CARDS, ADDITIONAL, NEW_SPREAD",
        ),
    ],
)
def test_a_follow_up_refuses_bad_input(taro, user, user_client, body, message):
    fund(user, 50)
    session = create_session(user_client).json()["session"]

    response = user_client.post(follow_up_path(session["session_id"]), body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["error"] == message
    assert response.json()["message"] == message
    assert taro.requests == []


# --- history and limits ---------------------------------------------------------------------


def test_history_pages_newest_first_and_filters_by_status(
    taro, user, user_client, django_assert_max_num_queries
):
    fund(user, 100)
    configure(default_daily_limit=10)
    ids = []
    for minute in range(4):
        with time_machine.travel(at(2027, 3, 1, 12, minute), tick=False):
            ids.append(create_session(client_for(user)).json()["session"]["session_id"])

    with django_assert_max_num_queries(8):
        page = user_client.get(HISTORY, {"limit": 2, "offset": 1})
    closed = user_client.get(HISTORY, {"status": "CLOSED"}).json()
    bad = user_client.get(HISTORY, {"limit": 51})
    bad_status = user_client.get(HISTORY, {"status": "OPEN"})

    assert page.status_code == 200
    assert [row["session_id"] for row in page.json()["sessions"]] == [ids[2], ids[1]]
    assert page.json()["pagination"] == {"limit": 2, "offset": 1, "total": 4}
    assert all(len(row["cards"]) == 3 for row in page.json()["sessions"])
    assert closed["pagination"]["total"] == 3
    assert bad.status_code == 400
    assert bad.json()["success"] is False
    assert bad_status.status_code == 400


def test_limits_show_usage_costs_balance_and_the_expiry_warning(taro, user, user_client):
    fund(user, 30)
    with time_machine.travel(at(2027, 3, 1, 12, 0), tick=False):
        session = create_session(client_for(user)).json()["session"]
        early = client_for(user).get(f"{ALIAS}/limits").json()
    with time_machine.travel(at(2027, 3, 1, 12, 27), tick=False):
        late = client_for(user).get(LIMITS).json()

    assert early == {
        "success": True,
        "limits": {
            "daily_total": 3,
            "daily_used": 1,
            "daily_remaining": 2,
            "plan_name": None,
            "can_create": True,
            "max_follow_ups": 3,
            "session_cost": 10,
            "follow_up_cost": 5,
            "balance": 20,
        },
        "session_expiry_warning": {
            "has_warning": False,
            "session_id": None,
            "expires_in_seconds": None,
        },
    }
    assert late["session_expiry_warning"] == {
        "has_warning": True,
        "session_id": session["session_id"],
        "expires_in_seconds": 180,
    }


def test_the_user_app_paths_under_taro_serve_the_same_views(taro, user, user_client):
    fund(user, 50)

    created = user_client.post(f"{ALIAS}/session", format="json")
    session_id = created.json()["session"]["session_id"]
    answered = user_client.post(
        follow_up_path(session_id, ALIAS), {"question": "And then?"}, format="json"
    )
    history = user_client.get(f"{ALIAS}/history")

    assert created.status_code == 201
    assert answered.status_code == 201
    assert history.json()["sessions"][0]["follow_up_count"] == 1


# --- expiry job -----------------------------------------------------------------------------


def test_the_expiry_job_expires_sessions_whose_time_ran_out(taro, user, user_client):
    from billing.subscriptions.jobs import run_jobs
    from plugins.taro.tasks import taro_sessions_expire

    fund(user, 50)
    with time_machine.travel(at(2027, 3, 1, 12, 0), tick=False):
        session = create_session(client_for(user)).json()["session"]
    with time_machine.travel(at(2027, 3, 1, 12, 29), tick=False):
        assert run_jobs(only=["taro_sessions_expire"]) == {"taro_sessions_expire": 0}
    with time_machine.travel(at(2027, 3, 1, 12, 31), tick=False):
        assert taro_sessions_expire.delay().get() == 1
        assert run_jobs(only=["taro_sessions_expire"]) == {"taro_sessions_expire": 0}

    stored = TaroSession.objects.get(pk=session["session_id"])
    assert stored.status == TaroSessionStatus.EXPIRED
    assert stored.ended_at == at(2027, 3, 1, 12, 31)
    assert AuditEntry.objects.filter(action="taro_session.expired").count() == 1

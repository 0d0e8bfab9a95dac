"""The chat routes against a local OpenAI-compatible server, through the real openai client."""

from __future__ import annotations

import pytest

from plugins.chat.models import ChatExchange, ChatExchangeStatus
from plugins.chat.tests.conftest import API_KEY, configure
from plugins.services import plugin_disable
from tokens.models import TokenTransaction
from tokens.services import balance_of, tokens_credit

SEND = "/api/v1/plugins/chat/send"
ESTIMATE = "/api/v1/plugins/chat/estimate"
CONFIG = "/api/v1/plugins/chat/config"

pytestmark = pytest.mark.django_db


def fund(user, amount: int) -> None:
    tokens_credit(user=user, amount=amount, description="Test tokens")


def usage_entries(user):
    return list(TokenTransaction.objects.filter(user=user, transaction_type="USAGE"))


# --- configuration and estimate ------------------------------------------------------------


def test_config_shows_model_length_and_counting_mode(chat, user_client):
    configure(max_message_length=500, counting_mode="data_volume")

    response = user_client.get(CONFIG)

    assert response.status_code == 200
    assert response.json() == {
        "model": "local-model",
        "max_message_length": 500,
        "counting_mode": "data_volume",
    }


@pytest.mark.parametrize(
    ("settings", "message", "expected"),
    [
        ({"counting_mode": "words", "words_per_token": 10}, "one two three", 1),
        ({"counting_mode": "words", "words_per_token": 10}, " ".join(["w"] * 21), 3),
        ({"counting_mode": "words", "words_per_token": 2}, "a b c d", 2),
        ({"counting_mode": "data_volume", "mb_per_token": 0.001}, "x" * 1048, 1),
        ({"counting_mode": "data_volume", "mb_per_token": 0.001}, "x" * 1049, 2),
        ({"counting_mode": "data_volume", "mb_per_token": 0.001}, "é" * 2000, 4),
        ({"counting_mode": "tokenizer", "tokens_per_token": 100}, "hi", 1),
        ({"counting_mode": "tokenizer", "tokens_per_token": 10}, "y" * 400, 10),
        ({"counting_mode": "tokenizer", "tokens_per_token": 10}, "y" * 401, 11),
        ({"counting_mode": "words", "words_per_token": 10}, "", 1),
    ],
)
def test_estimate_prices_a_message_in_each_counting_mode(
    chat, user_client, settings, message, expected
):
    configure(**settings)

    response = user_client.post(ESTIMATE, {"message": message}, format="json")

    assert response.status_code == 200
    assert response.json() == {"estimated_tokens": expected}


@pytest.mark.parametrize(
    ("body", "message"),
    [({}, "Missing 'message' field"), ({"message": 5}, "Message must be a string")],
)
def test_estimate_refuses_bad_input(chat, user_client, body, message):
    response = user_client.post(ESTIMATE, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert response.json()["code"] == "validation_error"


# --- send -----------------------------------------------------------------------------------


def test_send_bills_message_plus_reply_once_and_answers(chat, user, user_client):
    fund(user, 50)
    configure(counting_mode="words", words_per_token=2)
    chat.reply("one two three four five", prompt_tokens=31, completion_tokens=7)

    response = user_client.post(SEND, {"message": "a b c"}, format="json")

    # message: 3 words / 2 → 2; reply: 5 words / 2 → 3
    assert response.status_code == 200
    assert response.json() == {
        "response": "one two three four five",
        "tokens_used": 5,
        "balance": 45,
    }
    [entry] = usage_entries(user)
    assert entry.amount == -5
    assert entry.balance_after == 45
    assert entry.description == "Chat: 5 tokens (2 sent + 3 received)"
    assert entry.reference_type == "chat_exchange"
    exchange = ChatExchange.objects.get(user=user)
    assert str(exchange.pk) == entry.reference_id
    assert (exchange.status, exchange.message_tokens, exchange.reply_tokens) == (
        ChatExchangeStatus.COMPLETED,
        2,
        3,
    )
    assert (exchange.prompt_tokens, exchange.completion_tokens) == (31, 7)
    assert balance_of(user) == 45


@pytest.mark.parametrize(
    ("settings", "message", "reply", "sent", "received"),
    [
        ({"counting_mode": "words", "words_per_token": 10}, "w " * 25, "r " * 11, 3, 2),
        ({"counting_mode": "data_volume", "mb_per_token": 0.001}, "m" * 3000, "r" * 1049, 3, 2),
        ({"counting_mode": "tokenizer", "tokens_per_token": 5}, "t" * 41, "r" * 20, 3, 1),
    ],
)
def test_send_debits_exactly_in_each_counting_mode(
    chat, user, user_client, settings, message, reply, sent, received
):
    fund(user, 100)
    configure(**settings)
    chat.reply(reply)

    response = user_client.post(SEND, {"message": message}, format="json")

    assert response.status_code == 200
    assert response.json()["tokens_used"] == sent + received
    assert response.json()["balance"] == 100 - sent - received
    [entry] = usage_entries(user)
    assert entry.amount == -(sent + received)
    assert entry.description == (
        f"Chat: {sent + received} tokens ({sent} sent + {received} received)"
    )


def test_send_passes_system_prompt_trimmed_history_model_and_key(chat, user, user_client):
    fund(user, 50)
    configure(max_history_messages=2)
    history = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": "third"},
    ]

    response = user_client.post(SEND, {"message": "fourth", "history": history}, format="json")

    assert response.status_code == 200
    [request] = chat.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert request["body"]["model"] == "local-model"
    assert request["body"]["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": "third"},
        {"role": "user", "content": "fourth"},
    ]


def test_send_with_history_limit_zero_sends_no_history(chat, user, user_client):
    fund(user, 50)
    configure(max_history_messages=0)

    user_client.post(
        SEND, {"message": "now", "history": [{"role": "user", "content": "x"}]}, format="json"
    )

    assert [m["content"] for m in chat.requests[0]["body"]["messages"]] == [
        "Answer briefly.",
        "now",
    ]


@pytest.mark.parametrize("status", [429, 500])
def test_a_model_error_debits_nothing(chat, user, user_client, status):
    fund(user, 50)
    chat.fail(status)

    response = user_client.post(SEND, {"message": "hello"}, format="json")

    assert response.status_code == 502
    assert response.json() == {"error": "Chat service unavailable", "code": "provider_error"}
    assert len(chat.requests) == 1  # asked once: the client never retries on its own
    assert usage_entries(user) == []
    assert balance_of(user) == 50
    assert ChatExchange.objects.get(user=user).status == ChatExchangeStatus.FAILED


def test_a_model_timeout_debits_nothing(chat, user, user_client):
    fund(user, 50)
    configure(llm_timeout_seconds=0.3)
    chat.stall(1.5)

    response = user_client.post(SEND, {"message": "hello"}, format="json")

    assert response.status_code == 502
    assert response.json()["code"] == "provider_error"
    assert usage_entries(user) == []
    assert balance_of(user) == 50


def test_a_failed_request_retried_with_its_key_is_billed_once_when_it_succeeds(
    chat, user, user_client
):
    fund(user, 50)
    chat.fail(500)
    headers = {"HTTP_IDEMPOTENCY_KEY": "chat-retry-1"}

    first = user_client.post(SEND, {"message": "hello"}, format="json", **headers)
    second = user_client.post(SEND, {"message": "hello"}, format="json", **headers)
    third = user_client.post(SEND, {"message": "hello"}, format="json", **headers)

    assert first.status_code == 502
    assert second.status_code == 200
    assert third.status_code == 200
    assert third["Idempotent-Replayed"] == "true"
    assert third.json() == second.json()
    assert len(chat.requests) == 2
    [entry] = usage_entries(user)
    assert entry.idempotency_key == "chat:chat-retry-1"
    assert balance_of(user) == 50 - second.json()["tokens_used"]


def test_a_message_costing_more_than_the_balance_is_refused_before_the_model(
    chat, user, user_client
):
    fund(user, 2)
    configure(counting_mode="words", words_per_token=1)

    response = user_client.post(SEND, {"message": "one two three"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Insufficient token balance",
        "code": "insufficient_tokens",
    }
    assert chat.requests == []
    assert ChatExchange.objects.count() == 0


def test_a_user_without_a_balance_is_refused_before_the_model(chat, user_client):
    response = user_client.post(SEND, {"message": "hi"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "insufficient_tokens"
    assert chat.requests == []


def test_a_reply_costing_more_than_what_is_left_is_capped_at_the_balance(chat, user, user_client):
    fund(user, 3)
    configure(counting_mode="words", words_per_token=1)
    chat.reply("a b c d e")

    response = user_client.post(SEND, {"message": "x y"}, format="json")

    assert response.status_code == 200
    assert response.json()["tokens_used"] == 3
    assert response.json()["balance"] == 0
    [entry] = usage_entries(user)
    assert entry.amount == -3
    assert (
        entry.description == "Chat: 3 tokens (2 sent + 5 received), capped at the balance (7 due)"
    )


def test_send_without_an_endpoint_answers_503_and_calls_nothing(chat, user, user_client):
    fund(user, 50)
    configure(llm_api_endpoint=None)

    response = user_client.post(SEND, {"message": "hi"}, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "error": "LLM API endpoint is not configured",
        "code": "service_unavailable",
    }
    assert ChatExchange.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing 'message' field"),
        ({"message": ""}, "Message must be a non-empty string"),
        ({"message": "   "}, "Message must be a non-empty string"),
        ({"message": 12}, "Message must be a non-empty string"),
        ({"message": None}, "Message must be a non-empty string"),
        ({"message": "hi", "history": "no"}, "History must be an array"),
        ({"message": "hi", "history": None}, "History must be an array"),
        ({"message": "x" * 11}, "Message exceeds the maximum length of 10 characters"),
    ],
)
def test_send_refuses_bad_input(chat, user, user_client, body, message):
    fund(user, 50)
    configure(max_message_length=10)

    response = user_client.post(SEND, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert response.json()["code"] == "validation_error"
    assert chat.requests == []


def test_send_refuses_a_history_entry_with_an_unknown_role(chat, user, user_client):
    fund(user, 50)

    response = user_client.post(
        SEND, {"message": "hi", "history": [{"role": "system", "content": "x"}]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert chat.requests == []


def test_send_runs_a_bounded_number_of_queries(
    chat, user, user_client, django_assert_max_num_queries
):
    fund(user, 50)
    history = [{"role": "user", "content": f"m{index}"} for index in range(30)]

    with django_assert_max_num_queries(30):
        response = user_client.post(SEND, {"message": "hi", "history": history}, format="json")

    assert response.status_code == 200


# --- enabled state and secrets --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", CONFIG), ("post", ESTIMATE), ("post", SEND), ("get", "/api/v1/plugins/chat/nope")],
)
def test_a_disabled_chat_answers_404_before_authentication(chat, api_client, method, path):
    plugin_disable(name="chat")

    response = getattr(api_client, method)(path, {}, format="json")

    assert response.status_code == 404
    assert response.json() == {"error": "Plugin 'chat' is not enabled", "code": "not_found"}


def test_the_api_key_appears_in_no_answer_and_no_log_line(
    chat, user, user_client, admin_client, captured_logs
):
    fund(user, 50)
    chat.fail(429)
    chat.fail(500)
    answers = [
        user_client.post(SEND, {"message": "one"}, format="json"),
        user_client.post(SEND, {"message": "two"}, format="json"),
        user_client.post(SEND, {"message": "three"}, format="json"),
        user_client.get(CONFIG),
        admin_client.get("/api/v1/admin/plugins/chat"),
    ]

    assert [answer.status_code for answer in answers] == [502, 502, 200, 200, 200]
    assert chat.requests[-1]["headers"]["authorization"] == f"Bearer {API_KEY}"
    for answer in answers:
        assert API_KEY not in answer.content.decode()
    assert any("LLM endpoint answered HTTP 429" in line for line in captured_logs)
    assert any(line.startswith("openai") for line in captured_logs)  # the SDK's debug lines
    assert any(line.startswith("httpcore2") for line in captured_logs)
    assert not [line for line in captured_logs if API_KEY in line]


def test_the_back_office_screen_shows_settings_and_only_whether_the_key_is_set(chat, admin_client):
    response = admin_client.get("/api/v1/admin/plugins/chat")

    assert response.status_code == 200
    body = response.json()
    assert [tab["id"] for tab in body["adminConfig"]["tabs"]] == ["model", "billing"]
    key_field = body["adminConfig"]["tabs"][0]["fields"][1]
    assert key_field == {
        "key": "llm_api_key",
        "label": "LLM API key",
        "component": "input",
        "inputType": "password",
    }
    assert body["secretsSet"] == {"llm_api_key": True}
    assert "llm_api_key" not in body["savedConfig"]
    assert body["savedConfig"]["llm_api_endpoint"] == chat.url
    assert body["savedConfig"]["counting_mode"] == "words"
    assert body["configSchema"]["counting_mode"]["enum"] == ["words", "data_volume", "tokenizer"]

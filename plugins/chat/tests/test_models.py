"""The chat exchange's states move only through its verbs and the transitions they allow."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest

from plugins.chat.models import ChatExchange, ChatExchangeStatus
from vbwd.exceptions import InvalidTransition

NOW = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
USAGE = SimpleNamespace(prompt_tokens=12, completion_tokens=7)


def _exchange(status: str) -> ChatExchange:
    return ChatExchange(status=status, counting_mode="words", message_tokens=3, model="m")


def test_a_pending_exchange_completes_with_its_bill():
    exchange = _exchange(ChatExchangeStatus.PENDING)

    exchange.complete(reply="Hi", reply_tokens=1, tokens_charged=4, usage=USAGE, now=NOW)

    assert (exchange.status, exchange.reply, exchange.reply_tokens, exchange.tokens_charged) == (
        ChatExchangeStatus.COMPLETED, "Hi", 1, 4,
    )  # fmt: skip
    assert (exchange.prompt_tokens, exchange.completion_tokens, exchange.finished_at) == (
        12, 7, NOW,
    )  # fmt: skip


def test_a_failed_exchange_is_claimed_again_by_its_retry():
    exchange = _exchange(ChatExchangeStatus.FAILED)
    exchange.finished_at = NOW

    exchange.reclaim(counting_mode="data_volume", message_tokens=5, model="n", now=NOW)

    assert (exchange.status, exchange.counting_mode, exchange.message_tokens) == (
        ChatExchangeStatus.PENDING, "data_volume", 5,
    )  # fmt: skip
    assert (exchange.model, exchange.created_at, exchange.finished_at) == ("n", NOW, None)


@pytest.mark.parametrize(
    ("status", "verb"),
    [
        (ChatExchangeStatus.COMPLETED, "reclaim"),
        (ChatExchangeStatus.COMPLETED, "complete"),
        (ChatExchangeStatus.FAILED, "complete"),
    ],
)
def test_a_transition_the_table_does_not_list_is_refused(status, verb):
    exchange = _exchange(status)
    arguments = {
        "reclaim": {"counting_mode": "words", "message_tokens": 1, "model": "m", "now": NOW},
        "complete": {"reply": "x", "reply_tokens": 1, "tokens_charged": 1, "usage": USAGE,
                     "now": NOW},
    }[verb]  # fmt: skip

    with pytest.raises(InvalidTransition, match=f"Chat exchange cannot move from {status} to"):
        getattr(exchange, verb)(**arguments)

    assert exchange.status == status

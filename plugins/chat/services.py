"""Chat use cases: the price of a text, an estimate, and sending a message to the model.

Sending follows claim → commit → call → record. The claim (a PENDING ``ChatExchange``) is
written with the caller's balance row locked and holds the message's cost while the model
answers, so concurrent messages cannot together spend more than the balance; the model is
called with no transaction open; one USAGE ledger entry then takes the message cost plus the
reply cost. A failed call marks the claim FAILED and takes nothing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from plugins import state
from plugins.chat.models import ChatExchange, ChatExchangeStatus
from plugins.llm import llm_complete, llm_config
from tokens.models import TokenBalance
from tokens.services import InsufficientTokens, tokens_debit
from vbwd.exceptions import ServiceUnavailable, ValidationFailed

logger = logging.getLogger(__name__)

PLUGIN = "chat"
PROVIDER_ERROR_MESSAGE = "Chat service unavailable"
# A PENDING claim older than this belonged to a request that died before recording its
# outcome; it no longer holds tokens (model calls time out long before).
CLAIM_HOLD = timedelta(minutes=10)
BYTES_PER_MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class Pricing:
    """How texts are priced: the counting mode and its divisor."""

    mode: str
    words_per_token: Decimal
    mb_per_token: Decimal
    tokens_per_token: Decimal

    def cost(self, text: str) -> int:
        """Whole tokens a text costs, rounded up, at least 1."""
        if self.mode == "data_volume":
            megabytes = Decimal(len(text.encode("utf-8"))) / BYTES_PER_MEGABYTE
            units = megabytes / self.mb_per_token
        elif self.mode == "tokenizer":
            # About four characters a model token: the usual estimate for English text with
            # the tokenizers of OpenAI-compatible models.
            units = max(Decimal(1), Decimal(len(text)) / 4) / self.tokens_per_token
        else:
            units = Decimal(len(text.split())) / self.words_per_token
        return max(1, math.ceil(units))


@dataclass(frozen=True)
class ChatReply:
    response: str
    tokens_used: int
    balance: int


def _divisor(key: str) -> Decimal:
    raw = state.config_value(PLUGIN, key)
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        value = Decimal(0)
    if not value.is_finite() or value <= 0:
        raise ServiceUnavailable(f"Chat billing is misconfigured: {key} must be above zero")
    return value


def chat_pricing() -> Pricing:
    mode = state.config_value(PLUGIN, "counting_mode") or "words"
    return Pricing(
        mode=mode,
        words_per_token=_divisor("words_per_token") if mode == "words" else Decimal(1),
        mb_per_token=_divisor("mb_per_token") if mode == "data_volume" else Decimal(1),
        tokens_per_token=_divisor("tokens_per_token") if mode == "tokenizer" else Decimal(1),
    )


def chat_public_config() -> dict:
    """What the user app needs to know: model, longest message, counting mode."""
    return {
        "model": state.config_value(PLUGIN, "llm_model"),
        "max_message_length": int(state.config_value(PLUGIN, "max_message_length")),
        "counting_mode": state.config_value(PLUGIN, "counting_mode"),
    }


def chat_estimate(*, message: str) -> int:
    """The token cost of sending ``message`` (its reply is billed on top)."""
    return chat_pricing().cost(message)


def _balance_locked(user) -> int:
    row = TokenBalance.objects.select_for_update().filter(user_id=user.pk).first()
    return row.balance if row is not None else 0


def _claim(*, user, cost: int, request_key: str | None, mode: str, model: str) -> ChatExchange:
    """Writes (or, for a retried request, takes back) the PENDING claim holding ``cost``;
    InsufficientTokens when the balance minus what other claims hold cannot cover it."""
    now = timezone.now()
    with transaction.atomic():
        balance = _balance_locked(user)
        exchange = None
        if request_key is not None:
            exchange = (
                ChatExchange.objects.select_for_update()
                .filter(user=user, request_key=request_key)
                .first()
            )
            if exchange is not None and exchange.status == ChatExchangeStatus.COMPLETED:
                return exchange
        held = (
            ChatExchange.objects.filter(
                user=user, status=ChatExchangeStatus.PENDING, created_at__gte=now - CLAIM_HOLD
            )
            .exclude(pk=exchange.pk if exchange is not None else None)
            .aggregate(total=Sum("message_tokens"))["total"]
            or 0
        )
        if balance - held < cost:
            raise InsufficientTokens()
        if exchange is None:
            return ChatExchange.objects.create(
                user=user,
                request_key=request_key,
                counting_mode=mode,
                message_tokens=cost,
                model=model,
            )
        exchange.reclaim(counting_mode=mode, message_tokens=cost, model=model, now=now)
        exchange.save()
        return exchange


def _fail(exchange: ChatExchange) -> None:
    with transaction.atomic():
        ChatExchange.objects.filter(pk=exchange.pk, status=ChatExchangeStatus.PENDING).update(
            status=ChatExchangeStatus.FAILED, finished_at=timezone.now()
        )


def _ledger_key(exchange: ChatExchange) -> str:
    if exchange.request_key is not None:
        return f"chat:{exchange.request_key}"
    return f"chat:{exchange.pk}"


def _bill(*, user, exchange: ChatExchange, pricing: Pricing, completion) -> ChatReply:
    """One USAGE entry of message + reply cost, capped at the balance; the claim COMPLETED."""
    with transaction.atomic():
        available = _balance_locked(user)
        exchange = ChatExchange.objects.select_for_update().get(pk=exchange.pk)
        if exchange.status == ChatExchangeStatus.COMPLETED:
            return ChatReply(exchange.reply, exchange.tokens_charged, available)
        sent = exchange.message_tokens
        received = pricing.cost(completion.text)
        total = sent + received
        charged = min(total, available)
        balance = available
        if charged > 0:
            description = f"Chat: {charged} tokens ({sent} sent + {received} received)"
            if charged < total:
                description += f", capped at the balance ({total} due)"
            entry = tokens_debit(
                user=user,
                amount=charged,
                description=description,
                reference_type="chat_exchange",
                reference_id=exchange.pk,
                idempotency_key=_ledger_key(exchange),
            )
            charged = -entry.transaction.amount
            balance = entry.balance
        if charged < total:
            logger.warning(
                "Chat exchange %s: %s of %s tokens billed, the balance ran out meanwhile",
                exchange.pk,
                charged,
                total,
            )
        exchange.complete(
            reply=completion.text,
            reply_tokens=received,
            tokens_charged=charged,
            usage=completion,
            now=timezone.now(),
        )
        exchange.save()
    return ChatReply(completion.text, charged, balance)


def chat_send(
    *, user, message: str, history: list[dict[str, str]], request_key: str | None = None
) -> ChatReply:
    """Sends ``message`` with the latest ``history`` to the model and bills message + reply
    once; refuses before calling when the balance cannot cover the message; a failed call
    bills nothing; a retry with the same request key is billed once."""
    limit = int(state.config_value(PLUGIN, "max_message_length"))
    if len(message) > limit:
        raise ValidationFailed(
            f"Message exceeds the maximum length of {limit} characters", field="message"
        )
    config = llm_config(PLUGIN)
    pricing = chat_pricing()
    exchange = _claim(
        user=user,
        cost=pricing.cost(message),
        request_key=request_key,
        mode=pricing.mode,
        model=config.model,
    )
    if exchange.status == ChatExchangeStatus.COMPLETED:
        # Billed by an earlier run of this request: the same answer, no second bill.
        balance = TokenBalance.objects.filter(user_id=user.pk).values_list("balance", flat=True)
        return ChatReply(exchange.reply, exchange.tokens_charged, balance.first() or 0)
    keep = int(state.config_value(PLUGIN, "max_history_messages"))
    recent = history[-keep:] if keep > 0 else []
    system_prompt = state.config_value(PLUGIN, "system_prompt") or ""
    messages = [
        *([{"role": "system", "content": system_prompt}] if system_prompt else []),
        *({"role": item["role"], "content": item["content"]} for item in recent),
        {"role": "user", "content": message},
    ]
    try:
        completion = llm_complete(
            config=config, messages=messages, error_message=PROVIDER_ERROR_MESSAGE
        )
    except BaseException:
        # A failed call (or this worker stopping) bills nothing and frees the held cost.
        _fail(exchange)
        raise
    return _bill(user=user, exchange=exchange, pricing=pricing, completion=completion)

"""Taro use cases: limits, creating a session, follow-up questions, expiry and staff resets.

Creating a session calls no model: one transaction locks the caller's balance row, checks the
daily limit and the balance, closes the caller's earlier ACTIVE session, lays three cards and
debits ``session_cost`` (keyed on the request's Idempotency-Key).

A follow-up calls the model and follows claim → commit → call → record. The claim (a PENDING
``TaroFollowUp``, with its cards drawn but not yet on the table) is written with the balance row
and the session locked; it holds the follow-up cost, so concurrent questions cannot together
spend more than the balance or ask more than the session allows. The model is called with no
transaction open; one USAGE entry then takes the cost and the cards are laid. A failed call
marks the claim FAILED and takes nothing.
"""

from __future__ import annotations

import datetime
import logging
import math
import random
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from audit.services import audit_record
from billing.subscriptions.selectors import subscriptions_valid
from plugins import state
from plugins.llm import llm_complete, llm_config
from plugins.services import plugin_configure
from plugins.taro import selectors
from plugins.taro.models import (
    Arcana,
    FollowUpStatus,
    FollowUpType,
    Orientation,
    Position,
    TaroCard,
    TaroFollowUp,
    TaroSession,
    TaroSessionStatus,
)
from tokens.models import TokenBalance
from tokens.services import InsufficientTokens, tokens_debit
from vbwd.exceptions import (
    BusinessRuleError,
    DomainError,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)

logger = logging.getLogger(__name__)

PLUGIN = "taro"
PROVIDER_ERROR_MESSAGE = "Taro reading service unavailable"
# A PENDING claim older than this belonged to a request that died before recording its outcome;
# it no longer holds tokens or a follow-up place (model calls time out long before).
CLAIM_HOLD = datetime.timedelta(minutes=10)
EXPIRY_WARNING = datetime.timedelta(minutes=5)
SPREAD_POSITIONS = (Position.PAST, Position.PRESENT, Position.FUTURE)
PROMPT_KEYS = {"reading": "reading_prompt", "follow_up": "follow_up_prompt"}
MAX_PROMPT_LENGTH = 4000
EXPIRY_BATCH = 500

_random = random.SystemRandom()


class DailyLimitReached(DomainError):
    status_code = 429
    code = "daily_limit_reached"


class LimitReached(BusinessRuleError):
    code = "limit_reached"


# --- limits -------------------------------------------------------------------------------


def _config_int(key: str) -> int:
    value = state.config_value(PLUGIN, key)
    return max(0, int(value)) if value is not None else 0


def _plan_feature(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return max(0, value)


@dataclass(frozen=True)
class Limits:
    daily_total: int
    daily_used: int
    max_follow_ups: int
    plan_name: str | None

    @property
    def daily_remaining(self) -> int:
        return max(0, self.daily_total - self.daily_used)


def taro_limits(user, *, now: datetime.datetime | None = None) -> Limits:
    """The caller's daily session limit and follow-ups per session: the largest
    ``daily_taro_limit`` / ``max_taro_follow_ups`` among the plans of the caller's valid
    subscriptions, else the plugin's defaults; with the sessions used this UTC day."""
    now = now or timezone.now()
    daily, follow_ups, plan_name = None, None, None
    for subscription in subscriptions_valid(user, now=now).select_related("plan"):
        features = (
            subscription.plan.features if isinstance(subscription.plan.features, dict) else {}
        )
        limit = _plan_feature(features.get("daily_taro_limit"))
        if limit is not None and (daily is None or limit > daily):
            daily, plan_name = limit, subscription.plan.name
        most = _plan_feature(features.get("max_taro_follow_ups"))
        if most is not None and (follow_ups is None or most > follow_ups):
            follow_ups = most
        if plan_name is None and subscription.plan.name:
            plan_name = subscription.plan.name
    return Limits(
        daily_total=daily if daily is not None else _config_int("default_daily_limit"),
        daily_used=selectors.sessions_counted_today(user, now=now),
        max_follow_ups=(
            follow_ups if follow_ups is not None else _config_int("default_max_follow_ups")
        ),
        plan_name=plan_name,
    )


def seconds_to_utc_midnight(now: datetime.datetime) -> int:
    tomorrow = selectors.utc_day_start(now) + datetime.timedelta(days=1)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


def _balance_locked(user) -> int:
    row = TokenBalance.objects.select_for_update().filter(user_id=user.pk).first()
    return row.balance if row is not None else 0


def _held(user, *, now, exclude=None) -> int:
    """Tokens the user's fresh PENDING follow-ups hold while the model answers them."""
    pending = TaroFollowUp.objects.filter(
        user=user, status=FollowUpStatus.PENDING, requested_at__gte=now - CLAIM_HOLD
    )
    if exclude is not None:
        pending = pending.exclude(pk=exclude)
    return pending.aggregate(total=Sum("cost"))["total"] or 0


@dataclass(frozen=True)
class LimitsView:
    limits: Limits
    session_cost: int
    follow_up_cost: int
    balance: int
    warning_session: TaroSession | None
    expires_in_seconds: int | None


def taro_limits_overview(user) -> LimitsView:
    """The caller's limits, costs, balance and whether their ACTIVE session ends soon."""
    now = timezone.now()
    limits = taro_limits(user, now=now)
    balance = TokenBalance.objects.filter(user_id=user.pk).values_list("balance", flat=True)
    active = selectors.active_session(user)
    warning, expires_in = None, None
    if active is not None and now < active.expires_at <= now + EXPIRY_WARNING:
        warning = active
        expires_in = max(0, math.ceil((active.expires_at - now).total_seconds()))
    return LimitsView(
        limits=limits,
        session_cost=_config_int("session_cost"),
        follow_up_cost=_config_int("follow_up_cost"),
        balance=balance.first() or 0,
        warning_session=warning,
        expires_in_seconds=expires_in,
    )


# --- cards ------------------------------------------------------------------------------------


def _draw(count: int, *, exclude: set[int]) -> list[tuple[int, str]]:
    """``count`` distinct deck ids not in ``exclude``, each with a random orientation."""
    deck = [pk for pk in Arcana.objects.values_list("pk", flat=True) if pk not in exclude]
    if len(deck) < count:
        raise BusinessRuleError("No cards are left in the deck for this session")
    chosen = _random.sample(deck, count)
    return [(pk, _random.choice((Orientation.UPRIGHT, Orientation.REVERSED))) for pk in chosen]


def _lay(*, session, follow_up, positions, exclude: set[int], on_table: bool, spread_id):
    drawn = _draw(len(positions), exclude=exclude)
    meanings = Arcana.objects.in_bulk([pk for pk, _ in drawn])
    start = session.cards.count()
    return TaroCard.objects.bulk_create(
        TaroCard(
            session=session,
            follow_up=follow_up,
            arcana_id=pk,
            spread_id=spread_id,
            position=position,
            orientation=orientation,
            interpretation=meanings[pk].meaning(orientation),
            on_table=on_table,
            sequence=start + index,
        )
        for index, (position, (pk, orientation)) in enumerate(zip(positions, drawn, strict=True))
    )


# --- sessions ---------------------------------------------------------------------------------


def _ledger_key(kind: str, request_key: str | None, pk) -> str:
    return f"taro:{kind}:{request_key}" if request_key is not None else f"taro:{kind}:{pk}"


def _audit_session(session: TaroSession, action: str, summary: str, *, actor=None, before=None):
    audit_record(
        action=f"taro_session.{action}",
        object_type="taro_session",
        object_id=session.pk,
        subject_user_id=session.user_id,
        summary=summary,
        actor=actor,
        before=before,
        after={"status": session.status},
    )


def taro_session_create(*, user, request_key: str | None = None) -> TaroSession:
    """Opens a session with three distinct cards and debits ``session_cost`` once (a retried
    request returns the same session); closes the caller's earlier ACTIVE session. Refused
    over the daily limit (429) or when the balance cannot cover the cost."""
    now = timezone.now()
    cost = _config_int("session_cost")
    with transaction.atomic():
        balance = _balance_locked(user)
        if request_key is not None:
            earlier = TaroSession.objects.filter(user=user, request_key=request_key).first()
            if earlier is not None:
                return earlier
        limits = taro_limits(user, now=now)
        if limits.daily_used >= limits.daily_total:
            raise DailyLimitReached(
                f"Daily limit reached. You can create {limits.daily_total} sessions per day.",
                headers={"Retry-After": str(seconds_to_utc_midnight(now))},
            )
        if balance - _held(user, now=now) < cost:
            raise InsufficientTokens(
                f"Insufficient tokens. You need at least {cost} tokens to create a reading."
            )
        for earlier in TaroSession.objects.select_for_update().filter(
            user=user, status=TaroSessionStatus.ACTIVE
        ):
            earlier.close(now=now)
            earlier.save(update_fields=["status", "ended_at"])
            _audit_session(
                earlier, "closed", "Taro session closed by a newer session",
                before={"status": TaroSessionStatus.ACTIVE},
            )  # fmt: skip
        session = TaroSession.objects.create(
            user=user,
            request_key=request_key,
            created_at=now,
            expires_at=now + datetime.timedelta(minutes=_config_int("session_minutes")),
            max_follow_ups=limits.max_follow_ups,
            tokens_consumed=cost,
        )
        _lay(
            session=session,
            follow_up=None,
            positions=SPREAD_POSITIONS,
            exclude=set(),
            on_table=True,
            spread_id=session.spread_id,
        )
        if cost > 0:
            tokens_debit(
                user=user,
                amount=cost,
                description=f"Taro: reading ({cost} tokens)",
                reference_type="taro_session",
                reference_id=session.pk,
                idempotency_key=_ledger_key("session", request_key, session.pk),
            )
        _audit_session(session, "created", f"Taro session created ({cost} tokens)")
    return session


def taro_sessions_expire(*, now: datetime.datetime | None = None, batch: int = EXPIRY_BATCH) -> int:
    """Marks ACTIVE sessions whose time has run out EXPIRED, in batches; safe on several
    workers at once (rows claimed with SKIP LOCKED). Does nothing while the plugin is disabled."""
    if not state.is_enabled(PLUGIN):
        return 0
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            due = list(
                TaroSession.objects.select_for_update(skip_locked=True)
                .filter(status=TaroSessionStatus.ACTIVE, expires_at__lte=now)
                .order_by("expires_at")[:batch]
            )
            for session in due:
                session.expire(now=now)
                session.save(update_fields=["status", "ended_at"])
                _audit_session(
                    session, "expired", "Taro session expired",
                    before={"status": TaroSessionStatus.ACTIVE},
                )  # fmt: skip
        total += len(due)
        if len(due) < batch:
            return total


def taro_user_sessions_reset(*, user, actor) -> int:
    """Staff: closes the user's ACTIVE sessions and lets today's sessions no longer count
    towards the daily limit; returns how many sessions were closed."""
    now = timezone.now()
    with transaction.atomic():
        closed = 0
        for session in TaroSession.objects.select_for_update().filter(
            user=user, status=TaroSessionStatus.ACTIVE
        ):
            session.close(now=now)
            session.save(update_fields=["status", "ended_at"])
            _audit_session(
                session, "closed", "Taro session closed by staff", actor=actor,
                before={"status": TaroSessionStatus.ACTIVE},
            )  # fmt: skip
            closed += 1
        counted = TaroSession.objects.filter(
            user=user, created_at__gte=selectors.utc_day_start(now), counts_toward_limit=True
        ).update(counts_toward_limit=False)
        audit_record(
            action="taro.sessions_reset",
            object_type="user",
            object_id=user.pk,
            subject_user_id=user.pk,
            summary=f"Taro sessions reset: {closed} closed, today's count of {counted} cleared",
            actor=actor,
            after={"closed": closed, "daily_count_cleared": counted},
        )
    return closed


# --- follow-ups -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpResult:
    follow_up: TaroFollowUp
    cards_added: list[TaroCard]


def _check_open(session: TaroSession, now) -> None:
    if session.status == TaroSessionStatus.CLOSED:
        raise InvalidTransition("Session is closed")
    if session.status == TaroSessionStatus.EXPIRED or session.expires_at <= now:
        raise InvalidTransition("Session has expired")


def _claim(*, user, session_id, question, follow_up_type, request_key, cost) -> TaroFollowUp:
    now = timezone.now()
    with transaction.atomic():
        balance = _balance_locked(user)
        session = TaroSession.objects.select_for_update().filter(user=user, pk=session_id).first()
        if session is None:
            raise NotFound("Session not found")
        follow_up = None
        if request_key is not None:
            follow_up = (
                TaroFollowUp.objects.select_for_update()
                .filter(user=user, request_key=request_key)
                .first()
            )
            if follow_up is not None and follow_up.status == FollowUpStatus.COMPLETED:
                return follow_up
        _check_open(session, now)
        exclude = follow_up.pk if follow_up is not None else None
        pending = (
            TaroFollowUp.objects.filter(
                session=session, status=FollowUpStatus.PENDING, requested_at__gte=now - CLAIM_HOLD
            )
            .exclude(pk=exclude)
            .count()
        )
        if session.follow_up_count + pending >= session.max_follow_ups:
            raise LimitReached(
                f"Maximum follow-ups ({session.max_follow_ups}) reached for this session"
            )
        if balance - _held(user, now=now, exclude=exclude) < cost:
            raise InsufficientTokens(
                f"Insufficient tokens. You need at least {cost} tokens for a follow-up"
            )
        if follow_up is None:
            follow_up = TaroFollowUp.objects.create(
                session=session,
                user=user,
                request_key=request_key,
                follow_up_type=follow_up_type,
                question=question,
                cost=cost,
                requested_at=now,
            )
        else:
            follow_up.reclaim(cost=cost, now=now)
            follow_up.save()
            # Drawn again: the table may have changed since the first try drew these.
            follow_up.cards.all().delete()
        _draw_for(session, follow_up)
    return follow_up


def _draw_for(session: TaroSession, follow_up: TaroFollowUp) -> None:
    if follow_up.follow_up_type == FollowUpType.ADDITIONAL:
        # Distinct from the cards on the table and from those other pending questions drew.
        taken = set(
            TaroCard.objects.filter(session=session, on_table=True).values_list(
                "arcana_id", flat=True
            )
        ) | set(
            TaroCard.objects.filter(
                session=session, follow_up__status=FollowUpStatus.PENDING
            ).values_list("arcana_id", flat=True)
        )
        _lay(
            session=session, follow_up=follow_up, positions=(Position.ADDITIONAL,),
            exclude=taken, on_table=False, spread_id=session.spread_id,
        )  # fmt: skip
    elif follow_up.follow_up_type == FollowUpType.NEW_SPREAD:
        follow_up.new_spread_id = follow_up.new_spread_id or uuid.uuid4()
        follow_up.save(update_fields=["new_spread_id"])
        _lay(
            session=session, follow_up=follow_up, positions=SPREAD_POSITIONS, exclude=set(),
            on_table=False, spread_id=follow_up.new_spread_id,
        )  # fmt: skip


def _describe(cards) -> str:
    return "\n".join(
        f"- {card.position.title()}: {card.arcana.name} "
        f"({card.orientation.lower()}) — {card.arcana.meaning(card.orientation)}"
        for card in cards
    )


def _messages(follow_up: TaroFollowUp) -> list[dict[str, str]]:
    session = follow_up.session
    drawn = list(follow_up.cards.select_related("arcana").order_by("sequence"))
    if follow_up.follow_up_type == FollowUpType.NEW_SPREAD:
        prompt_key, cards = "reading_prompt", drawn
    else:
        table = list(
            TaroCard.objects.filter(session=session, on_table=True)
            .select_related("arcana")
            .order_by("sequence")
        )
        prompt_key, cards = "follow_up_prompt", table + drawn
    system_prompt = state.config_value(PLUGIN, prompt_key) or ""
    content = f"The cards on the table:\n{_describe(cards)}\n\nQuestion: {follow_up.question}"
    return [
        *([{"role": "system", "content": system_prompt}] if system_prompt else []),
        {"role": "user", "content": content},
    ]


def _fail(follow_up: TaroFollowUp) -> None:
    with transaction.atomic():
        row = TaroFollowUp.objects.select_for_update().filter(pk=follow_up.pk).first()
        if row is not None and row.status == FollowUpStatus.PENDING:
            row.fail(now=timezone.now())
            row.save(update_fields=["status", "finished_at"])


def _record(*, user, follow_up: TaroFollowUp, answer: str) -> TaroFollowUp:
    """One USAGE entry of the cost (capped at the balance), the cards laid, the claim done."""
    now = timezone.now()
    with transaction.atomic():
        available = _balance_locked(user)
        session = TaroSession.objects.select_for_update().get(pk=follow_up.session_id)
        follow_up = TaroFollowUp.objects.select_for_update().get(pk=follow_up.pk)
        if follow_up.status == FollowUpStatus.COMPLETED:
            return follow_up
        charged = min(follow_up.cost, available)
        if charged > 0:
            description = f"Taro: follow-up ({charged} tokens)"
            if charged < follow_up.cost:
                description += f", capped at the balance ({follow_up.cost} due)"
            entry = tokens_debit(
                user=user,
                amount=charged,
                description=description,
                reference_type="taro_follow_up",
                reference_id=follow_up.pk,
                idempotency_key=_ledger_key("follow-up", follow_up.request_key, follow_up.pk),
            )
            charged = -entry.transaction.amount
        if charged < follow_up.cost:
            logger.warning(
                "Taro follow-up %s: %s of %s tokens billed, the balance ran out meanwhile",
                follow_up.pk,
                charged,
                follow_up.cost,
            )
        if follow_up.follow_up_type == FollowUpType.NEW_SPREAD:
            session.cards.filter(on_table=True).update(on_table=False)
            session.spread_id = follow_up.new_spread_id
        follow_up.cards.update(on_table=True)
        session.follow_up_count += 1
        session.tokens_consumed += charged
        session.save(update_fields=["spread_id", "follow_up_count", "tokens_consumed"])
        follow_up.complete(answer=answer, tokens_charged=charged, now=now)
        follow_up.save()
    return follow_up


def taro_follow_up(
    *, user, session_id, question: str, follow_up_type: str, request_key: str | None = None
) -> FollowUpResult:
    """Answers a question about the session's cards with the model and debits
    ``follow_up_cost`` once; refuses before calling when the session is not open, its
    follow-ups are used up or the balance cannot cover the cost; a failed call bills nothing."""
    selectors.session_of_user_or_404(user, session_id)  # another user's: 404 before all else
    config = llm_config(PLUGIN)
    follow_up = _claim(
        user=user,
        session_id=session_id,
        question=question,
        follow_up_type=follow_up_type,
        request_key=request_key,
        cost=_config_int("follow_up_cost"),
    )
    if follow_up.status != FollowUpStatus.COMPLETED:
        messages = _messages(follow_up)
        try:
            completion = llm_complete(
                config=config, messages=messages, error_message=PROVIDER_ERROR_MESSAGE
            )
        except BaseException:
            # A failed call (or this worker stopping) bills nothing and frees the held cost.
            _fail(follow_up)
            raise
        follow_up = _record(user=user, follow_up=follow_up, answer=completion.text)
    cards = list(follow_up.cards.select_related("arcana").order_by("sequence"))
    return FollowUpResult(follow_up=follow_up, cards_added=cards)


# --- prompts ----------------------------------------------------------------------------------


def taro_prompts() -> dict[str, str]:
    """The system prompts of readings (new spreads) and of follow-up questions."""
    return {name: state.config_value(PLUGIN, key) or "" for name, key in PROMPT_KEYS.items()}


def taro_prompts_update(*, prompts: dict[str, str], actor) -> dict[str, str]:
    """Staff: replaces the prompts given (each a non-blank text); audited with the plugin's
    configuration."""
    unknown = sorted(set(prompts) - set(PROMPT_KEYS))
    if unknown:
        raise ValidationFailed(f"Unknown prompt: {unknown[0]}", field="prompts")
    if not prompts:
        raise ValidationFailed("At least one prompt is required", field="prompts")
    values = {}
    for name, text in prompts.items():
        if not isinstance(text, str) or not text.strip():
            raise ValidationFailed(f"Prompt '{name}' must be a non-empty string", field=name)
        if len(text) > MAX_PROMPT_LENGTH:
            raise ValidationFailed(
                f"Prompt '{name}' exceeds the maximum length of {MAX_PROMPT_LENGTH} characters",
                field=name,
            )
        values[PROMPT_KEYS[name]] = text
    plugin_configure(name=PLUGIN, values=values, actor=actor)
    state.forget()
    return taro_prompts()

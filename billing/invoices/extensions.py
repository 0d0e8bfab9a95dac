"""Questions through which apps above invoices take part in refunds and invoice screens, since
invoices may not import them. The tokens app answers the ledger question and subscriptions the
subscription facts, each in its ``AppConfig.ready()`` (``vbwd.extensions.Question``); without
them an invoice grants no tokens, a refund claws none back and no subscription facts are shown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from vbwd.extensions import Question


@runtime_checkable
class TokenLedger(Protocol):
    """The token ledger as a refund sees it."""

    #: ``(user, keys) -> int``: tokens credited by ledger entries with these idempotency keys
    granted: Callable[[Any, list[str]], int]
    #: ``(user) -> int``: the current balance (read inside the caller's transaction)
    balance: Callable[[Any], int]
    #: ``(*, user, amount, description, reference_id, key) -> int``: takes up to ``amount``
    #: (what the balance allows, locked) as a REFUND entry; returns the tokens taken
    claw_back: Callable[..., int]
    #: ``(*, user, amount, description, reference_id, key) -> None``: gives tokens back (REFUND)
    recredit: Callable[..., None]


@dataclass(frozen=True)
class TokenLedgerHooks:
    """A :class:`TokenLedger` made of four functions."""

    granted: Callable[[Any, list[str]], int]
    balance: Callable[[Any], int]
    claw_back: Callable[..., int]
    recredit: Callable[..., None]


@runtime_checkable
class SubscriptionFacts(Protocol):
    """``{id: {"status", "start_date", "end_date", "is_trial", "trial_end"}}`` of the
    subscriptions, in one query for any number of ids."""

    def __call__(self, subscription_ids: list, /) -> dict: ...


#: Answered by tokens.
TOKEN_LEDGER: Question[TokenLedger] = Question("invoices.token_ledger", TokenLedger, fallback=None)
#: Answered by subscriptions.
SUBSCRIPTION_FACTS: Question[SubscriptionFacts] = Question(
    "invoices.subscription_facts", SubscriptionFacts, fallback=None
)


def token_ledger() -> TokenLedger | None:
    return TOKEN_LEDGER.answer()


def subscription_facts(subscription_ids: list) -> dict:
    ids = [pk for pk in subscription_ids if pk is not None]
    provider = SUBSCRIPTION_FACTS.answer()
    if not ids or provider is None:
        return {}
    return provider(ids)

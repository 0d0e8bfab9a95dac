"""Hooks through which apps above invoices take part in refunds (ARCHITECTURE: invoices may not
import tokens). The tokens app registers the ledger in its ``AppConfig.ready()``; without it an
invoice grants no tokens and a refund claws none back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenLedgerHooks:
    #: ``(user, keys) -> int``: tokens credited by ledger entries with these idempotency keys
    granted: Callable[[Any, list[str]], int]
    #: ``(user) -> int``: the current balance (read inside the caller's transaction)
    balance: Callable[[Any], int]
    #: ``(*, user, amount, description, reference_id, key) -> int``: takes up to ``amount``
    #: (what the balance allows, locked) as a REFUND entry; returns the tokens taken
    claw_back: Callable[..., int]
    #: ``(*, user, amount, description, reference_id, key) -> None``: gives tokens back (REFUND)
    recredit: Callable[..., None]


_token_ledger: TokenLedgerHooks | None = None


def register_token_ledger(hooks: TokenLedgerHooks | None) -> None:
    global _token_ledger
    _token_ledger = hooks


def token_ledger() -> TokenLedgerHooks | None:
    return _token_ledger


# --- subscription facts for invoice screens -------------------------------------------------

#: ``(subscription_ids) -> {id: {"status", "start_date", "end_date", "is_trial", "trial_end"}}``,
#: registered by the subscriptions app; one query for any number of ids.
SubscriptionFacts = Callable[[list], dict]
_subscription_facts: SubscriptionFacts | None = None


def register_subscription_facts(provider: SubscriptionFacts | None) -> None:
    global _subscription_facts
    _subscription_facts = provider


def subscription_facts(subscription_ids: list) -> dict:
    ids = [pk for pk in subscription_ids if pk is not None]
    if not ids or _subscription_facts is None:
        return {}
    return _subscription_facts(ids)

"""Hooks through which higher apps (subscriptions, invoices, tokens) take part in account views and
account deletion, since accounts may not import them (ARCHITECTURE.md, dependency direction).

Each app registers its provider in its ``AppConfig.ready()``. With nothing registered an account
has no financial records, no subscription and no token balance to set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from django.dispatch import Signal


@dataclass(frozen=True)
class FinancialRecords:
    """What a user has that must be kept when the account is deleted (counts)."""

    invoice_count: int = 0
    subscription_count: int = 0
    payment_count: int = 0
    credit_note_count: int = 0
    token_transaction_count: int = 0

    @property
    def has_any(self) -> bool:
        """Invoices, payments, credit notes or ledger entries force anonymisation (API.md §12)."""
        return bool(
            self.invoice_count
            or self.payment_count
            or self.credit_note_count
            or self.token_transaction_count
        )

    def __add__(self, other: FinancialRecords) -> FinancialRecords:
        return FinancialRecords(
            **{
                field.name: getattr(self, field.name) + getattr(other, field.name)
                for field in fields(self)
            }
        )


@dataclass(frozen=True)
class SubscriptionSummary:
    """The user's primary current subscription, as shown on staff user screens."""

    id: Any
    plan: str
    plan_id: Any
    status: str
    expires_at: Any


FinancialCounter = Callable[[Any], FinancialRecords]
SubscriptionSummaries = Callable[[Iterable[Any]], dict[Any, SubscriptionSummary]]
PaidInvoiceCounter = Callable[[Any], int]
TokenBalanceSetter = Callable[..., Any]

_financial_counters: list[FinancialCounter] = []
_subscription_summaries: SubscriptionSummaries | None = None
_paid_invoice_counter: PaidInvoiceCounter | None = None
_token_balance_setter: TokenBalanceSetter | None = None


def register_financial_counter(counter: FinancialCounter) -> None:
    if counter not in _financial_counters:
        _financial_counters.append(counter)


def unregister_financial_counter(counter: FinancialCounter) -> None:
    if counter in _financial_counters:
        _financial_counters.remove(counter)


def financial_records_of(user) -> FinancialRecords:
    total = FinancialRecords()
    for counter in _financial_counters:
        total = total + counter(user)
    return total


def register_subscription_summaries(provider: SubscriptionSummaries | None) -> None:
    global _subscription_summaries
    _subscription_summaries = provider


def subscription_summaries(user_ids: Iterable[Any]) -> dict[Any, SubscriptionSummary]:
    """One batch lookup for a page of users (no query per user)."""
    if _subscription_summaries is None:
        return {}
    return _subscription_summaries(list(user_ids))


def register_paid_invoice_counter(counter: PaidInvoiceCounter | None) -> None:
    global _paid_invoice_counter
    _paid_invoice_counter = counter


def paid_invoice_count(user) -> int:
    return _paid_invoice_counter(user) if _paid_invoice_counter is not None else 0


def register_token_balance_setter(setter: TokenBalanceSetter | None) -> None:
    global _token_balance_setter
    _token_balance_setter = setter


def token_balance_setter() -> TokenBalanceSetter | None:
    """``setter(user=, balance=, actor=, reason=)`` writing the difference to the ledger."""
    return _token_balance_setter


user_anonymising = Signal()
"""Sent inside the anonymisation transaction, after the user row is locked.

Arguments: ``user`` (still with its old email), ``actor`` (staff member or None). Receivers end
what the user holds (cancel subscriptions and add-ons at once, void open invoices, zero a
positive token balance with an ADJUSTMENT) and must keep every financial record. A receiver that
raises rolls the whole anonymisation back. Not sent for a plain delete (no financial records).
"""

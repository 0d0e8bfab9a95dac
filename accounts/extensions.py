"""Questions through which higher apps (subscriptions, invoices, tokens) take part in account
views and account deletion, since accounts may not import them.

Each app registers its answer in its ``AppConfig.ready()`` (``vbwd.extensions.Question``). With
nothing registered an account has no financial records, no subscription and no token balance to
set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

from django.dispatch import Signal

from vbwd.extensions import Question


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
        """Invoices, payments, credit notes or ledger entries force anonymisation rather than
        deletion (subscriptions alone do not)."""
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


@runtime_checkable
class FinancialCounter(Protocol):
    """What of ``user``'s financial records the answering app keeps (invoices, ledger, …)."""

    def __call__(self, user: Any, /) -> FinancialRecords: ...


@runtime_checkable
class SubscriptionSummaries(Protocol):
    """``{user_id: SubscriptionSummary}`` of the users' primary current subscriptions, in one
    query for any number of users; users without one are left out."""

    def __call__(self, user_ids: list[Any], /) -> dict[Any, SubscriptionSummary]: ...


@runtime_checkable
class PaidInvoiceCounter(Protocol):
    """How many PAID invoices ``user`` has."""

    def __call__(self, user: Any, /) -> int: ...


@runtime_checkable
class TokenBalanceSetter(Protocol):
    """Sets ``user``'s token balance to ``balance``, writing the difference to the ledger."""

    def __call__(self, *, user: Any, balance: int, actor: Any, reason: str) -> Any: ...


@runtime_checkable
class CountryLookup(Protocol):
    """Which country codes billing details may name."""

    #: ``(code) -> bool``: the upper-case alpha-2 ``code`` names a known country
    is_known: Callable[[str], bool]
    #: ``(name) -> code or None``: the code of a known country named in words (any case)
    code_for_name: Callable[[str], str | None]


@dataclass(frozen=True)
class CountryLookupHooks:
    """A :class:`CountryLookup` made of two functions."""

    is_known: Callable[[str], bool]
    code_for_name: Callable[[str], str | None]


#: Answered by the catalog (its Country table); without it the ISO 3166-1 codes are known.
COUNTRY_LOOKUP: Question[CountryLookup] = Question(
    "accounts.country_lookup", CountryLookup, fallback=None
)
#: Answered by every app keeping financial records of a user; summed.
FINANCIAL_RECORDS: Question[FinancialCounter] = Question(
    "accounts.financial_records", FinancialCounter, many=True
)
#: Answered by subscriptions; without it no user has a subscription.
SUBSCRIPTION_SUMMARIES: Question[SubscriptionSummaries] = Question(
    "accounts.subscription_summaries", SubscriptionSummaries, fallback=None
)
#: Answered by invoices; without it no user has paid invoices.
PAID_INVOICE_COUNT: Question[PaidInvoiceCounter] = Question(
    "accounts.paid_invoice_count", PaidInvoiceCounter, fallback=None
)
#: Answered by tokens; without it staff cannot set a token balance.
TOKEN_BALANCE_SETTER: Question[TokenBalanceSetter] = Question(
    "accounts.token_balance_setter", TokenBalanceSetter, fallback=None
)


def financial_records_of(user) -> FinancialRecords:
    total = FinancialRecords()
    for counter in FINANCIAL_RECORDS.answers():
        total = total + counter(user)
    return total


def subscription_summaries(user_ids: Iterable[Any]) -> dict[Any, SubscriptionSummary]:
    """One batch lookup for a page of users (no query per user)."""
    provider = SUBSCRIPTION_SUMMARIES.answer()
    return {} if provider is None else provider(list(user_ids))


def paid_invoice_count(user) -> int:
    counter = PAID_INVOICE_COUNT.answer()
    return counter(user) if counter is not None else 0


def token_balance_setter() -> TokenBalanceSetter | None:
    """``setter(user=, balance=, actor=, reason=)`` writing the difference to the ledger."""
    return TOKEN_BALANCE_SETTER.answer()


user_anonymising = Signal()
"""Sent inside the anonymisation transaction, after the user row is locked.

Arguments: ``user`` (still with its old email), ``actor`` (staff member or None). Receivers end
what the user holds (cancel subscriptions and add-ons at once, void open invoices, zero a
positive token balance with an ADJUSTMENT) and must keep every financial record. A receiver that
raises rolls the whole anonymisation back. Not sent for a plain delete (no financial records).
"""


class CustomerSection(Protocol):
    """A read-only inline of the customer's page in the back office (a Django admin inline
    class over a model with a ``user`` key). ``section_order`` places it among the others."""

    section_order: int


CUSTOMER_ADMIN_SECTIONS: Question[type[CustomerSection]] = Question(
    "accounts.customer_admin_sections", CustomerSection, many=True
)

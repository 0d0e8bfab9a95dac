"""Random sequences of credits, debits, adjustments and replays, against the
real database, keep the balance equal to the sum of the ledger and never below zero."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from django.db.models import Min, Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from accounts.tests.factories import AdminFactory, UserFactory
from tokens.models import TokenBalance, TokenTransaction, TokenTransactionType
from tokens.services import InsufficientTokens, tokens_adjust, tokens_credit, tokens_debit

T = TokenTransactionType
CREDIT_TYPES = [T.PURCHASE, T.SUBSCRIPTION, T.REFUND, T.BONUS, T.ADJUSTMENT]
DEBIT_TYPES = [T.USAGE, T.REFUND, T.ADJUSTMENT]

_key_numbers = itertools.count()


@dataclass(frozen=True)
class Call:
    """One service call that can be made again: ``kind`` is credit, debit, adjust or set_to."""

    kind: str
    amount: int  # the amount, or the target balance for set_to
    transaction_type: str
    key: str | None


class LedgerMachine(RuleBasedStateMachine):
    """The model is the expected balance and the first entry written for each key."""

    calls = Bundle("calls")

    def __init__(self):
        super().__init__()
        # A fresh user per example, so examples stay independent inside one test transaction.
        self.user = UserFactory()
        self.staff = AdminFactory()
        self.expected = 0
        self.first_entry_of_key: dict[str, object] = {}

    # --- the system under test --------------------------------------------------------------

    def _call(self, call: Call):
        common = {"user": self.user, "idempotency_key": call.key}
        if call.kind == "credit":
            return tokens_credit(
                amount=call.amount,
                transaction_type=call.transaction_type,
                description="Credit",
                **common,
            )
        if call.kind == "debit":
            return tokens_debit(
                amount=call.amount,
                transaction_type=call.transaction_type,
                description="Debit",
                **common,
            )
        if call.kind == "adjust":
            return tokens_adjust(
                actor=self.staff,
                reason="Adjust",
                amount=call.amount,
                transaction_type=call.transaction_type,
                **common,
            )
        return tokens_adjust(actor=self.staff, reason="Set", set_to=call.amount, **common)

    def _delta(self, call: Call) -> int:
        if call.kind == "credit":
            return call.amount
        if call.kind == "debit":
            return -call.amount
        if call.kind == "adjust":
            return call.amount
        return call.amount - self.expected

    def _rows(self) -> int:
        return TokenTransaction.objects.filter(user=self.user).count()

    def _perform(self, call: Call):
        """Makes the call and checks its result against the model; returns the call for the
        replay bundle when it carries a key."""
        rows_before = self._rows()
        if call.key is not None and call.key in self.first_entry_of_key:
            result = self._call(call)
            first = self.first_entry_of_key[call.key]
            assert result.replayed is True
            assert result.transaction is not None
            assert result.transaction.pk == first
            assert result.balance == self.expected
            assert self._rows() == rows_before
            return call
        delta = self._delta(call)
        if delta == 0:  # set_to the current balance
            result = self._call(call)
            assert result.transaction is None
            assert result.balance == self.expected
            assert self._rows() == rows_before
        elif self.expected + delta < 0:
            with pytest.raises(InsufficientTokens):
                self._call(call)
            assert self._rows() == rows_before
        else:
            result = self._call(call)
            self.expected += delta
            entry = result.transaction
            assert result.replayed is False
            assert result.balance == self.expected
            assert entry.amount == delta
            assert entry.balance_after == self.expected
            expected_type = T.ADJUSTMENT if call.kind == "set_to" else call.transaction_type
            assert entry.transaction_type == expected_type
            is_staff_call = call.kind in {"adjust", "set_to"}
            assert entry.created_by_id == (self.staff.pk if is_staff_call else None)
            assert entry.idempotency_key == call.key
            assert self._rows() == rows_before + 1
            if call.key is not None:
                self.first_entry_of_key[call.key] = entry.pk
        return call if call.key is not None else multiple()

    @staticmethod
    def _key(with_key: bool) -> str | None:
        return f"key-{next(_key_numbers)}" if with_key else None

    # --- rules ------------------------------------------------------------------------------

    @rule(
        target=calls,
        amount=st.integers(1, 40),
        transaction_type=st.sampled_from(CREDIT_TYPES),
        with_key=st.booleans(),
    )
    def credit(self, amount, transaction_type, with_key):
        return self._perform(Call("credit", amount, transaction_type, self._key(with_key)))

    @rule(
        target=calls,
        amount=st.integers(1, 60),
        transaction_type=st.sampled_from(DEBIT_TYPES),
        with_key=st.booleans(),
    )
    def debit(self, amount, transaction_type, with_key):
        return self._perform(Call("debit", amount, transaction_type, self._key(with_key)))

    @rule(
        target=calls,
        amount=st.integers(-50, 50).filter(lambda amount: amount != 0),
        bonus=st.booleans(),
        with_key=st.booleans(),
    )
    def adjust(self, amount, bonus, with_key):
        transaction_type = T.BONUS if bonus and amount > 0 else T.ADJUSTMENT
        return self._perform(Call("adjust", amount, transaction_type, self._key(with_key)))

    @rule(target=calls, set_to=st.integers(0, 80), with_key=st.booleans())
    def adjust_set_to(self, set_to, with_key):
        return self._perform(Call("set_to", set_to, T.ADJUSTMENT, self._key(with_key)))

    @rule(target=calls, call=calls)
    def replay(self, call):
        """The same call again with its key: the first entry if one was written, else (the
        first was refused or changed nothing) a fresh call."""
        return self._perform(call)

    # --- after every step -------------------------------------------------------------------

    @invariant()
    def balance_equals_the_ledger(self):
        rows = TokenTransaction.objects.filter(user=self.user)
        totals = rows.aggregate(total=Sum("amount"), lowest=Min("balance_after"))
        balance_row = TokenBalance.objects.filter(user=self.user).first()
        balance = balance_row.balance if balance_row else 0
        assert balance == (totals["total"] or 0)
        assert balance >= 0
        assert totals["lowest"] is None or totals["lowest"] >= 0
        assert balance == self.expected


@pytest.mark.django_db
def test_any_sequence_of_ledger_calls_keeps_the_balance_equal_to_the_ledger():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            database=None,  # nothing written to .hypothesis/
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

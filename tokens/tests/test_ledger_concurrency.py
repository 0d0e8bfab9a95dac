"""The ledger under concurrent requests (the balance always equals the sum of the ledger, and no
retried debit is charged twice): row locks that only PostgreSQL enforces, so these run there
only."""

import pytest
from django.db.models import Sum

from accounts.tests.factories import UserFactory
from audit.models import AuditEntry
from tests.support.race import run_together
from tokens.models import TokenBalance, TokenTransaction, TokenTransactionType
from tokens.services import InsufficientTokens, balance_of, tokens_credit, tokens_debit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _unexpected(results) -> list[object]:
    """Anything but a ledger result or the insufficient-balance refusal (a 500 in the API)."""
    return [
        result
        for result in results
        if isinstance(result, Exception) and not isinstance(result, InsufficientTokens)
    ]


def _ledger_sum(user, **filters) -> int:
    rows = TokenTransaction.objects.filter(user=user, **filters)
    return rows.aggregate(total=Sum("amount"))["total"] or 0


def _assert_the_ledger_chains(user) -> None:
    """In the order they were written, each row's balance_after is the running sum."""
    running = 0
    for row in TokenTransaction.objects.filter(user=user).order_by("created_at", "pk"):
        running += row.amount
        assert row.balance_after == running, row
        assert row.balance_after >= 0
    assert running == balance_of(user)


def _debit_one(user, **kwargs):
    return lambda: tokens_debit(user=user, amount=1, description="Chat message", **kwargs)


def test_64_debits_of_1_from_50_succeed_exactly_50_times():
    user = UserFactory()
    tokens_credit(user=user, amount=50, description="Starter bundle")

    results = run_together([_debit_one(user) for _ in range(64)])

    assert _unexpected(results) == []
    succeeded = [result for result in results if not isinstance(result, Exception)]
    refused = [result for result in results if isinstance(result, InsufficientTokens)]
    assert len(succeeded) == 50
    assert len(refused) == 14
    assert {error.code for error in refused} == {"insufficient_tokens"}
    assert sorted(result.balance for result in succeeded) == list(range(50))
    assert TokenBalance.objects.get(user=user).balance == 0
    assert _ledger_sum(user) == 0
    assert _ledger_sum(user, transaction_type=TokenTransactionType.USAGE) == -50
    assert TokenTransaction.objects.filter(user=user, amount=-1).count() == 50
    _assert_the_ledger_chains(user)
    assert (
        AuditEntry.objects.filter(action="token_balance.debited", subject_user_id=user.pk).count()
        == 50
    )


def test_20_repeats_of_one_keyed_debit_write_one_row():
    user = UserFactory()
    tokens_credit(user=user, amount=100, description="Starter bundle")

    results = run_together([_debit_one(user, idempotency_key="chat:msg-1") for _ in range(20)])

    assert [result for result in results if isinstance(result, Exception)] == []
    [debit] = TokenTransaction.objects.filter(user=user, transaction_type="USAGE")
    assert debit.idempotency_key == "chat:msg-1"
    assert {result.transaction.pk for result in results} == {debit.pk}
    assert sorted(result.replayed for result in results) == [False] + [True] * 19
    assert balance_of(user) == 99
    assert _ledger_sum(user) == 99
    _assert_the_ledger_chains(user)


def test_concurrent_credits_and_debits_keep_the_balance_equal_to_the_ledger():
    user = UserFactory()
    tokens_credit(user=user, amount=20, description="Starter bundle")

    def credit():
        return tokens_credit(user=user, amount=2, description="Bonus", transaction_type="BONUS")

    def debit():
        return tokens_debit(user=user, amount=3, description="Chat message")

    results = run_together([credit, debit] * 30)

    assert _unexpected(results) == []
    credits = results[0::2]
    debits = results[1::2]
    assert all(not isinstance(result, Exception) for result in credits)
    debited = [result for result in debits if not isinstance(result, Exception)]
    balance = balance_of(user)
    assert balance == 20 + 2 * 30 - 3 * len(debited)
    assert balance >= 0
    assert _ledger_sum(user) == balance
    assert TokenTransaction.objects.filter(user=user, amount=-3).count() == len(debited)
    assert TokenTransaction.objects.filter(user=user, amount=2).count() == 30
    _assert_the_ledger_chains(user)


def test_concurrent_first_credits_create_one_balance_row():
    user = UserFactory()

    results = run_together(
        [lambda: tokens_credit(user=user, amount=1, description="Welcome gift") for _ in range(10)]
    )

    assert [result for result in results if isinstance(result, Exception)] == []
    assert TokenBalance.objects.filter(user=user).count() == 1
    assert balance_of(user) == 10
    assert sorted(result.balance for result in results) == list(range(1, 11))
    _assert_the_ledger_chains(user)

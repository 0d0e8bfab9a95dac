"""The token ledger services (docs/concepts/tokens.md): credit, debit and adjust write one ledger
row with the balance, refusals write nothing, idempotency keys replay, signals after commit."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import User, UserStatus
from accounts.tests.factories import AdminFactory, UserFactory
from audit.models import ActorType, AuditEntry
from tokens.models import TokenBalance, TokenTransaction, TokenTransactionType
from tokens.serializers import TokenAdjustInputSerializer
from tokens.services import (
    InsufficientTokens,
    LedgerEntry,
    balance_of,
    tokens_adjust,
    tokens_credit,
    tokens_debit,
)
from tokens.signals import tokens_credited, tokens_debited
from vbwd.exceptions import HasDependencies, ValidationFailed

pytestmark = pytest.mark.django_db

T = TokenTransactionType


def _credit(user, amount, **kwargs) -> LedgerEntry:
    kwargs.setdefault("description", "Bundle purchase")
    return tokens_credit(user=user, amount=amount, **kwargs)


def _debit(user, amount, **kwargs) -> LedgerEntry:
    kwargs.setdefault("description", "Chat message")
    return tokens_debit(user=user, amount=amount, **kwargs)


def _rows(user) -> list[TokenTransaction]:
    return list(TokenTransaction.objects.filter(user=user).order_by("created_at", "pk"))


def _ledger_sum(user) -> int:
    return TokenTransaction.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] or 0


def _audit(user) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(object_type="token_balance", subject_user_id=user.pk).order_by(
            "created_at"
        )
    )


def _validation(call) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        call()
    return caught.value


def _adjust(user, staff, body: dict):
    """A staff adjustment as the API makes it: the input serializer, then the ledger."""
    serializer = TokenAdjustInputSerializer(data=body)
    if not serializer.is_valid():
        raise ValidationFailed.from_errors(
            {
                field: [str(message) for message in found]
                for field, found in serializer.errors.items()
            }
        )
    return tokens_adjust(user=user, actor=staff, **serializer.validated_data)


@pytest.fixture
def staff(db):
    return AdminFactory()


@pytest.fixture
def signals_received():
    """Every tokens_credited / tokens_debited sent during the test, as (signal, kwargs)."""
    received = []

    def on_credited(sender, **kwargs):
        received.append(("credited", sender, kwargs))

    def on_debited(sender, **kwargs):
        received.append(("debited", sender, kwargs))

    tokens_credited.connect(on_credited, dispatch_uid="test-ledger-credited")
    tokens_debited.connect(on_debited, dispatch_uid="test-ledger-debited")
    yield received
    tokens_credited.disconnect(dispatch_uid="test-ledger-credited")
    tokens_debited.disconnect(dispatch_uid="test-ledger-debited")


# --- credit ---------------------------------------------------------------------------------


def test_a_first_credit_creates_the_balance_and_one_ledger_row(user):
    assert balance_of(user) == 0
    assert not TokenBalance.objects.filter(user=user).exists()

    result = _credit(
        user,
        500,
        reference_type="token_bundle_purchase",
        reference_id=42,
        description="Starter bundle",
    )

    assert result.balance == 500
    assert result.replayed is False
    assert balance_of(user) == 500
    assert TokenBalance.objects.get(user=user).balance == 500
    [row] = _rows(user)
    assert row == result.transaction
    assert row.amount == 500
    assert row.balance_after == 500
    assert row.transaction_type == T.PURCHASE
    assert row.reference_type == "token_bundle_purchase"
    assert row.reference_id == "42"
    assert row.description == "Starter bundle"
    assert row.created_by is None
    assert row.idempotency_key is None


def test_credits_add_up_and_each_row_records_the_balance_after_it(user):
    _credit(user, 100)
    _credit(user, 25, transaction_type=T.SUBSCRIPTION, reference_type="subscription")
    result = _credit(user, 7, transaction_type=T.REFUND, reference_type="credit_note")

    assert result.balance == 132
    assert [(row.amount, row.balance_after, row.transaction_type) for row in _rows(user)] == [
        (100, 100, T.PURCHASE),
        (25, 125, T.SUBSCRIPTION),
        (7, 132, T.REFUND),
    ]
    assert _ledger_sum(user) == balance_of(user) == 132


@pytest.mark.parametrize(
    "transaction_type", [T.PURCHASE, T.SUBSCRIPTION, T.REFUND, T.BONUS, T.ADJUSTMENT]
)
def test_every_credit_type_credits(user, staff, transaction_type):
    result = _credit(user, 3, transaction_type=transaction_type, actor=staff)

    assert result.transaction.transaction_type == transaction_type
    assert result.transaction.amount == 3
    assert result.transaction.created_by == staff
    assert balance_of(user) == 3


def test_a_long_description_is_cut_to_the_column(user):
    result = _credit(user, 1, description="x" * 300)

    assert TokenTransaction.objects.get(pk=result.transaction.pk).description == "x" * 255


# --- debit ----------------------------------------------------------------------------------


def test_a_debit_takes_tokens_with_a_negative_row(user):
    _credit(user, 50)

    result = _debit(
        user, 20, reference_type="plugin:chat", reference_id="msg-1", description="Chat message"
    )

    assert result.balance == 30
    assert result.replayed is False
    assert balance_of(user) == 30
    row = result.transaction
    assert row.amount == -20
    assert row.balance_after == 30
    assert row.transaction_type == T.USAGE
    assert row.reference_type == "plugin:chat"
    assert row.reference_id == "msg-1"
    assert row.description == "Chat message"
    assert row.created_by is None
    assert _ledger_sum(user) == 30


def test_a_debit_of_the_whole_balance_leaves_zero(user):
    _credit(user, 5)

    result = _debit(user, 5)

    assert result.balance == 0
    assert result.transaction.balance_after == 0
    assert balance_of(user) == 0


@pytest.mark.parametrize("transaction_type", [T.USAGE, T.REFUND, T.ADJUSTMENT])
def test_every_debit_type_debits(user, transaction_type):
    _credit(user, 10)

    result = _debit(user, 4, transaction_type=transaction_type)

    assert result.transaction.transaction_type == transaction_type
    assert result.transaction.amount == -4
    assert balance_of(user) == 6


def test_a_debit_larger_than_the_balance_writes_nothing(user, signals_received):
    _credit(user, 10)
    rows_before = _rows(user)
    audit_before = len(_audit(user))

    with pytest.raises(InsufficientTokens) as caught:
        _debit(user, 11)

    assert caught.value.code == "insufficient_tokens"
    assert caught.value.message == "Insufficient token balance"
    assert caught.value.status_code == 400
    assert balance_of(user) == 10
    assert _rows(user) == rows_before
    assert len(_audit(user)) == audit_before


def test_a_refused_debit_of_a_user_without_tokens_creates_no_balance_row(user):
    with pytest.raises(InsufficientTokens):
        _debit(user, 1)

    assert not TokenBalance.objects.filter(user=user).exists()
    assert not TokenTransaction.objects.filter(user=user).exists()
    assert _audit(user) == []


# --- refused input --------------------------------------------------------------------------


@pytest.mark.parametrize("transaction_type", [T.USAGE, "BOGUS"])
def test_a_credit_refuses_a_debit_type(user, transaction_type):
    error = _validation(lambda: _credit(user, 5, transaction_type=transaction_type))

    assert error.message == f"{transaction_type} cannot credit tokens"
    assert error.errors == {"transaction_type": [f"{transaction_type} cannot credit tokens"]}
    assert not TokenTransaction.objects.filter(user=user).exists()


@pytest.mark.parametrize("transaction_type", [T.BONUS, T.PURCHASE, T.SUBSCRIPTION, "BOGUS"])
def test_a_debit_refuses_a_credit_type(user, transaction_type):
    _credit(user, 10)

    error = _validation(lambda: _debit(user, 5, transaction_type=transaction_type))

    assert error.message == f"{transaction_type} cannot debit tokens"
    assert error.errors == {"transaction_type": [f"{transaction_type} cannot debit tokens"]}
    assert balance_of(user) == 10
    assert len(_rows(user)) == 1


@pytest.mark.parametrize("amount", [0, -5, True, False, "5", 1.5, None])
@pytest.mark.parametrize("operation", [_credit, _debit])
def test_the_amount_must_be_a_positive_integer(user, operation, amount):
    _credit(user, 10)

    error = _validation(lambda: operation(user, amount))

    assert error.code == "validation_error"
    assert error.message == "amount must be a positive integer"
    assert error.errors == {"amount": ["amount must be a positive integer"]}
    assert balance_of(user) == 10
    assert len(_rows(user)) == 1


@pytest.mark.parametrize("key", ["", "k" * 301, 7])
def test_the_idempotency_key_must_be_1_to_300_characters(user, key):
    error = _validation(lambda: _credit(user, 5, idempotency_key=key))

    assert error.errors == {"idempotency_key": ["idempotency_key must be 1-300 characters"]}
    assert balance_of(user) == 0


def test_a_300_character_key_is_accepted(user):
    result = _credit(user, 5, idempotency_key="k" * 300)

    assert result.transaction.idempotency_key == "k" * 300


# --- idempotency ----------------------------------------------------------------------------


def test_a_repeated_credit_key_returns_the_first_entry_without_a_second_row(
    user, signals_received, django_capture_on_commit_callbacks
):
    first = _credit(user, 100, idempotency_key="purchase-1")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = _credit(user, 100, idempotency_key="purchase-1")

    assert again.replayed is True
    assert again.transaction.pk == first.transaction.pk
    assert again.balance == 100
    assert balance_of(user) == 100
    assert len(_rows(user)) == 1
    assert len(_audit(user)) == 1
    assert callbacks == []
    assert signals_received == []


def test_a_repeated_debit_key_returns_the_first_entry_after_the_balance_changed(user):
    _credit(user, 10)
    first = _debit(user, 3, idempotency_key="chat:msg-1")
    _credit(user, 5)

    again = _debit(user, 3, idempotency_key="chat:msg-1")

    assert again.replayed is True
    assert again.transaction.pk == first.transaction.pk
    assert again.transaction.balance_after == 7  # the first entry, unchanged
    assert again.balance == 12  # the balance now
    assert balance_of(user) == 12
    assert TokenTransaction.objects.filter(user=user, transaction_type=T.USAGE).count() == 1


def test_a_replay_is_returned_even_when_the_balance_no_longer_covers_it(user):
    _credit(user, 5)
    first = _debit(user, 5, idempotency_key="chat:msg-2")

    again = _debit(user, 5, idempotency_key="chat:msg-2")

    assert again.replayed is True
    assert again.transaction.pk == first.transaction.pk
    assert balance_of(user) == 0
    assert len(_rows(user)) == 2


def test_a_refused_debit_does_not_use_up_its_key(user):
    _credit(user, 5)
    with pytest.raises(InsufficientTokens):
        _debit(user, 8, idempotency_key="chat:msg-3")
    _credit(user, 5)

    result = _debit(user, 8, idempotency_key="chat:msg-3")

    assert result.replayed is False
    assert result.transaction.amount == -8
    assert result.transaction.idempotency_key == "chat:msg-3"
    assert balance_of(user) == 2


def test_idempotency_keys_are_per_user(user):
    other = UserFactory()
    _credit(user, 10)
    _credit(other, 10)

    mine = _debit(user, 4, idempotency_key="shared-key")
    theirs = _debit(other, 4, idempotency_key="shared-key")

    assert theirs.replayed is False
    assert theirs.transaction.pk != mine.transaction.pk
    assert theirs.transaction.user == other
    assert balance_of(user) == balance_of(other) == 6


def test_the_database_refuses_a_second_row_with_one_key(user):
    _credit(user, 10, idempotency_key="dup")
    balance = TokenBalance.objects.get(user=user)

    with pytest.raises(IntegrityError), transaction.atomic():
        TokenTransaction.objects.create(
            user=user,
            amount=1,
            balance_after=balance.balance + 1,
            transaction_type=T.PURCHASE,
            description="Second",
            idempotency_key="dup",
        )


# --- adjust ---------------------------------------------------------------------------------


def test_an_adjustment_by_amount_records_the_staff_member_and_the_reason(user, staff):
    _credit(user, 40)

    result = tokens_adjust(user=user, actor=staff, reason="  Goodwill for the outage  ", amount=-15)

    assert result.balance == 25
    row = result.transaction
    assert row.amount == -15
    assert row.balance_after == 25
    assert row.transaction_type == T.ADJUSTMENT
    assert row.description == "Goodwill for the outage"
    assert row.created_by == staff
    assert row.reference_type is None
    assert row.reference_id is None
    entry = _audit(user)[-1]
    assert entry.action == "token_balance.debited"
    assert entry.object_type == "token_balance"
    assert entry.object_id == str(TokenBalance.objects.get(user=user).pk)
    assert entry.subject_user_id == user.pk
    assert entry.actor_type == ActorType.STAFF
    assert entry.actor_id == staff.pk
    assert entry.actor_email == staff.email
    assert entry.reason == "Goodwill for the outage"
    assert entry.summary == "-15 tokens (ADJUSTMENT): Goodwill for the outage"
    assert entry.before == {"balance": 40}
    assert entry.after == {"balance": 25, "transaction_id": str(row.pk)}


def test_a_positive_bonus_adjustment(user, staff):
    result = tokens_adjust(
        user=user, actor=staff, reason="Welcome gift", amount=30, transaction_type=T.BONUS
    )

    assert result.balance == 30
    assert result.transaction.transaction_type == T.BONUS
    assert result.transaction.amount == 30
    assert result.transaction.created_by == staff
    assert _audit(user)[-1].action == "token_balance.credited"


def test_an_adjustment_below_zero_is_refused_and_writes_nothing(user, staff):
    _credit(user, 10)

    with pytest.raises(InsufficientTokens):
        tokens_adjust(user=user, actor=staff, reason="Claw-back", amount=-11)

    assert balance_of(user) == 10
    assert len(_rows(user)) == 1
    assert len(_audit(user)) == 1


@pytest.mark.parametrize(
    ("set_to", "amount", "balance_after"), [(25, -15, 25), (100, 60, 100), (0, -40, 0)]
)
def test_set_to_writes_the_difference_as_an_adjustment(user, staff, set_to, amount, balance_after):
    _credit(user, 40)

    result = tokens_adjust(user=user, actor=staff, reason="Corrected by support", set_to=set_to)

    assert result.balance == balance_after
    assert result.transaction.amount == amount
    assert result.transaction.balance_after == balance_after
    assert result.transaction.transaction_type == T.ADJUSTMENT
    assert result.transaction.created_by == staff
    assert result.transaction.description == "Corrected by support"
    assert balance_of(user) == _ledger_sum(user) == balance_after
    entry = _audit(user)[-1]
    assert entry.reason == "Corrected by support"
    assert entry.actor_id == staff.pk


def test_set_to_the_current_balance_writes_nothing(user, staff, signals_received):
    _credit(user, 40)

    result = tokens_adjust(user=user, actor=staff, reason="No change", set_to=40)

    assert result == LedgerEntry(transaction=None, balance=40)
    assert len(_rows(user)) == 1
    assert len(_audit(user)) == 1
    assert signals_received == []


@pytest.mark.parametrize("amount", [0, None, True, "5", 2.5])
def test_an_adjustment_amount_must_be_a_non_zero_integer(user, staff, amount):
    _credit(user, 10)

    error = _validation(lambda: _adjust(user, staff, {"reason": "Because", "amount": amount}))

    assert error.message == "amount must be a non-zero integer"
    assert error.errors == {"amount": ["amount must be a non-zero integer"]}
    assert balance_of(user) == 10
    assert len(_rows(user)) == 1


@pytest.mark.parametrize("reason", [None, "", "   ", 5])
def test_an_adjustment_needs_a_reason(user, staff, reason):
    error = _validation(lambda: _adjust(user, staff, {"reason": reason, "amount": 5}))

    assert error.message == "reason is required"
    assert error.errors == {"reason": ["reason is required"]}
    assert balance_of(user) == 0


def test_an_adjustment_reason_is_at_most_255_characters(user, staff):
    error = _validation(lambda: _adjust(user, staff, {"reason": "r" * 256, "amount": 5}))

    assert error.errors == {"reason": ["reason must be at most 255 characters"]}
    assert _adjust(user, staff, {"reason": "r" * 255, "amount": 5}).balance == 5


def test_a_bonus_needs_a_positive_amount(user, staff):
    _credit(user, 10)

    error = _validation(
        lambda: tokens_adjust(
            user=user, actor=staff, reason="Oops", amount=-5, transaction_type=T.BONUS
        )
    )

    assert error.message == "BONUS requires a positive amount"
    assert error.errors == {"type": ["BONUS requires a positive amount"]}
    assert balance_of(user) == 10


@pytest.mark.parametrize("transaction_type", [T.USAGE, T.PURCHASE, T.REFUND])
def test_an_adjustment_is_adjustment_or_bonus(user, staff, transaction_type):
    error = _validation(
        lambda: tokens_adjust(
            user=user, actor=staff, reason="Because", amount=5, transaction_type=transaction_type
        )
    )

    assert error.errors == {"type": ["type must be ADJUSTMENT or BONUS"]}
    assert balance_of(user) == 0


@pytest.mark.parametrize("set_to", [-1, True, "10", 1.5])
def test_set_to_must_be_a_non_negative_integer(user, staff, set_to):
    _credit(user, 10)

    error = _validation(
        lambda: tokens_adjust(user=user, actor=staff, reason="Because", set_to=set_to)
    )

    assert error.errors == {"token_balance": ["token_balance must be a non-negative integer"]}
    assert balance_of(user) == 10
    assert len(_rows(user)) == 1


def test_a_repeated_adjustment_key_returns_the_first_entry(user, staff):
    first = tokens_adjust(user=user, actor=staff, reason="Gift", amount=5, idempotency_key="adj-1")

    again = tokens_adjust(user=user, actor=staff, reason="Gift", amount=5, idempotency_key="adj-1")

    assert again.replayed is True
    assert again.transaction.pk == first.transaction.pk
    assert balance_of(user) == 5
    assert len(_rows(user)) == 1


def test_a_repeated_set_to_key_returns_the_first_entry_after_the_balance_moved(user, staff):
    _credit(user, 40)
    first = tokens_adjust(user=user, actor=staff, reason="Fix", set_to=10, idempotency_key="set-1")
    _credit(user, 5)

    again = tokens_adjust(user=user, actor=staff, reason="Fix", set_to=10, idempotency_key="set-1")

    assert again.replayed is True
    assert again.transaction.pk == first.transaction.pk
    assert balance_of(user) == 15
    assert len(_rows(user)) == 3


def test_a_repeated_set_to_key_returns_the_first_entry_when_the_balance_is_still_the_target(
    user, staff
):
    _credit(user, 40)
    first = tokens_adjust(user=user, actor=staff, reason="Fix", set_to=10, idempotency_key="set-2")

    again = tokens_adjust(user=user, actor=staff, reason="Fix", set_to=10, idempotency_key="set-2")

    # A repeated key returns the first result, whatever the balance is now.
    assert again.replayed is True
    assert again.transaction is not None
    assert again.transaction.pk == first.transaction.pk
    assert again.balance == 10
    assert len(_rows(user)) == 2


# --- audit ----------------------------------------------------------------------------------


def test_each_change_writes_one_audit_row(user):
    _credit(user, 12, description="Starter bundle")
    result = _debit(user, 2, description="Chat message")

    credited, debited = _audit(user)
    balance_id = str(TokenBalance.objects.get(user=user).pk)
    assert (credited.action, credited.object_id, credited.actor_type, credited.actor_id) == (
        "token_balance.credited",
        balance_id,
        ActorType.SYSTEM,
        None,
    )
    assert credited.summary == "+12 tokens (PURCHASE): Starter bundle"
    assert credited.before == {"balance": 0}
    assert credited.reason is None
    assert debited.action == "token_balance.debited"
    assert debited.summary == "-2 tokens (USAGE): Chat message"
    assert debited.before == {"balance": 12}
    assert debited.after == {"balance": 10, "transaction_id": str(result.transaction.pk)}


def test_a_user_acting_on_their_own_balance_is_audited_as_the_user(user):
    _credit(user, 5)

    _debit(user, 1, actor=user)

    entry = _audit(user)[-1]
    assert entry.actor_type == ActorType.USER
    assert entry.actor_id == user.pk


# --- signals --------------------------------------------------------------------------------


def test_a_credit_signals_only_after_commit(
    user, signals_received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = _credit(user, 9)

    assert signals_received == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert signals_received == [
        (
            "credited",
            TokenTransaction,
            {
                "signal": tokens_credited,
                "user": user,
                "transaction": result.transaction,
                "balance": 9,
            },
        )
    ]


def test_a_debit_signals_only_after_commit(
    user, signals_received, django_capture_on_commit_callbacks
):
    _credit(user, 9)
    signals_received.clear()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = _debit(user, 4)

    assert signals_received == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert signals_received == [
        (
            "debited",
            TokenTransaction,
            {
                "signal": tokens_debited,
                "user": user,
                "transaction": result.transaction,
                "balance": 5,
            },
        )
    ]


def test_a_negative_adjustment_signals_a_debit(
    user, staff, signals_received, django_capture_on_commit_callbacks
):
    _credit(user, 9)
    signals_received.clear()

    with django_capture_on_commit_callbacks(execute=True):
        tokens_adjust(user=user, actor=staff, reason="Claw-back", set_to=2)

    assert [(name, kwargs["balance"]) for name, _sender, kwargs in signals_received] == [
        ("debited", 2)
    ]


def test_no_signal_for_a_refused_debit_or_a_replay(
    user, signals_received, django_capture_on_commit_callbacks
):
    _credit(user, 5)
    _debit(user, 2, idempotency_key="once")
    signals_received.clear()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(InsufficientTokens):
            _debit(user, 4)
        _debit(user, 2, idempotency_key="once")

    assert callbacks == []
    assert signals_received == []


# --- append-only and constraints -------------------------------------------------------------


def test_a_ledger_row_cannot_be_changed(user):
    row = _credit(user, 5).transaction
    row.amount = 500

    with pytest.raises(TypeError, match="The token ledger is append-only"):
        row.save()

    assert TokenTransaction.objects.get(pk=row.pk).amount == 5


def test_a_ledger_row_cannot_be_deleted(user):
    row = _credit(user, 5).transaction

    with pytest.raises(TypeError, match="The token ledger is append-only"):
        row.delete()

    assert TokenTransaction.objects.filter(pk=row.pk).exists()


def test_the_ledger_queryset_refuses_update_and_delete(user):
    _credit(user, 5)
    rows = TokenTransaction.objects.filter(user=user)

    with pytest.raises(TypeError, match="The token ledger is append-only"):
        rows.update(amount=500)
    with pytest.raises(TypeError, match="The token ledger is append-only"):
        rows.delete()

    assert [row.amount for row in _rows(user)] == [5]


def test_the_database_refuses_a_negative_balance(user):
    _credit(user, 5)

    with pytest.raises(IntegrityError), transaction.atomic():
        TokenBalance.objects.filter(user=user).update(balance=-1)

    assert balance_of(user) == 5


def test_the_database_refuses_a_zero_or_negative_after_ledger_row(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenTransaction.objects.create(
            user=user, amount=0, balance_after=0, transaction_type=T.PURCHASE, description="Zero"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenTransaction.objects.create(
            user=user, amount=-1, balance_after=-1, transaction_type=T.USAGE, description="Below"
        )

    assert not TokenTransaction.objects.filter(user=user).exists()


# --- accounts: deletion info and anonymisation ----------------------------------------------


def test_deletion_info_reports_the_balance_and_the_ledger_as_dependencies(user):
    before = account_selectors.deletion_info(User.objects.get(pk=user.pk))
    assert before["token_balance"] == 0
    assert before["has_cascade_dependencies"] is False
    assert before["action"] == "DELETE"

    _credit(user, 25)
    _debit(user, 5)

    after = account_selectors.deletion_info(User.objects.get(pk=user.pk))
    assert after["token_balance"] == 20
    assert after["has_cascade_dependencies"] is True
    assert after["action"] == "ANONYMISE"


def test_a_user_with_ledger_entries_is_not_deleted_without_force(user, staff):
    _credit(user, 5)

    with pytest.raises(HasDependencies):
        account_services.user_delete(user=user, actor=staff, force=False)

    assert User.objects.filter(pk=user.pk, status=UserStatus.ACTIVE).exists()
    assert balance_of(user) == 5


def test_anonymising_zeroes_a_positive_balance_and_keeps_the_ledger(user, staff):
    purchase = _credit(user, 30).transaction

    outcome = account_services.user_delete(user=user, actor=staff, force=True)

    assert outcome == "ANONYMISED"
    assert User.objects.get(pk=user.pk).status == UserStatus.DELETED
    assert balance_of(user) == 0
    first, zeroing = _rows(user)
    assert first == purchase
    assert (first.amount, first.balance_after) == (30, 30)
    assert zeroing.amount == -30
    assert zeroing.balance_after == 0
    assert zeroing.transaction_type == T.ADJUSTMENT
    assert zeroing.description == "Account anonymised"
    assert zeroing.created_by == staff
    entry = _audit(user)[-1]
    assert entry.action == "token_balance.debited"
    assert entry.reason == "Account anonymised"
    assert entry.actor_id == staff.pk
    assert _ledger_sum(user) == 0


def test_anonymising_a_user_with_a_zero_balance_writes_no_adjustment(user, staff):
    _credit(user, 3)
    _debit(user, 3)

    assert account_services.user_delete(user=user, actor=staff, force=True) == "ANONYMISED"

    assert [row.transaction_type for row in _rows(user)] == [T.PURCHASE, T.USAGE]
    assert balance_of(user) == 0

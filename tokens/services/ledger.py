"""The token ledger: every balance change is one ledger row written in the same
transaction, with the balance row locked, so the balance always equals the sum of the ledger.

A debit larger than the balance raises InsufficientTokens and writes nothing. An idempotency key
(unique per user) makes a retried call return the first entry without a second change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from accounts import extensions as account_extensions
from audit.services import audit_record
from plugins.signals import send_all_on_commit
from tokens.models import TokenBalance, TokenTransaction, TokenTransactionType
from tokens.signals import tokens_credited, tokens_debited
from vbwd.exceptions import DomainError, ValidationFailed
from vbwd.rows import row_by

__all__ = [
    "Grant",
    "InsufficientTokens",
    "LedgerEntry",
    "balance_of",
    "tokens_adjust",
    "tokens_credit",
    "tokens_credit_many",
    "tokens_debit",
]

CREDIT_TYPES = {
    TokenTransactionType.PURCHASE,
    TokenTransactionType.SUBSCRIPTION,
    TokenTransactionType.REFUND,
    TokenTransactionType.BONUS,
    TokenTransactionType.ADJUSTMENT,
}
DEBIT_TYPES = {
    TokenTransactionType.USAGE,
    TokenTransactionType.REFUND,
    TokenTransactionType.ADJUSTMENT,
}
MAX_KEY_LENGTH = 300


class InsufficientTokens(DomainError):
    code = "insufficient_tokens"
    default_message = "Insufficient token balance"


@dataclass(frozen=True)
class LedgerEntry:
    """What a ledger call did: the entry (None for a zero adjustment) and the new balance."""

    transaction: TokenTransaction | None
    balance: int
    replayed: bool = False


def balance_of(user) -> int:
    row = row_by(TokenBalance, "user", user.pk)
    return row.balance if row is not None else 0


def _locked_balance(user) -> TokenBalance:
    """The user's balance row, locked; created first (0) when the user has none. By user id, so
    the new row is not cached on the caller's user object as a stale 0."""
    rows = TokenBalance.objects.select_for_update().filter(user_id=user.pk)
    balance = rows.first()
    if balance is None:
        # A concurrent first credit may insert it meanwhile: no error on conflict, then lock it.
        TokenBalance.objects.bulk_create([TokenBalance(user_id=user.pk)], ignore_conflicts=True)
        balance = rows.get()
    return balance


def _check_amount(amount, *, field: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed(f"{field} must be a positive integer", field=field)
    return amount


def _check_key(key: str | None) -> str | None:
    if key is not None and (not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH):
        raise ValidationFailed(
            f"idempotency_key must be 1-{MAX_KEY_LENGTH} characters", field="idempotency_key"
        )
    return key


def _replay(user, key: str | None) -> LedgerEntry | None:
    if key is None:
        return None
    entry = TokenTransaction.objects.filter(user=user, idempotency_key=key).first()
    if entry is None:
        return None
    return LedgerEntry(transaction=entry, balance=balance_of(user), replayed=True)


def _write(
    *,
    user,
    delta: int,
    transaction_type: str,
    description: str,
    reference_type: str | None,
    reference_id,
    actor,
    idempotency_key: str | None,
    reason: str | None = None,
) -> LedgerEntry:
    """Applies ``delta`` to the locked balance and appends the ledger row, atomically."""
    try:
        with transaction.atomic():
            replay = _replay(user, idempotency_key)
            if replay is not None:
                return replay
            balance = _locked_balance(user)
            # Re-checked under the lock: a concurrent call with the same key has committed.
            replay = _replay(user, idempotency_key)
            if replay is not None:
                return replay
            new_balance = balance.balance + delta
            if new_balance < 0:
                raise InsufficientTokens()
            balance.balance = new_balance
            balance.save(update_fields=["balance", "updated_at"])
            entry = TokenTransaction.objects.create(
                user=user,
                amount=delta,
                balance_after=new_balance,
                transaction_type=transaction_type,
                reference_type=reference_type,
                reference_id=str(reference_id) if reference_id is not None else None,
                description=description[:255],
                created_by=actor,
                idempotency_key=idempotency_key,
            )
            audit_record(
                action="token_balance.credited" if delta > 0 else "token_balance.debited",
                object_type="token_balance",
                object_id=balance.pk,
                subject_user_id=user.pk,
                summary=f"{delta:+d} tokens ({transaction_type}): {description}"[:500],
                actor=actor,
                before={"balance": new_balance - delta},
                after={"balance": new_balance, "transaction_id": str(entry.pk)},
                reason=reason,
            )
            signal = tokens_credited if delta > 0 else tokens_debited
            signal.send_on_commit(
                sender=TokenTransaction, user=user, transaction=entry, balance=new_balance
            )
            return LedgerEntry(transaction=entry, balance=new_balance)
    except IntegrityError:
        # Two first calls with one key raced past the check; the loser returns the winner's.
        replay = _replay(user, idempotency_key)
        if replay is None:
            raise
        return replay


def tokens_credit(
    *,
    user,
    amount: int,
    transaction_type: str = TokenTransactionType.PURCHASE,
    description: str,
    reference_type: str | None = None,
    reference_id=None,
    actor=None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Adds ``amount`` (> 0) tokens with one ledger entry; ``tokens_credited`` after commit."""
    if transaction_type not in CREDIT_TYPES:
        raise ValidationFailed(f"{transaction_type} cannot credit tokens", field="transaction_type")
    return _write(
        user=user,
        delta=_check_amount(amount),
        transaction_type=transaction_type,
        description=description,
        reference_type=reference_type,
        reference_id=reference_id,
        actor=actor,
        idempotency_key=_check_key(idempotency_key),
    )


@dataclass(frozen=True)
class Grant:
    """One credit of ``tokens_credit_many``: the keywords of ``tokens_credit``."""

    amount: int
    description: str
    transaction_type: str = TokenTransactionType.PURCHASE
    reference_type: str | None = None
    reference_id: object = None
    idempotency_key: str | None = None


def _balance_raised(user_id, delta: int) -> tuple[object, int]:
    """Adds ``delta`` to the user's balance row, creating it when missing, and locks it: one
    upsert. Returns (the row's id, the new balance)."""
    opts = TokenBalance._meta
    connection = connections[router.db_for_write(TokenBalance)]
    name = connection.ops.quote_name
    table = name(opts.db_table)

    def prep(field_name, value):
        return opts.get_field(field_name).get_db_prep_value(value, connection)

    # Quoted names of the model's own table and columns; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({name('id')}, {name('user_id')}, {name('balance')}, "  # noqa: S608
        f"{name('updated_at')}) VALUES (%s, %s, %s, %s) ON CONFLICT ({name('user_id')}) DO UPDATE "
        f"SET {name('balance')} = {table}.{name('balance')} + excluded.{name('balance')}, "
        f"{name('updated_at')} = excluded.{name('updated_at')} RETURNING {name('id')}, "
        f"{name('balance')}"
    )
    params = [
        prep("id", uuid.uuid4()),
        prep("user", user_id),
        delta,
        prep("updated_at", timezone.now()),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row_id, balance = cursor.fetchone()
    return opts.pk.to_python(row_id), int(balance)


def tokens_credit_many(*, user, grants: list[Grant], actor=None) -> list[LedgerEntry]:
    """``tokens_credit`` of each grant, in order, in the caller's transaction: the balance row
    raised by the total with one upsert (which creates and locks it), the ledger rows written
    with one insert, one audit row and one ``tokens_credited`` (after commit) per entry.

    For callers that hold the rows that make the grants due, locked, and know that their keys
    were never used (an activation of a pending purchase): a key used before is an
    IntegrityError that aborts the caller's transaction, never a second grant and never a
    silent replay."""
    if not grants:
        return []
    for grant in grants:
        if grant.transaction_type not in CREDIT_TYPES:
            raise ValidationFailed(
                f"{grant.transaction_type} cannot credit tokens", field="transaction_type"
            )
        _check_amount(grant.amount)
        _check_key(grant.idempotency_key)
    with transaction.atomic(savepoint=False):
        total = sum(grant.amount for grant in grants)
        balance_id, new_balance = _balance_raised(user.pk, total)
        running = new_balance - total
        entries = []
        for grant in grants:
            running += grant.amount
            entries.append(
                TokenTransaction(
                    user=user,
                    amount=grant.amount,
                    balance_after=running,
                    transaction_type=grant.transaction_type,
                    reference_type=grant.reference_type,
                    reference_id=str(grant.reference_id)
                    if grant.reference_id is not None
                    else None,
                    description=grant.description[:255],
                    created_by=actor,
                    idempotency_key=grant.idempotency_key,
                )
            )
        TokenTransaction.objects.bulk_create(entries)
        results = []
        for grant, entry in zip(grants, entries, strict=True):
            audit_record(
                action="token_balance.credited",
                object_type="token_balance",
                object_id=balance_id,
                subject_user_id=user.pk,
                summary=(
                    f"{grant.amount:+d} tokens ({grant.transaction_type}): {grant.description}"
                )[:500],
                actor=actor,
                before={"balance": entry.balance_after - grant.amount},
                after={"balance": entry.balance_after, "transaction_id": str(entry.pk)},
            )
            results.append(LedgerEntry(transaction=entry, balance=entry.balance_after))

        send_all_on_commit(
            TokenTransaction,
            [
                (
                    tokens_credited,
                    {"user": user, "transaction": entry, "balance": entry.balance_after},
                )
                for entry in entries
            ],
        )
    return results


def tokens_debit(
    *,
    user,
    amount: int,
    transaction_type: str = TokenTransactionType.USAGE,
    description: str,
    reference_type: str | None = None,
    reference_id=None,
    actor=None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Takes ``amount`` (> 0) tokens; InsufficientTokens (nothing written) when the balance is
    smaller. Sends ``tokens_debited`` after commit."""
    if transaction_type not in DEBIT_TYPES:
        raise ValidationFailed(f"{transaction_type} cannot debit tokens", field="transaction_type")
    return _write(
        user=user,
        delta=-_check_amount(amount),
        transaction_type=transaction_type,
        description=description,
        reference_type=reference_type,
        reference_id=reference_id,
        actor=actor,
        idempotency_key=_check_key(idempotency_key),
    )


def tokens_adjust(
    *,
    user,
    actor,
    reason: str,
    amount: int | None = None,
    set_to: int | None = None,
    transaction_type: str = TokenTransactionType.ADJUSTMENT,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Staff change of a balance, by ``amount`` (signed, ≠ 0, as read by the adjustment input
    serializer) or to ``set_to`` (≥ 0), written as an ADJUSTMENT (or BONUS for a positive amount)
    delta with the staff member and the reason (non-blank, at most 255 characters)."""
    reason = reason.strip()
    if transaction_type not in {TokenTransactionType.ADJUSTMENT, TokenTransactionType.BONUS}:
        raise ValidationFailed("type must be ADJUSTMENT or BONUS", field="type")
    if set_to is not None:
        if isinstance(set_to, bool) or not isinstance(set_to, int) or set_to < 0:
            raise ValidationFailed(
                "token_balance must be a non-negative integer", field="token_balance"
            )
        key = _check_key(idempotency_key)
        with transaction.atomic():
            current = _locked_balance(user).balance
            # A repeated key returns the first result, even when no change is needed now.
            replay = _replay(user, key)
            if replay is not None:
                return replay
            delta = set_to - current
            if delta == 0:
                return LedgerEntry(transaction=None, balance=current)
            return _write(
                user=user,
                delta=delta,
                transaction_type=TokenTransactionType.ADJUSTMENT,
                description=reason,
                reference_type=None,
                reference_id=None,
                actor=actor,
                idempotency_key=key,
                reason=reason,
            )
    if transaction_type == TokenTransactionType.BONUS and amount < 0:
        raise ValidationFailed("BONUS requires a positive amount", field="type")
    return _write(
        user=user,
        delta=amount,
        transaction_type=transaction_type,
        description=reason,
        reference_type=None,
        reference_id=None,
        actor=actor,
        idempotency_key=_check_key(idempotency_key),
        reason=reason,
    )


def _set_balance_for_staff(*, user, balance: int, actor, reason: str) -> None:
    """``PUT /admin/users/<id>`` ``token_balance``: the difference goes through the ledger."""
    tokens_adjust(user=user, actor=actor, reason=reason, set_to=balance)


def _financial_records(user) -> account_extensions.FinancialRecords:
    return account_extensions.FinancialRecords(
        token_transaction_count=TokenTransaction.objects.filter(user=user).count()
    )


def register_account_hooks() -> None:
    """Called from TokensConfig.ready(): ledger entries are financial records of a user, staff
    can set a balance through the ledger, and anonymisation zeroes a positive balance."""
    account_extensions.FINANCIAL_RECORDS.register(_financial_records)
    account_extensions.TOKEN_BALANCE_SETTER.register(_set_balance_for_staff)

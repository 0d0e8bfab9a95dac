"""The TOKEN_BUNDLE line type (billing.invoices.lines) and the ledger hooks refunds use."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Sum

from audit.services import audit_record
from billing.invoices import extensions as invoice_extensions
from billing.invoices import lines as registry
from billing.invoices.models import LineType
from tokens.models import (
    PurchaseStatus,
    TokenBalance,
    TokenBundlePurchase,
    TokenTransaction,
    TokenTransactionType,
)
from tokens.services.ledger import Grant, tokens_credit, tokens_credit_many, tokens_debit


class TokenBundleLine(registry.LineHandler):
    type = LineType.TOKEN_BUNDLE

    def _locked(self, line) -> TokenBundlePurchase | None:
        if line.item_id is None:
            return None
        return (
            TokenBundlePurchase.objects.select_for_update()
            .select_related("user")
            .filter(pk=line.item_id)
            .first()
        )

    def _move(self, purchase, verb, context, summary: str) -> None:
        """Calls the purchase's transition ``verb``, saves and writes the audit row."""
        before = purchase.status
        verb()
        status = purchase.status
        purchase.save(update_fields=["status", "tokens_credited", "completed_at", "updated_at"])
        audit_record(
            action=f"token_bundle_purchase.{status.lower()}",
            object_type="token_bundle_purchase",
            object_id=purchase.pk,
            subject_user_id=purchase.user_id,
            summary=summary,
            actor=context.actor,
            actor_type=context.actor_type,
            actor_label=context.actor_label,
            before={"status": before},
            after={"status": status},
            reason=context.reason,
        )

    def activate(self, line, context) -> None:
        self.activate_lines([line], context)

    def activate_lines(self, lines, context) -> None:
        """Every pending purchase of ``lines`` completed and locked with one update, their
        tokens credited together (one balance change, one ledger insert), in line order."""
        completed = TokenBundlePurchase.complete_pending(
            [line.item_id for line in lines if line.item_id is not None], at=context.now
        )
        done = [(line, completed[line.item_id]) for line in lines if line.item_id in completed]
        if not done:
            return
        tokens_credit_many(
            user=context.invoice.user,
            grants=[
                Grant(
                    amount=purchase.token_amount,
                    transaction_type=TokenTransactionType.PURCHASE,
                    description=f"Purchase of {purchase.bundle_name}",
                    reference_type="token_bundle_purchase",
                    reference_id=purchase.pk,
                    idempotency_key=registry.activation_key(line),
                )
                for line, purchase in done
            ],
        )
        for _line, purchase in done:
            audit_record(
                action="token_bundle_purchase.completed",
                object_type="token_bundle_purchase",
                object_id=purchase.pk,
                subject_user_id=purchase.user_id,
                summary=(
                    f"{purchase.bundle_name} completed: {purchase.token_amount} tokens credited"
                ),
                actor=context.actor,
                actor_type=context.actor_type,
                actor_label=context.actor_label,
                before={"status": PurchaseStatus.PENDING},
                after={"status": purchase.status},
                reason=context.reason,
            )

    def cancel(self, line, context) -> None:
        purchase = self._locked(line)
        if purchase is None or purchase.status != PurchaseStatus.PENDING:
            return
        self._move(
            purchase,
            purchase.cancel,
            context,
            f"{purchase.bundle_name} cancelled: invoice {context.invoice.invoice_number} voided",
        )

    def reverse(self, line, context) -> dict:
        """The tokens themselves are clawed back by the refund through the ledger hooks."""
        purchase = self._locked(line)
        if purchase is None or purchase.status != PurchaseStatus.COMPLETED:
            return {}
        self._move(
            purchase,
            purchase.refund,
            context,
            f"{purchase.bundle_name} refunded with invoice {context.invoice.invoice_number}",
        )
        return {"status": PurchaseStatus.COMPLETED}

    def restore(self, line, context, data) -> None:
        purchase = self._locked(line)
        if purchase is None or not data or purchase.status != PurchaseStatus.REFUNDED:
            return
        self._move(
            purchase,
            purchase.reinstate,
            context,
            f"{purchase.bundle_name} restored: the refund of {context.invoice.invoice_number} "
            "was reversed",
        )


def _granted(user, keys: list[str]) -> int:
    total = TokenTransaction.objects.filter(
        user=user, idempotency_key__in=keys, amount__gt=0
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def _balance(user) -> int:
    row = TokenBalance.objects.filter(user=user).only("balance").first()
    return row.balance if row else 0


def _claw_back(*, user, amount: int, description: str, reference_id, key: str) -> int:
    """Takes what the locked balance allows, up to ``amount``, as one REFUND entry."""
    if amount <= 0:
        return 0
    with transaction.atomic():
        TokenBalance.objects.get_or_create(user=user)
        balance = TokenBalance.objects.select_for_update().get(user=user).balance
        taken = min(amount, balance)
        if taken > 0:
            tokens_debit(
                user=user,
                amount=taken,
                transaction_type=TokenTransactionType.REFUND,
                description=description,
                reference_type="credit_note",
                reference_id=reference_id,
                idempotency_key=key,
            )
    return taken


def _recredit(*, user, amount: int, description: str, reference_id, key: str) -> None:
    if amount > 0:
        tokens_credit(
            user=user,
            amount=amount,
            transaction_type=TokenTransactionType.REFUND,
            description=description,
            reference_type="credit_note",
            reference_id=reference_id,
            idempotency_key=key,
        )


def register() -> None:
    registry.register(TokenBundleLine())
    invoice_extensions.TOKEN_LEDGER.register(
        invoice_extensions.TokenLedgerHooks(
            granted=_granted, balance=_balance, claw_back=_claw_back, recredit=_recredit
        )
    )

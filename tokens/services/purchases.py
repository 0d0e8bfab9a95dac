"""Token bundle purchases: one PENDING record per bought bundle, completed when its invoice line
is paid (tokens.lines)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from audit.services import audit_record
from tokens.models import PurchaseStatus, TokenBundle, TokenBundlePurchase

__all__ = ["token_bundle_purchase_create", "token_bundle_purchases_create"]


def token_bundle_purchase_create(
    *, user, bundle: TokenBundle, price: Decimal, currency: str, invoice=None, invoice_id=None
) -> TokenBundlePurchase:
    """Records a PENDING purchase of ``bundle`` with its token amount, name and ``price`` (in
    ``currency``, the invoice's) snapshotted, so later catalog changes do not alter it.
    ``invoice_id`` names an invoice the caller issues later in the same transaction."""
    # No savepoint inside a caller's transaction: a failure here aborts the whole use case.
    with transaction.atomic(savepoint=False):
        [purchase] = token_bundle_purchases_create(
            user=user,
            items=[(bundle, price)],
            currency=currency,
            invoice_id=invoice.pk if invoice is not None else invoice_id,
        )
        if invoice is not None:
            purchase.invoice = invoice
    return purchase


def token_bundle_purchases_create(
    *, user, items, currency: str, invoice_id=None
) -> list[TokenBundlePurchase]:
    """``token_bundle_purchase_create`` for each (bundle, price) of ``items``, in order, written
    with one insert (and one audit row each)."""
    purchases = [
        TokenBundlePurchase(
            user=user,
            bundle=bundle,
            bundle_name=bundle.name,
            invoice_id=invoice_id,
            status=PurchaseStatus.PENDING,
            token_amount=bundle.token_amount,
            price=price,
            currency=currency,
        )
        for bundle, price in items
    ]
    if not purchases:
        return purchases
    with transaction.atomic(savepoint=False):
        TokenBundlePurchase.objects.bulk_create(purchases)
        for purchase, (bundle, price) in zip(purchases, items, strict=True):
            audit_record(
                action="token_bundle_purchase.created",
                object_type="token_bundle_purchase",
                object_id=purchase.pk,
                subject_user_id=user.pk,
                summary=(
                    f"{bundle.name} ({bundle.token_amount} tokens) ordered by {user.email} for "
                    f"{price} {currency}, awaiting payment"
                ),
                actor=user,
                after={"status": purchase.status, "bundle_id": str(bundle.pk)},
            )
    return purchases

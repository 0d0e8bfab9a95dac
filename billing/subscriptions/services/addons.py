"""Add-on subscription verbs: the customer's or staff cancel and the staff grant.

Rules written down here:

- "Other unpaid items" of a PENDING add-on's invoice are its lines other than this add-on's own
  line and FEE lines (the fee belongs to the invoice as a whole).
- A PENDING add-on whose invoice is gone or no longer open is cancelled on its own.
- A ONE_TIME add-on has no end; cancelling it ends access at once.
- Cancelling an ACTIVE add-on that an unpaid renewal invoice of its subscription already bills
  voids that renewal and issues it again without the add-on (``renewal_invoice_issue``; for a
  PAST_DUE or PAUSED subscription, whose open renewal is what keeps it payable, the same period
  is issued again directly). Attempts already counted to charge a saved method carry over.
- A granted add-on bound to plans is attached to ``subscription_id`` when given (it must be the
  user's valid subscription on one of those plans), else to the user's newest valid subscription
  on one of them; an add-on open to everyone is attached only when ``subscription_id`` is given.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit.services import audit_record
from billing.catalog.models import AddOn
from billing.catalog.periods import period_end
from billing.invoices.models import OPEN_STATUSES, Invoice, InvoiceLine, InvoiceType, LineType
from billing.invoices.services import invoice_void
from billing.subscriptions import selectors
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services.common import as_utc, as_uuid, iso, lock_in_order
from vbwd.exceptions import BusinessRuleError, InvalidTransition, NotFound, ValidationFailed

A = AddOnSubscriptionStatus

NOT_FOUND = "Add-on subscription not found"
NOT_CANCELLABLE = "Add-on subscription cannot be cancelled"
PART_OF_INVOICE = (
    "This add-on is part of an unpaid invoice with other items and cannot be cancelled separately"
)


def _audit(item: AddOnSubscription, action: str, summary: str, before, actor, reason) -> None:
    audit_record(
        action=action,
        object_type="addon_subscription",
        object_id=item.pk,
        subject_user_id=item.user_id,
        summary=summary,
        actor=actor,
        before=before,
        after={
            "status": item.status,
            "expires_at": iso(item.expires_at),
            "cancelled_at": iso(item.cancelled_at),
        },
        reason=reason,
    )


def _locked(addon_subscription_id) -> AddOnSubscription:
    pk = as_uuid(addon_subscription_id)
    item = (
        AddOnSubscription.objects.select_for_update(of=("self",))
        .select_related("addon")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if item is None:
        raise NotFound(NOT_FOUND)
    return item


def _has_other_items(invoice: Invoice, item: AddOnSubscription) -> bool:
    for line in invoice.lines.all():
        if line.type == LineType.FEE:
            continue
        if line.type == LineType.ADD_ON and line.item_id == item.pk:
            continue
        return True
    return False


def _invoices_to_lock(addon_subscription_id, invoice_id):
    """The add-on's own invoice and the open RENEWAL invoices with an ADD_ON line for it (a
    queryset without joins, so it can be locked)."""
    billing_it = InvoiceLine.objects.filter(
        invoice=OuterRef("pk"), type=LineType.ADD_ON, item_id=addon_subscription_id
    )
    renewals = Q(Exists(billing_it), invoice_type=InvoiceType.RENEWAL, status__in=OPEN_STATUSES)
    if invoice_id is not None:
        return Invoice.objects.filter(Q(pk=invoice_id) | renewals)
    return Invoice.objects.filter(renewals)


def _renew_without(item: AddOnSubscription, renewals: list[Invoice], *, actor, reason) -> None:
    """Voids ``renewals`` (locked) that bill the cancelled add-on and issues the subscription's
    renewal again (see the module notes). The subscription row is locked by the caller."""
    from billing.subscriptions.services.renewal import renewal_invoice_issue
    from billing.subscriptions.services.renewal.issuing import (
        EXPLICIT_LABEL,
        RELATED,
        issue_renewals,
    )

    subscription = Subscription.objects.select_related(*RELATED).get(pk=item.subscription_id)
    attempts = subscription.charge_attempts
    for renewal in renewals:
        invoice_void(
            invoice_id=renewal.pk,
            actor=actor,
            reason=reason or f"Add-on {item.addon.name} cancelled; renewal issued without it",
        )
    reissued = renewal_invoice_issue(subscription_id=subscription.pk)
    if reissued is None and subscription.status in (
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.PAUSED,
    ):
        still_open = Invoice.objects.filter(
            subscription_id=subscription.pk,
            invoice_type=InvoiceType.RENEWAL,
            status__in=OPEN_STATUSES,
        ).exists()
        if not still_open and subscription.expires_at is not None:
            reissued = issue_renewals(
                [subscription], now=timezone.now(), actor_label=EXPLICIT_LABEL
            )[0]
    if reissued is not None and attempts:
        Subscription.objects.filter(pk=subscription.pk).update(charge_attempts=attempts)


def addon_subscription_cancel(
    *, addon_subscription_id, actor, immediate: bool = False, reason: str | None = None
) -> AddOnSubscription:
    """ACTIVE → CANCELLED with access until ``expires_at`` (now when ``immediate``), no renewal
    (an unpaid renewal already billing it is issued again without it); PENDING → CANCELLED by
    voiding its invoice, only when nothing else on it is unpaid."""
    pk = as_uuid(addon_subscription_id)
    row = (
        AddOnSubscription.objects.filter(pk=pk).values("invoice_id", "subscription_id").first()
        if pk is not None
        else None
    ) or {"invoice_id": None, "subscription_id": None}
    invoice_id, subscription_id = row["invoice_id"], row["subscription_id"]
    if pk is None:
        raise NotFound(NOT_FOUND)

    def lock_rows() -> AddOnSubscription:
        # Holding the subscription also keeps a renewal from being issued meanwhile.
        if subscription_id is not None:
            Subscription.objects.select_for_update(of=("self",)).filter(pk=subscription_id).first()
        return _locked(pk)

    with transaction.atomic():
        # Invoices, then the subscription, then the add-on: the order capture locks them in.
        locked, item = lock_in_order(lambda: _invoices_to_lock(pk, invoice_id), lock_rows)
        invoice = locked.get(invoice_id) if invoice_id is not None else None
        now = timezone.now()
        before = {
            "status": item.status,
            "expires_at": iso(item.expires_at),
            "cancelled_at": iso(item.cancelled_at),
        }
        if item.status == A.PENDING:
            if invoice is not None and invoice.pk == item.invoice_id and invoice.is_open:
                if _has_other_items(invoice, item):
                    raise BusinessRuleError(PART_OF_INVOICE)
                # The ADD_ON line handler cancels the add-on with its invoice.
                invoice_void(
                    invoice_id=invoice.pk, actor=actor, reason=reason or "Add-on cancelled"
                )
                item.refresh_from_db()
                return item
            item.cancel(at=now)
            item.save(update_fields=["status", "cancelled_at", "updated_at"])
            _audit(
                item,
                "addon_subscription.cancelled",
                f"Pending add-on {item.addon.name} cancelled",
                before,
                actor,
                reason,
            )
            return item
        if item.status != A.ACTIVE or not item.can_become(A.CANCELLED):
            raise InvalidTransition(NOT_CANCELLABLE)
        item.cancel(at=now)
        if item.expires_at is None or (immediate and item.expires_at > now):
            item.expires_at = now
        item.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
        summary = f"Add-on {item.addon.name} cancelled"
        summary += ", access ended now" if immediate else ", access until its end"
        _audit(item, "addon_subscription.cancelled", summary, before, actor, reason)
        renewals = [
            each
            for each in locked.values()
            if each.invoice_type == InvoiceType.RENEWAL
            and each.is_open
            and item.subscription_id is not None
            and each.subscription_id == item.subscription_id
        ]
        if renewals:
            _renew_without(item, renewals, actor=actor, reason=reason)
    return item


def _binding(*, user, addon: AddOn, subscription_id, now) -> Subscription | None:
    """The subscription the granted add-on belongs to (see the module notes)."""
    subscription = None
    if subscription_id not in (None, ""):
        pk = as_uuid(subscription_id)
        subscription = (
            Subscription.objects.select_for_update(of=("self",)).filter(pk=pk, user=user).first()
            if pk is not None
            else None
        )
        if subscription is None:
            raise ValidationFailed("Subscription not found", field="subscription_id")
    plan_ids = {plan.pk for plan in addon.plans.all()}
    if not plan_ids:
        return subscription
    requires = f"Add-on {addon.name} requires a subscription to one of its plans"
    if subscription is not None:
        if subscription.plan_id not in plan_ids or not subscription.is_valid_at(now):
            raise BusinessRuleError(requires)
        return subscription
    owner = selectors.subscriptions_valid(user, now=now).filter(plan_id__in=plan_ids).first()
    if owner is None:
        raise BusinessRuleError(requires)
    return owner


def addon_subscription_grant(
    *,
    user,
    addon_id,
    actor,
    subscription_id=None,
    expires_at: datetime.datetime | None = None,
    reason: str | None = None,
) -> AddOnSubscription:
    """Staff: a complimentary ACTIVE add-on from now, without an invoice, until ``expires_at``
    (default: one period of the add-on; none for ONE_TIME); the plan binding is respected."""
    if addon_id in (None, ""):
        raise ValidationFailed("addon_id is required", field="addon_id")
    pk = as_uuid(addon_id)
    addon = AddOn.objects.prefetch_related("plans").filter(pk=pk).first() if pk else None
    if addon is None:
        raise ValidationFailed("Add-on not found", field="addon_id")
    if not addon.is_active:
        raise BusinessRuleError(f"Add-on {addon.name} is not active", code="item_unavailable")
    now = timezone.now()
    if expires_at is not None:
        expires_at = as_utc(expires_at)
        if expires_at <= now:
            raise ValidationFailed("expires_at must be in the future", field="expires_at")
    else:
        expires_at = period_end(now, addon.billing_period)
    with transaction.atomic():
        subscription = _binding(user=user, addon=addon, subscription_id=subscription_id, now=now)
        item = AddOnSubscription.objects.create(
            user=user,
            addon=addon,
            subscription=subscription,
            status=A.ACTIVE,
            starts_at=now,
            expires_at=expires_at,
        )
        until = f" until {expires_at:%Y-%m-%d}" if expires_at else ""
        summary = f"Add-on {addon.name} granted to {user.email} by staff{until}"
        _audit(item, "addon_subscription.granted", summary, None, actor, reason)
    return item

"""What anonymisation does to subscriptions: current ones end at once."""

from __future__ import annotations

from django.dispatch import receiver
from django.utils import timezone

from accounts import extensions as account_extensions
from audit.services import audit_record
from billing.invoices import signals as invoice_signals
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services.cancellation import subscription_end_now
from billing.subscriptions.services.saved_methods import subscription_saved_method_store
from vbwd.rows import row_by

ENDABLE = (
    SubscriptionStatus.PENDING,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.PAUSED,
    SubscriptionStatus.CANCELLED,
)


@receiver(account_extensions.user_anonymising, dispatch_uid="subscriptions.end_on_anonymise")
def end_subscriptions(sender, user, actor=None, **kwargs) -> None:
    """Inside the anonymisation transaction: every current subscription and add-on ends now."""
    now = timezone.now()
    for subscription in Subscription.objects.select_for_update().filter(
        user=user, status__in=ENDABLE
    ):
        if subscription.status == SubscriptionStatus.CANCELLED and (
            subscription.expires_at is None or subscription.expires_at <= now
        ):
            continue
        subscription_end_now(
            subscription=subscription,
            now=now,
            summary="Subscription ended: account anonymised",
            signal_reason="account_anonymised",
            actor=actor,
        )
    for item in AddOnSubscription.objects.select_for_update().filter(
        user=user,
        status__in=(AddOnSubscriptionStatus.PENDING, AddOnSubscriptionStatus.ACTIVE),
    ):
        before = item.status
        item.cancel(at=now)
        item.expires_at = now
        item.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
        audit_record(
            action="addon_subscription.cancelled",
            object_type="addon_subscription",
            object_id=item.pk,
            subject_user_id=user.pk,
            summary="Add-on ended: account anonymised",
            actor=actor,
            before={"status": before},
            after={"status": item.status},
        )


def _subscription_count(user) -> account_extensions.FinancialRecords:
    return account_extensions.FinancialRecords(
        subscription_count=Subscription.objects.filter(user=user).count()
    )


def _subscription_facts(subscription_ids: list) -> dict:
    if len(subscription_ids) == 1:  # one invoice's detail: the row by primary key
        row = row_by(Subscription, "id", subscription_ids[0])
        subscriptions = [] if row is None else [row]
    else:
        subscriptions = Subscription.objects.filter(pk__in=subscription_ids).only(
            "pk", "status", "started_at", "current_period_start", "expires_at", "trial_end_at"
        )
    return {
        subscription.pk: {
            "status": subscription.status,
            "start_date": subscription.current_period_start or subscription.started_at,
            "end_date": subscription.expires_at,
            "is_trial": subscription.status == SubscriptionStatus.TRIALING,
            "trial_end": subscription.trial_end_at,
        }
        for subscription in subscriptions
    }


@receiver(invoice_signals.payment_method_saved, dispatch_uid="subscriptions.store_saved_method")
def store_saved_method(sender, invoice, gateway, payment_method_id, customer_id=None, **kwargs):
    """Inside the capture transaction: renewals of what the invoice paid for are charged with
    the payment method the gateway kept."""
    subscription_saved_method_store(
        invoice=invoice,
        gateway=gateway,
        payment_method_id=payment_method_id,
        customer_id=customer_id,
    )

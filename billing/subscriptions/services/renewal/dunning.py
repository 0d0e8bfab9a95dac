"""Dunning: payment reminders as a signal the email side listens to.

A PAST_DUE subscription, and a subscription whose open renewal invoice is past its due date, gets
``subscription_payment_reminder`` at most once per calendar day (UTC), recorded in
``last_reminder_at``: a daily run at a fixed hour reminds every day even when a run starts a few
seconds earlier than the day before.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit.models import ActorType
from audit.services import audit_record
from billing.invoices.models import OPEN_STATUSES, Invoice, InvoiceType
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.services.renewal.batches import run_per_row
from billing.subscriptions.signals import subscription_payment_reminder
from platform_settings.selectors import platform_settings_get

JOB_NAME = "dunning_send"
DEFAULT_BATCH_SIZE = 200


def _invoice_to_pay(subscription: Subscription) -> Invoice | None:
    """The open invoice the reminder is about: the renewal, else the trial (checkout) or plan
    change invoice, the most recent first."""
    invoices = Invoice.objects.filter(
        subscription_id=subscription.pk, status__in=OPEN_STATUSES
    ).order_by("-invoiced_at", "-invoice_number")
    renewal = invoices.filter(invoice_type=InvoiceType.RENEWAL).first()
    return renewal or invoices.first()


def dunning_send(
    *, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime.datetime | None = None
) -> int:
    """Sends ``subscription_payment_reminder`` (after commit) for every subscription with a
    payment due that was not reminded today; returns how many reminders were sent."""
    now = now or timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    grace = datetime.timedelta(days=platform_settings_get().grace_period_days)
    renewal_past_due = Exists(
        Invoice.objects.filter(
            subscription_id=OuterRef("pk"),
            invoice_type=InvoiceType.RENEWAL,
            status__in=OPEN_STATUSES,
            due_date__lt=now,
        )
    )
    queryset = (
        Subscription.objects.select_related("plan", "user")
        .filter(
            Q(status=SubscriptionStatus.PAST_DUE)
            | (Q(status=SubscriptionStatus.ACTIVE, cancelled_at__isnull=True) & renewal_past_due)
        )
        .filter(Q(last_reminder_at__isnull=True) | Q(last_reminder_at__lt=today))
    )

    def handle(subscription: Subscription) -> bool:
        invoice = _invoice_to_pay(subscription)
        if invoice is None:
            return False
        subscription.last_reminder_at = now
        subscription.save(update_fields=["last_reminder_at", "updated_at"])
        grace_until = (
            subscription.expires_at + grace
            if subscription.status == SubscriptionStatus.PAST_DUE and subscription.expires_at
            else None
        )
        audit_record(
            action="subscription.payment_reminder",
            object_type="subscription",
            object_id=subscription.pk,
            subject_user_id=subscription.user_id,
            summary=f"Payment reminder for invoice {invoice.invoice_number} sent to "
            f"{subscription.user.email}",
            actor_type=ActorType.SYSTEM,
            actor_label=JOB_NAME,
            after={"last_reminder_at": now.isoformat(), "invoice_id": str(invoice.pk)},
        )
        transaction.on_commit(
            lambda: subscription_payment_reminder.send_robust(
                sender=Subscription,
                subscription=subscription,
                invoice=invoice,
                grace_until=grace_until,
            )
        )
        return True

    return run_per_row(queryset, handle, job=JOB_NAME, batch_size=batch_size)

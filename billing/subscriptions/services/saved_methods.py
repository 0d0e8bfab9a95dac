"""Payment methods a gateway keeps for off-session renewal charges."""

from __future__ import annotations

from django.db import transaction

from audit.models import ActorType
from audit.services import audit_record
from billing.invoices.models import Invoice, LineType
from billing.subscriptions.models import Subscription


def subscription_saved_method_store(
    *, invoice: Invoice, gateway: str, payment_method_id: str, customer_id: str | None
) -> list[Subscription]:
    """Stores the kept payment method on the subscriptions the paid invoice creates, renews or
    changes, so their renewals are charged off-session; a repeat with the same method changes
    nothing. Runs inside the capture transaction."""
    ids = {invoice.subscription_id} | {
        line.item_id
        for line in invoice.lines.all()
        if line.type == LineType.SUBSCRIPTION and line.item_id
    }
    ids.discard(None)
    changed = []
    with transaction.atomic():
        for subscription in Subscription.objects.select_for_update().filter(
            pk__in=ids, user_id=invoice.user_id
        ):
            before = {
                "saved_method_gateway": subscription.saved_method_gateway,
                "saved_method_id": subscription.saved_method_id,
                "saved_method_customer": subscription.saved_method_customer,
            }
            after = {
                "saved_method_gateway": gateway,
                "saved_method_id": payment_method_id,
                "saved_method_customer": customer_id,
            }
            if before == after:
                continue
            subscription.saved_method_gateway = gateway
            subscription.saved_method_id = payment_method_id
            subscription.saved_method_customer = customer_id
            subscription.save(
                update_fields=[
                    "saved_method_gateway",
                    "saved_method_id",
                    "saved_method_customer",
                    "updated_at",
                ]
            )
            audit_record(
                action="subscription.payment_method_saved",
                object_type="subscription",
                object_id=subscription.pk,
                subject_user_id=subscription.user_id,
                summary=(
                    f"{gateway} keeps a payment method for the renewals of this subscription "
                    f"(paid with {invoice.invoice_number})"
                ),
                actor_type=ActorType.PROVIDER,
                actor_label=gateway,
                before=before,
                after=after,
            )
            changed.append(subscription)
    return changed

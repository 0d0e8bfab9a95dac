"""Shapes of subscriptions and add-on subscriptions (API.md §2.6), with the PlanSummary and
AddOnSummary they embed (§2.3, §2.4).

Money strings use ``context["places"]`` (currency code → places, loaded once per call by the data
functions, as in ``billing.invoices.serializers``). For a constant query count, subscriptions come
from ``selectors.subscriptions_for_output`` (plans, categories and ``open_invoice_pk`` loaded) and
add-on subscriptions from ``selectors.addon_subscriptions_for_output``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog.models import AddOn, BillingPeriod, Plan
from billing.catalog.serializers.plans import CategoryRefSerializer, PlanRefSerializer
from billing.invoices.models import OPEN_STATUSES, Invoice
from billing.invoices.serializers import InvoiceRefSerializer, MoneyField, currency_places
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from platform_settings.selectors import platform_settings_get

SECONDS_PER_DAY = 86400


def _now(context) -> datetime.datetime:
    # One "now" per response, so every row is judged at the same moment.
    now = context.get("now")
    if now is None:
        now = context["now"] = timezone.now()
    return now


class PlanSummarySerializer(serializers.ModelSerializer):
    """PlanSummary (API.md §2.3): the plan as embedded in a subscription."""

    price = MoneyField()
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices, read_only=True)
    is_recurring = serializers.BooleanField(read_only=True)
    categories = CategoryRefSerializer(many=True, read_only=True)

    class Meta:
        model = Plan
        fields = [
            "id",
            "name",
            "slug",
            "price",
            "currency",
            "billing_period",
            "is_recurring",
            "categories",
        ]
        read_only_fields = fields


class AddOnSummarySerializer(serializers.ModelSerializer):
    """AddOnSummary (API.md §2.4)."""

    price = MoneyField()
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices, read_only=True)

    class Meta:
        model = AddOn
        fields = ["id", "name", "slug", "description", "price", "currency", "billing_period"]
        read_only_fields = fields


class SubscriptionSerializer(serializers.ModelSerializer):
    """Subscription (API.md §2.6)."""

    user_id = serializers.UUIDField(read_only=True)
    tarif_plan_id = serializers.UUIDField(source="plan_id", read_only=True)
    plan = PlanSummarySerializer(read_only=True)
    pending_plan_id = serializers.UUIDField(read_only=True, allow_null=True)
    pending_plan = PlanRefSerializer(read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices, read_only=True)
    is_valid = serializers.SerializerMethodField()
    is_trialing = serializers.SerializerMethodField()
    is_recurring = serializers.BooleanField(read_only=True)
    days_remaining = serializers.SerializerMethodField()
    current_period_end = serializers.DateTimeField(
        source="expires_at", read_only=True, allow_null=True
    )
    grace_until = serializers.SerializerMethodField()
    open_invoice_id = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = [
            "id",
            "user_id",
            "tarif_plan_id",
            "plan",
            "pending_plan_id",
            "pending_plan",
            "status",
            "is_valid",
            "is_trialing",
            "is_recurring",
            "days_remaining",
            "started_at",
            "current_period_start",
            "current_period_end",
            "expires_at",
            "trial_end_at",
            "cancelled_at",
            "paused_at",
            "grace_until",
            "payment_method",
            "open_invoice_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_is_valid(self, subscription: Subscription) -> bool:
        """Access right now (DOMAIN §4)."""
        return subscription.is_valid_at(_now(self.context))

    def get_is_trialing(self, subscription: Subscription) -> bool:
        return subscription.status == SubscriptionStatus.TRIALING

    @extend_schema_field(
        serializers.IntegerField(
            allow_null=True, help_text="whole days until expires_at, never negative"
        )
    )
    def get_days_remaining(self, subscription: Subscription) -> int | None:
        if subscription.expires_at is None:
            return None
        seconds = (subscription.expires_at - _now(self.context)).total_seconds()
        return max(int(seconds // SECONDS_PER_DAY), 0)

    @extend_schema_field(
        serializers.DateTimeField(
            allow_null=True, help_text="only while PAST_DUE: expires_at + the grace period"
        )
    )
    def get_grace_until(self, subscription: Subscription) -> str | None:
        if subscription.status != SubscriptionStatus.PAST_DUE or subscription.expires_at is None:
            return None
        days = platform_settings_get().grace_period_days
        until = subscription.expires_at + datetime.timedelta(days=days)
        return serializers.DateTimeField().to_representation(until)

    @extend_schema_field(
        serializers.UUIDField(
            allow_null=True,
            help_text="the most recent PENDING or OVERDUE invoice of this subscription",
        )
    )
    def get_open_invoice_id(self, subscription: Subscription) -> str | None:
        if hasattr(subscription, "open_invoice_pk"):
            pk = subscription.open_invoice_pk
        else:  # not annotated (selectors.subscriptions_for_output): one query for this row
            pk = (
                Invoice.objects.filter(subscription_id=subscription.pk, status__in=OPEN_STATUSES)
                .order_by("-invoiced_at", "-invoice_number")
                .values_list("pk", flat=True)
                .first()
            )
        return str(pk) if pk is not None else None


class AddOnSubscriptionSerializer(serializers.ModelSerializer):
    """AddOnSubscription (API.md §2.6)."""

    user_id = serializers.UUIDField(read_only=True)
    addon_id = serializers.UUIDField(read_only=True)
    addon = AddOnSummarySerializer(read_only=True)
    subscription_id = serializers.UUIDField(read_only=True, allow_null=True)
    invoice_id = serializers.UUIDField(read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=AddOnSubscriptionStatus.choices, read_only=True)
    is_valid = serializers.SerializerMethodField()

    class Meta:
        model = AddOnSubscription
        fields = [
            "id",
            "user_id",
            "addon_id",
            "addon",
            "subscription_id",
            "invoice_id",
            "status",
            "is_valid",
            "starts_at",
            "expires_at",
            "cancelled_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_is_valid(self, item: AddOnSubscription) -> bool:
        """ACTIVE (and not past its end), or CANCELLED with ``expires_at`` in the future."""
        return item.is_valid_at(_now(self.context))


class AddOnSubscriptionDetailSerializer(AddOnSubscriptionSerializer):
    """AddOnSubscription in detail responses: + ``invoice`` (InvoiceRef or null)."""

    invoice = InvoiceRefSerializer(read_only=True, allow_null=True)

    class Meta(AddOnSubscriptionSerializer.Meta):
        fields = [*AddOnSubscriptionSerializer.Meta.fields, "invoice"]
        read_only_fields = fields


# --- data functions -----------------------------------------------------------------------------


def _context(places: dict[str, int] | None) -> dict:
    return {"places": places if places is not None else currency_places(), "now": timezone.now()}


def subscription_data(subscription: Subscription, *, places: dict[str, int] | None = None) -> dict:
    """One subscription in the API shape."""
    return SubscriptionSerializer(subscription, context=_context(places)).data


def subscriptions_data(
    subscriptions: Iterable[Subscription], *, places: dict[str, int] | None = None
) -> list:
    """Subscriptions in the API shape; currencies read once, whatever the count."""
    subscriptions = list(subscriptions)
    if not subscriptions:
        return []
    return SubscriptionSerializer(subscriptions, many=True, context=_context(places)).data


def addon_subscription_data(
    item: AddOnSubscription, *, detail: bool = False, places: dict[str, int] | None = None
) -> dict:
    """One add-on subscription; ``detail`` adds ``invoice`` (select it with the row)."""
    serializer = AddOnSubscriptionDetailSerializer if detail else AddOnSubscriptionSerializer
    return serializer(item, context=_context(places)).data


def addon_subscriptions_data(
    items: Iterable[AddOnSubscription],
    *,
    detail: bool = False,
    places: dict[str, int] | None = None,
) -> list:
    """Add-on subscriptions in the API shape; currencies read once, whatever the count."""
    items = list(items)
    if not items:
        return []
    serializer = AddOnSubscriptionDetailSerializer if detail else AddOnSubscriptionSerializer
    return serializer(items, many=True, context=_context(places)).data

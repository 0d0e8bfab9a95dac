"""Shapes of subscriptions and add-on subscriptions, with the PlanSummary and
AddOnSummary they embed.

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
from billing.coupons.serializers import PublicCouponSerializer
from billing.invoices.models import (
    OPEN_STATUSES,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineType,
    Payment,
)
from billing.invoices.serializers import (
    InvoiceRefSerializer,
    MoneyField,
    PaymentSerializer,
    currency_places_by_code,
)
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from platform_settings.selectors import platform_settings_get
from vbwd.output import OutputModelSerializer, OutputSerializer

SECONDS_PER_DAY = 86400


def _now(context) -> datetime.datetime:
    # One "now" per response, so every row is judged at the same moment.
    now = context.get("now")
    if now is None:
        now = context["now"] = timezone.now()
    return now


class PlanSummarySerializer(OutputModelSerializer):
    """PlanSummary: the plan as embedded in a subscription."""

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


class AddOnSummarySerializer(OutputModelSerializer):
    """AddOnSummary."""

    price = MoneyField()
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices, read_only=True)

    class Meta:
        model = AddOn
        fields = ["id", "name", "slug", "description", "price", "currency", "billing_period"]
        read_only_fields = fields


class SubscriptionDiscountSerializer(serializers.Serializer):
    """A recurring discount: the coupon, the renewals it still discounts (null: every one)."""

    coupon = PublicCouponSerializer(source="discount_coupon", read_only=True)
    periods_remaining = serializers.IntegerField(
        source="discount_periods_remaining", read_only=True, allow_null=True
    )
    started_at = serializers.DateTimeField(source="discount_started_at", read_only=True)


class SubscriptionSerializer(OutputModelSerializer):
    """Subscription."""

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
    discount = serializers.SerializerMethodField()

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
            "discount",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(SubscriptionDiscountSerializer(allow_null=True))
    def get_discount(self, subscription: Subscription) -> dict | None:
        if not subscription.has_discount:
            return None
        return SubscriptionDiscountSerializer(subscription, context=self.context).data

    def get_is_valid(self, subscription: Subscription) -> bool:
        """Access right now."""
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


class AddOnSubscriptionSerializer(OutputModelSerializer):
    """AddOnSubscription."""

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
    return {
        "places": places if places is not None else currency_places_by_code(),
        "now": timezone.now(),
    }


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


# --- admin variants -----------------------------------------------------------------------------


class AdminSubscriptionSerializer(SubscriptionSerializer):
    """Subscription in admin lists: + ``user_email``, ``user_name``, ``plan_name``."""

    user_email = serializers.EmailField(source="user.email", read_only=True)
    user_name = serializers.CharField(source="user.display_name", read_only=True, allow_null=True)
    plan_name = serializers.CharField(source="plan.name", read_only=True)

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "user_email", "user_name", "plan_name"]
        read_only_fields = fields


class AdminSubscriptionDetailSerializer(AdminSubscriptionSerializer):
    """The admin detail: + the plan's description, price and period, the payments of the
    subscription's invoices (newest first), its invoices (InvoiceRef, newest first) and its
    add-ons. Context: ``payments``, ``invoices`` and ``addons`` (lists)."""

    plan_description = serializers.CharField(
        source="plan.description", read_only=True, allow_null=True
    )
    plan_price = MoneyField(source="plan.price", currency_source="plan.currency")
    # A CharField: a second ChoiceField over BillingPeriod would name a second schema enum.
    plan_billing_period = serializers.CharField(
        source="plan.billing_period", read_only=True, help_text="BillingPeriod"
    )
    payment_history = serializers.SerializerMethodField()
    invoices = serializers.SerializerMethodField()
    addons = serializers.SerializerMethodField()

    class Meta(AdminSubscriptionSerializer.Meta):
        fields = [
            *AdminSubscriptionSerializer.Meta.fields,
            "plan_description",
            "plan_price",
            "plan_billing_period",
            "payment_history",
            "invoices",
            "addons",
        ]
        read_only_fields = fields

    @extend_schema_field(PaymentSerializer(many=True))
    def get_payment_history(self, subscription: Subscription) -> list:
        return PaymentSerializer(self.context["payments"], many=True, context=self.context).data

    @extend_schema_field(InvoiceRefSerializer(many=True))
    def get_invoices(self, subscription: Subscription) -> list:
        return InvoiceRefSerializer(self.context["invoices"], many=True, context=self.context).data

    @extend_schema_field(AddOnSubscriptionSerializer(many=True))
    def get_addons(self, subscription: Subscription) -> list:
        items = self.context["addons"]
        return AddOnSubscriptionSerializer(items, many=True, context=self.context).data


class InvoiceStampSerializer(OutputSerializer):
    """``{id, invoice_number, created_at}`` of an invoice (admin per-user add-on list)."""

    id = serializers.UUIDField()
    invoice_number = serializers.CharField()
    created_at = serializers.DateTimeField()


class AdminUserAddOnSubscriptionSerializer(AddOnSubscriptionSerializer):
    """AddOnSubscription in the admin per-user list: + ``addon_name``, ``invoice_status`` (of
    its invoice), ``first_invoice`` and ``last_invoice`` (the invoices that billed it). Context:
    ``stamps`` (add-on subscription id → (first, last) stamps)."""

    addon_name = serializers.CharField(source="addon.name", read_only=True)
    invoice_status = serializers.SerializerMethodField()
    first_invoice = serializers.SerializerMethodField()
    last_invoice = serializers.SerializerMethodField()

    class Meta(AddOnSubscriptionSerializer.Meta):
        fields = [
            *AddOnSubscriptionSerializer.Meta.fields,
            "addon_name",
            "invoice_status",
            "first_invoice",
            "last_invoice",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=InvoiceStatus.choices, allow_null=True))
    def get_invoice_status(self, item: AddOnSubscription) -> str | None:
        return item.invoice.status if item.invoice_id is not None else None

    def _stamp(self, item: AddOnSubscription, index: int) -> dict | None:
        stamps = self.context["stamps"].get(item.pk)
        return InvoiceStampSerializer(stamps[index]).data if stamps else None

    @extend_schema_field(InvoiceStampSerializer(allow_null=True))
    def get_first_invoice(self, item: AddOnSubscription) -> dict | None:
        return self._stamp(item, 0)

    @extend_schema_field(InvoiceStampSerializer(allow_null=True))
    def get_last_invoice(self, item: AddOnSubscription) -> dict | None:
        return self._stamp(item, -1)


def admin_subscriptions_data(subscriptions: Iterable[Subscription]) -> list:
    """Subscriptions in the admin list shape (select the user and details with them)."""
    subscriptions = list(subscriptions)
    if not subscriptions:
        return []
    return AdminSubscriptionSerializer(subscriptions, many=True, context=_context(None)).data


def admin_subscription_data(subscription: Subscription, *, detail: bool = False) -> dict:
    """One subscription in the admin shape; ``detail`` reads its invoices, their payments and
    its add-ons (three queries, whatever their number)."""
    context = _context(None)
    if not detail:
        return AdminSubscriptionSerializer(subscription, context=context).data
    context["invoices"] = list(
        Invoice.objects.filter(subscription_id=subscription.pk).order_by(
            "-invoiced_at", "-invoice_number"
        )
    )
    context["payments"] = list(
        Payment.objects.filter(invoice__subscription_id=subscription.pk).order_by(
            "-created_at", "-pk"
        )
    )
    context["addons"] = list(
        AddOnSubscription.objects.filter(subscription=subscription)
        .select_related("addon")
        .order_by("-created_at", "-pk")
    )
    return AdminSubscriptionDetailSerializer(subscription, context=context).data


def _invoice_stamps(items: list[AddOnSubscription]) -> dict:
    """Add-on subscription id → (first, last) invoice that billed it, by issue time."""
    rows = (
        InvoiceLine.objects.filter(type=LineType.ADD_ON, item_id__in=[item.pk for item in items])
        .order_by("invoice__invoiced_at", "invoice__invoice_number")
        .values("item_id", "invoice_id", "invoice__invoice_number", "invoice__created_at")
    )
    stamps: dict = {}
    for row in rows:
        stamp = {
            "id": row["invoice_id"],
            "invoice_number": row["invoice__invoice_number"],
            "created_at": row["invoice__created_at"],
        }
        found = stamps.setdefault(row["item_id"], [])
        if not found or found[-1]["id"] != stamp["id"]:
            found.append(stamp)
    return stamps


def admin_user_addon_subscriptions_data(items: Iterable[AddOnSubscription]) -> list:
    """Add-on subscriptions in the admin per-user shape (select the add-on and invoice with
    them); the invoices that billed them are read in one query."""
    items = list(items)
    if not items:
        return []
    context = {**_context(None), "stamps": _invoice_stamps(items)}
    return AdminUserAddOnSubscriptionSerializer(items, many=True, context=context).data


def admin_user_addon_subscription_data(item: AddOnSubscription) -> dict:
    """One add-on subscription in the admin per-user shape."""
    return admin_user_addon_subscriptions_data([item])[0]

"""Plan changes of the caller's subscriptions: proration preview, upgrade, scheduled
downgrade and cancelling it. Another user's subscription answers 404 like an unknown one.

The Proration and ProrationLine shapes are defined here with their data function.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog.pricing import format_money
from billing.catalog.serializers.plans import PlanRefSerializer
from billing.invoices.models import LineType
from billing.invoices.selectors import invoices_base
from billing.invoices.serializers import InvoiceSerializer, currency_places_by_code, invoice_data
from billing.subscriptions.models import Subscription
from billing.subscriptions.selectors import subscriptions_for_output
from billing.subscriptions.serializers import SubscriptionSerializer, subscription_data
from billing.subscriptions.services.plan_change import (
    MESSAGE_DOWNGRADE_CLEARED,
    MESSAGE_DOWNGRADE_SCHEDULED,
    MESSAGE_UPGRADE_INVOICED,
    MESSAGE_UPGRADED,
    subscription_cancel_downgrade,
    subscription_downgrade,
    subscription_upgrade,
)
from billing.subscriptions.services.proration import Proration, proration_preview
from vbwd.api import ApiView, UserMixin
from vbwd.exceptions import NotFound
from vbwd.fields import UUIDField
from vbwd.schema import errors

TAGS = ["user: subscriptions"]
NOT_FOUND = "Subscription not found"
PERCENT = Decimal("0.01")
MONEY = "money: decimal string with the currency's places"


# --- shapes ---------------------------------------------------------------------------------------


class ProrationLineSerializer(serializers.Serializer):
    """ProrationLine: one line of the plan-change invoice as it would be issued."""

    type = serializers.ChoiceField(choices=[LineType.SUBSCRIPTION, LineType.PRORATION])
    description = serializers.CharField()
    explanation = serializers.CharField(help_text='e.g. "Unused time on Basic, 12 d 7 h of 31 d"')
    quantity = serializers.IntegerField()
    unit_price = serializers.CharField(help_text=f"{MONEY}; net, negative for PRORATION")
    amount = serializers.CharField(help_text=f"{MONEY}; net line total")
    tax_rate = serializers.CharField(help_text="percent: two decimals, e.g. 19.00")
    tax_amount = serializers.CharField(help_text=MONEY)
    gross_amount = serializers.CharField(help_text=MONEY)
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)


class ProrationSerializer(serializers.Serializer):
    """Proration: the basis of the plan-change invoice."""

    subscription_id = serializers.UUIDField()
    current_plan = PlanRefSerializer()
    new_plan = PlanRefSerializer()
    currency = serializers.CharField()
    period_start = serializers.DateTimeField(help_text="start of the current period")
    period_end = serializers.DateTimeField(help_text="end of the current period")
    period_seconds = serializers.IntegerField()
    remaining_seconds = serializers.IntegerField()
    days_remaining = serializers.IntegerField(help_text="floor(remaining_seconds / 86400)")
    credit = serializers.CharField(help_text=f"{MONEY}; current price × remaining ÷ period")
    credit_applied = serializers.CharField(help_text=f"{MONEY}; min(credit, new plan price)")
    new_price = serializers.CharField(help_text=f"{MONEY}; new plan net price")
    subtotal = serializers.CharField(help_text=MONEY)
    tax_amount = serializers.CharField(help_text=MONEY)
    amount_due = serializers.CharField(help_text=f"{MONEY}; gross total, never negative")
    lines = ProrationLineSerializer(many=True)
    tokens_granted = serializers.IntegerField(
        help_text="plan tokens the change grants when paid: the new plan's default_tokens less "
        "round(current plan's default_tokens × remaining ÷ period), never below 0"
    )


def _plan_ref(plan) -> dict:
    return {"id": str(plan.pk), "name": plan.name, "slug": plan.slug}


def proration_data(proration: Proration) -> dict:
    """A Proration in the API shape (money with the currency's places)."""
    places = proration.places
    date_time = serializers.DateTimeField()

    def money(amount) -> str:
        return format_money(amount, places)

    def moment(value) -> str | None:
        return date_time.to_representation(value) if value is not None else None

    return {
        "subscription_id": str(proration.subscription_id),
        "current_plan": _plan_ref(proration.current_plan),
        "new_plan": _plan_ref(proration.new_plan),
        "currency": proration.currency,
        "period_start": moment(proration.period_start),
        "period_end": moment(proration.period_end),
        "period_seconds": proration.period_seconds,
        "remaining_seconds": proration.remaining_seconds,
        "days_remaining": proration.days_remaining,
        "credit": money(proration.credit),
        "credit_applied": money(proration.credit_applied),
        "new_price": money(proration.new_price),
        "subtotal": money(proration.subtotal),
        "tax_amount": money(proration.tax_amount),
        "amount_due": money(proration.amount_due),
        "lines": [
            {
                "type": line.type,
                "description": line.description,
                "explanation": line.explanation,
                "quantity": line.quantity,
                "unit_price": money(line.unit_price),
                "amount": money(line.amount),
                "tax_rate": str(Decimal(line.tax_rate).quantize(PERCENT)),
                "tax_amount": money(line.tax_amount),
                "gross_amount": money(line.gross_amount),
                "period_start": moment(line.period_start),
                "period_end": moment(line.period_end),
            }
            for line in proration.lines
        ],
        "tokens_granted": proration.tokens_granted,
    }


class ProrationEnvelopeSerializer(serializers.Serializer):
    proration = ProrationSerializer()


class PlanIdField(UUIDField):
    """The target plan's id; an id of blanks counts as missing."""

    def validate_empty_values(self, data):
        if isinstance(data, str) and not data.strip():
            data = ""
        return super().validate_empty_values(data)


class MethodCodeField(serializers.CharField):
    """A payment method code as given (the service strips it to look it up); any other JSON
    value is read as its text, so it is reported as a method that was not found, after the
    plan-change checks."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        return data if isinstance(data, str) else str(data)


class ProrationQuerySerializer(serializers.Serializer):
    new_plan_id = PlanIdField(
        error_messages={"invalid": "Invalid plan_id format"},
        help_text="uuid of the target plan",
    )


@extend_schema_serializer(component_name="Upgrade")  # the schema's name for it
class UpgradeInputSerializer(serializers.Serializer):
    """The upgrade body; the plan-change checks follow in the service."""

    plan_id = PlanIdField()
    payment_method_code = MethodCodeField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="default: the subscription's method, else the default method",
    )


@extend_schema_serializer(component_name="Downgrade")
class DowngradeInputSerializer(serializers.Serializer):
    plan_id = PlanIdField(help_text="the current plan clears a scheduled downgrade")


class UpgradeResponseSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer()
    invoice = InvoiceSerializer()
    proration = ProrationSerializer()
    message = serializers.CharField(help_text=f"{MESSAGE_UPGRADED} · {MESSAGE_UPGRADE_INVOICED}")


class DowngradeResponseSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer()
    message = serializers.CharField(
        help_text=f"{MESSAGE_DOWNGRADE_SCHEDULED} · {MESSAGE_DOWNGRADE_CLEARED}"
    )


# --- views ----------------------------------------------------------------------------------------


def _own_subscription(user, subscription_id) -> Subscription:
    """The caller's subscription (with what a preview reads); 404 for others' and unknown."""
    subscription = (
        Subscription.objects.select_related("plan", "user", "user__details")
        .filter(pk=subscription_id, user=user)
        .first()
    )
    if subscription is None:
        raise NotFound(NOT_FOUND)
    return subscription


def _own_subscription_id(user, subscription_id):
    if not Subscription.objects.filter(pk=subscription_id, user=user).exists():
        raise NotFound(NOT_FOUND)
    return subscription_id


def _subscription_output(subscription_id, places: dict[str, int]) -> dict:
    subscription = subscriptions_for_output(Subscription.objects.filter(pk=subscription_id)).get()
    return subscription_data(subscription, places=places)


class ProrationView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Preview an upgrade: exactly the lines its invoice would carry now",
        description="Nothing is written. The plan-change checks apply.",
        parameters=[ProrationQuerySerializer],
        responses={200: ProrationEnvelopeSerializer, **errors(400, 401, 404)},
    )
    def get(self, request, subscription_id):
        subscription = _own_subscription(request.user, subscription_id)
        query = ProrationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        proration = proration_preview(
            subscription=subscription, new_plan_id=query.validated_data["new_plan_id"]
        )
        return Response({"proration": proration_data(proration)})


class UpgradeView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Upgrade now: issue the PLAN_CHANGE invoice (paid at once when it is zero)",
        request=UpgradeInputSerializer,
        responses={200: UpgradeResponseSerializer, **errors(400, 401, 404)},
    )
    def post(self, request, subscription_id):
        _own_subscription_id(request.user, subscription_id)
        serializer = UpgradeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = subscription_upgrade(
            subscription_id=subscription_id,
            actor=request.user,
            plan_id=data["plan_id"],
            payment_method_code=data.get("payment_method_code"),
        )
        places = currency_places_by_code()
        invoice = invoices_base().get(pk=result.invoice.pk)
        return Response(
            {
                "subscription": _subscription_output(result.subscription.pk, places),
                "invoice": invoice_data(invoice, places=places),
                "proration": proration_data(result.proration),
                "message": result.message,
            }
        )


class DowngradeView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Schedule a plan for the next renewal (the current plan clears the schedule)",
        request=DowngradeInputSerializer,
        responses={200: DowngradeResponseSerializer, **errors(400, 401, 404)},
    )
    def post(self, request, subscription_id):
        _own_subscription_id(request.user, subscription_id)
        serializer = DowngradeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription, message = subscription_downgrade(
            subscription_id=subscription_id,
            actor=request.user,
            plan_id=serializer.validated_data["plan_id"],
        )
        return Response(
            {
                "subscription": _subscription_output(subscription.pk, currency_places_by_code()),
                "message": message,
            }
        )


class CancelDowngradeView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Clear a scheduled downgrade",
        request=None,
        responses={200: DowngradeResponseSerializer, **errors(400, 401, 404)},
    )
    def post(self, request, subscription_id):
        _own_subscription_id(request.user, subscription_id)
        subscription = subscription_cancel_downgrade(
            subscription_id=subscription_id, actor=request.user
        )
        return Response(
            {
                "subscription": _subscription_output(subscription.pk, currency_places_by_code()),
                "message": MESSAGE_DOWNGRADE_CLEARED,
            }
        )

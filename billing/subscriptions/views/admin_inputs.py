"""The input serializers of the staff subscription endpoints and the per-user add-on routes."""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from django.db import models
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.subscriptions import selectors
from billing.subscriptions.models import SubscriptionStatus
from billing.subscriptions.services.lifecycle import MAX_EXTEND_DAYS, MIN_EXTEND_DAYS
from billing.subscriptions.services.staff_create import MAX_BILLING_PERIOD_MONTHS
from billing.subscriptions.views.inputs import (
    MAX_REASON_LENGTH,
    PassedMoneyField,
    PassedUUIDField,
    PassedValueField,
    StatusFilterField,
)
from vbwd.fields import (
    OrderingField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictDateTimeField,
    StrictIntegerField,
    UUIDField,
)

ORDERING = ("created_at", "expires_at", "status")

UUID_FILTER_MESSAGES = {"invalid": "{name} must be a valid UUID"}


def _reason() -> StrictCharField:
    """An optional reason: null and blank mean none; trimmed."""
    return StrictCharField(required=False, empty_as_none=True, max_length=MAX_REASON_LENGTH)


def _flag(help_text: str) -> StrictBooleanField:
    """true / false (also "true", "1", "yes" …); null and blank mean false."""
    return StrictBooleanField(
        required=False,
        allow_null=True,
        accept_strings=True,
        blank_as_null=True,
        help_text=help_text,
    )


def _moment(help_text: str) -> StrictDateTimeField:
    """An ISO-8601 datetime, UTC without an offset; null and blank mean not given."""
    return StrictDateTimeField(
        required=False, allow_null=True, blank_as_null=True, help_text=help_text
    )


class AdminSubscriptionsQuerySerializer(serializers.Serializer):
    """The list filters, checked in this order (then the pagination parameters)."""

    status = StatusFilterField(
        read_status=selectors.subscription_status_filter,
        statuses=SubscriptionStatus,
        required=False,
        allow_blank=True,
        help_text="SubscriptionStatus (any case)",
    )
    user_id = UUIDField(required=False, blank_as_null=True, error_messages=UUID_FILTER_MESSAGES)
    plan_id = UUIDField(required=False, blank_as_null=True, error_messages=UUID_FILTER_MESSAGES)
    plan = StrictCharField(
        required=False, allow_blank=True, help_text="plan name, exact, case-insensitive"
    )
    search = StrictCharField(required=False, allow_blank=True, help_text="user email")
    ordering = OrderingField(
        allowed=ORDERING,
        default="-created_at",
        help_text="created_at, expires_at or status; - for descending (default -created_at)",
    )


class SubscriptionExtendRequestSerializer(serializers.Serializer):
    days = StrictIntegerField(
        required=False,
        allow_null=True,
        blank_as_null=True,
        accept_integral=True,
        min_value=MIN_EXTEND_DAYS,
        max_value=MAX_EXTEND_DAYS,
        error_messages={"invalid": "{name} must be an integer between {min_value} and {max_value}"},
        help_text="default 30",
    )
    until = _moment("later than expires_at")
    reason = _reason()


class StaffCancelRequestSerializer(serializers.Serializer):
    reason = _reason()
    immediate = _flag("default false")


class AddOnCancelRequestSerializer(serializers.Serializer):
    immediate = _flag("default false")
    reason = _reason()


class SubscriptionActivateRequestSerializer(serializers.Serializer):
    reason = _reason()


class SubscriptionRefundRequestSerializer(serializers.Serializer):
    amount = PassedMoneyField(required=False, help_text="money; default: full refund")
    reason = _reason()
    force = _flag("claw back the tokens available when the balance is short")


class AddOnGrantRequestSerializer(serializers.Serializer):
    # The add-on and the subscription are looked up (and refused) by the service; a missing
    # add-on is reported after the fields before it.
    subscription_id = PassedUUIDField(required=False)
    expires_at = _moment("default: now + the add-on's period; null for ONE_TIME")
    reason = _reason()
    addon_id = PassedUUIDField(error_messages={"required": "addon_id is required"})


# --- staff creation ---------------------------------------------------------------------------


class StaffCreateStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    TRIALING = "TRIALING"
    PENDING = "PENDING"


# Read only for a complimentary (ACTIVE) subscription; the other statuses ignore them.
ACTIVE_ONLY_FIELDS = ("started_at", "expires_at", "billing_period_months", "grant_tokens")


@extend_schema_field(OpenApiTypes.STR)
class CreateStatusField(StrictChoiceField):
    """active, trialing or pending, any case; blank means active."""

    def __init__(self, **kwargs):
        super().__init__(
            StaffCreateStatus,
            required=False,
            allow_null=True,
            blank_as_null=True,
            error_messages={"invalid_choice": "Unknown status: {input}"},
            **kwargs,
        )


def _uuid_messages(name: str) -> dict:
    return {
        "required": f"{name} is required",
        "null": f"{name} is required",
        "invalid": f"{name} must be a valid UUID",
    }


class StaffSubscriptionCreateInputSerializer(serializers.Serializer):
    """The fields in the order they are checked; the user and the plan are then looked up (and
    refused) by the service, which also keeps the rules that need them or the clock's now: an
    explicit end in the future, a computed period not already over, trials and the payment
    method. A body that is not an object reads as empty; ``tarif_plan_id`` stands in for a blank
    ``plan_id``; a reason that is not text is ignored and a long one cut at 500 characters (a
    text is still held to the rules of every text field)."""

    user_id = UUIDField(error_messages=_uuid_messages("user_id"))
    plan_id = UUIDField(error_messages=_uuid_messages("plan_id"), help_text="alias tarif_plan_id")
    tarif_plan_id = UUIDField(required=False, help_text="alias of plan_id, read when it is blank")
    status = CreateStatusField(help_text="ACTIVE (default), TRIALING or PENDING, any case")
    started_at = StrictDateTimeField(
        required=False,
        allow_null=True,
        blank_as_null=True,
        help_text="active only; default now, not in the future",
    )
    expires_at = StrictDateTimeField(
        required=False,
        allow_null=True,
        blank_as_null=True,
        help_text="active only; overrides the computed period end",
    )
    billing_period_months = StrictIntegerField(
        required=False,
        allow_null=True,
        blank_as_null=True,
        accept_integral=True,
        min_value=1,
        max_value=MAX_BILLING_PERIOD_MONTHS,
        error_messages={"invalid": "{name} must be an integer between {min_value} and {max_value}"},
        help_text="active only",
    )
    grant_tokens = StrictBooleanField(
        required=False,
        allow_null=True,
        accept_strings=True,
        blank_as_null=True,
        help_text="active only; default true",
    )
    payment_method_code = PassedValueField(
        required=False, help_text="trialing / pending: method of the issued invoice"
    )
    reason = StrictCharField(required=False, allow_null=True, allow_blank=True, multiline=True)

    def to_internal_value(self, data):
        values = dict(data.items()) if isinstance(data, Mapping) else {}
        if values.get("plan_id") in (None, "") and values.get("tarif_plan_id") not in (None, ""):
            values["plan_id"] = values["tarif_plan_id"]
        values.pop("tarif_plan_id", None)
        reason = values.pop("reason", None)
        if _status_given(values.get("status")) not in (None, StaffCreateStatus.ACTIVE):
            for name in ACTIVE_ONLY_FIELDS:
                values.pop(name, None)
        text, refused = "", {}
        if isinstance(reason, str):
            try:
                text = self.fields["reason"].run_validation(reason)[:MAX_REASON_LENGTH]
            except serializers.ValidationError as error:
                refused["reason"] = error.detail
        try:
            validated = super().to_internal_value(values)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({**error.detail, **refused}) from None
        if refused:
            raise serializers.ValidationError(refused)
        validated["status"] = validated.get("status") or StaffCreateStatus.ACTIVE
        validated["reason"] = text or None
        return validated

    def validate_started_at(self, value: datetime.datetime | None):
        if value is not None and value > timezone.now():
            raise serializers.ValidationError("started_at cannot be in the future")
        return value


def _status_given(value) -> str | None:
    """The status the body asks for when it is a valid one, else None."""
    if not isinstance(value, str):
        return None
    wanted = value.strip().upper()
    return wanted if wanted in StaffCreateStatus.values else None

"""Input of the plan, category and add-on endpoints (and of their back-office forms) and the
query strings of the catalog lists."""

from __future__ import annotations

import re
import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog import selectors
from billing.catalog.models import BillingPeriod, Currency
from vbwd.exceptions import ValidationFailed
from vbwd.fields import (
    MoneyField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
    UUIDField,
)
from vbwd.fields.ids import uuid_from_text
from vbwd.fields.numbers import INTEGER_COLUMN

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MESSAGE = "Slug must be lower-case letters and digits separated by single dashes (at most 100)"
# Well-known feature keys that must be whole numbers >= 0.
INTEGER_FEATURES = ("default_tokens", "daily_taro_limit", "max_taro_follow_ups")
FEATURES_MESSAGE = "features must be an object or a list of strings"
INVALID_PLANS = "One or more tariff plan IDs are invalid"
PLAN_IDS_REQUIRED = "plan_ids is required"
# Fields whose null means "not given".
NULL_MEANS_ABSENT = (
    "slug",
    "billing_period",
    "is_active",
    "sort_order",
    "trial_days",
    "features",
    "config",
    "category_ids",
    "tarif_plan_ids",
    "is_single",
)


def slug_from(name: str) -> str:
    """Lower-case, runs of anything but letters and digits become one dash."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:100].strip("-") or "item"


def _from_domain(error: ValidationFailed) -> serializers.ValidationError:
    return serializers.ValidationError(error.message)


def _name(max_length: int) -> StrictCharField:
    return StrictCharField(
        max_length=max_length,
        error_messages={"required": "Name is required", "null": "Name is required",
                        "blank": "Name is required", "invalid": "Name must be a string",
                        "max_length": "Name must be at most {max_length} characters"},
    )  # fmt: skip


def _update_name(max_length: int) -> StrictCharField:
    # A null name on update is passed on as given (the row refuses it).
    return StrictCharField(
        required=False,
        allow_null=True,
        max_length=max_length,
        error_messages={"blank": "Name cannot be empty", "invalid": "Name must be a string",
                        "max_length": "Name must be at most {max_length} characters"},
    )  # fmt: skip


class SlugField(StrictCharField):
    """Lower-case letters and digits separated by single dashes, at most 100 characters."""

    default_error_messages = {"invalid": SLUG_MESSAGE, "blank": SLUG_MESSAGE}

    def __init__(self, **kwargs):
        super().__init__(required=False, empty_as_none=True, **kwargs)

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if not SLUG_PATTERN.match(value) or len(value) > 100:
            self.fail("invalid")
        return value


@extend_schema_field(OpenApiTypes.STR)
class CurrencyCodeField(serializers.Field):
    """An active currency's code (any case); empty means the default currency."""

    def to_internal_value(self, data) -> Currency:
        try:
            return selectors.active_currency(data if data != "" else None)
        except ValidationFailed as error:
            self.parent._refused = {*getattr(self.parent, "_refused", set()), self.field_name}
            raise _from_domain(error) from None

    def to_representation(self, value) -> str:
        return str(value)


class FlatUUIDListField(serializers.ListField):
    """A list of ids with one message for anything malformed (``message`` may name the item
    as ``{item}``)."""

    child = serializers.UUIDField()

    def __init__(self, *, message: str, not_a_list: str | None = None, **kwargs):
        self.message = message
        self.not_a_list = not_a_list or message
        self.required_non_empty = kwargs.pop("required_non_empty", False)
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        if self.required_non_empty and (data is serializers.empty or data is None or data == []):
            raise serializers.ValidationError(self.not_a_list)
        return super().run_validation(data)

    def to_internal_value(self, data) -> list[uuid.UUID]:
        if not isinstance(data, list) or (self.required_non_empty and not data):
            raise serializers.ValidationError(self.not_a_list)
        ids = []
        for item in data:
            found = uuid_from_text(item) if isinstance(item, str) else None
            if found is None:
                raise serializers.ValidationError(self.message.format(item=item))
            ids.append(found)
        return ids


def _flag() -> StrictBooleanField:
    return StrictBooleanField(required=False, allow_null=True, accept_strings=True)


def _integer(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(required=False, allow_null=True, **kwargs)


class PricedItemInputSerializer(serializers.Serializer):
    """The fields plans and add-ons share. On create (no ``current`` row in the context) name
    and price are required, the currency defaults to the default one, the slug is derived from
    the name and the billing period is monthly; on update only given keys change."""

    NAME_LENGTH = 100

    name = _name(100)
    currency = CurrencyCodeField(required=False, help_text="code; default: the default currency")
    price = MoneyField(
        blank_as_null=True,
        negative_first=True,
        quantize=False,
        error_messages={"required": "Price is required", "null": "Price is required",
                        "invalid": "Invalid price", "negative": "Price cannot be negative",
                        "places": "Price must have at most {places} decimal places"},
    )  # fmt: skip
    slug = SlugField()
    description = StrictCharField(required=False, empty_as_none=True, multiline=True)
    billing_period = StrictChoiceField(
        BillingPeriod,
        required=False,
        allow_null=True,
        error_messages={"invalid_choice": "Invalid billing period: {input}"},
    )
    is_active = _flag()
    sort_order = _integer()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"] = (
            _name(self.NAME_LENGTH) if self._creating else _update_name(self.NAME_LENGTH)
        )
        if not self._creating:
            self.fields["price"].required = False
            self.fields["price"].allow_null = True
        self.fields["price"].places = self._price_places
        self._currency: Currency | None = None

    @property
    def _creating(self) -> bool:
        return self.context.get("current") is None

    def _chosen_currency(self) -> Currency:
        """The currency of the given prices: the one sent, else the row's (which must still be
        offered), else the default one. An unusable currency is a ``ValidationFailed``."""
        if self._currency is None:
            current = self.context.get("current")
            self._currency = selectors.active_currency(current.currency if current else None)
        return self._currency

    def _price_places(self) -> int:
        if "currency" in self._errors_so_far():
            return 2  # the currency is refused already; the price is read with 2 places
        return self._chosen_currency().decimal_places

    def _errors_so_far(self) -> set:
        return getattr(self, "_refused", set())

    def validate_currency(self, value: Currency) -> str:
        self._currency = value
        return value.code

    def validate(self, attrs):
        attrs = {
            key: value
            for key, value in attrs.items()
            if not (key in NULL_MEANS_ABSENT and value is None)
        }
        if not self._creating and attrs.get("price", 0) is None:
            del attrs["price"]
        if "currency" not in attrs:
            # On update the row's currency must still be offered, as a given price needs.
            currency = self._chosen_currency()
            if self._creating:
                attrs["currency"] = currency.code
        if self._creating:
            attrs.setdefault("slug", slug_from(attrs["name"]))
            attrs.setdefault("billing_period", BillingPeriod.MONTHLY)
        return attrs


class FeaturesField(serializers.JSONField):
    """An object of feature values, or a list of feature names (each then ``true``)."""

    default_error_messages = {"invalid": FEATURES_MESSAGE}

    def to_internal_value(self, data) -> dict:
        if isinstance(data, list):
            if not all(isinstance(item, str) for item in data):
                self.fail("invalid")
            data = dict.fromkeys(data, True)
        if not isinstance(data, dict):
            self.fail("invalid")
        return data


class PlanInputSerializer(PricedItemInputSerializer):
    """A plan's write fields (the context's ``current`` is the plan on update)."""

    trial_days = _integer(
        min_value=0,
        max_value=365,
        error_messages={"range": "{name} must be an integer between {min_value} and {max_value}"},
    )
    features = FeaturesField(required=False, allow_null=True)
    category_ids = FlatUUIDListField(
        required=False,
        allow_null=True,
        message="Category not found: {item}",
        not_a_list="category_ids must be a list",
    )

    def validate(self, attrs):
        features = attrs.get("features") or {}
        for key in INTEGER_FEATURES:
            value = features.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise serializers.ValidationError({key: [f"{key} must be an integer"]})
            if value < 0:
                raise serializers.ValidationError({key: [f"{key} must be an integer at least 0"]})
            if value > INTEGER_COLUMN[1]:
                raise serializers.ValidationError(
                    {key: [f"{key} must be an integer between 0 and {INTEGER_COLUMN[1]}"]}
                )
        attrs = super().validate(attrs)
        if self._creating:
            attrs["features"] = {"default_tokens": 0, **attrs.get("features", {})}
        return attrs


class AddOnInputSerializer(PricedItemInputSerializer):
    """An add-on's write fields (the context's ``current`` is the add-on on update)."""

    NAME_LENGTH = 255

    config = serializers.DictField(
        required=False, allow_null=True, error_messages={"not_a_dict": "config must be an object"}
    )
    tarif_plan_ids = FlatUUIDListField(required=False, allow_null=True, message=INVALID_PLANS)


class CategoryInputSerializer(serializers.Serializer):
    """A category's write fields. On create (no ``current`` in the context) the name is
    required and the slug is derived from it; on update only given keys change."""

    name = _name(100)
    slug = SlugField()
    description = StrictCharField(required=False, empty_as_none=True, multiline=True)
    parent_id = UUIDField(
        required=False,
        blank_as_null=True,
        error_messages={"invalid": "Parent category not found"},
    )
    is_single = _flag()
    sort_order = _integer()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.context.get("current") is not None:
            self.fields["name"] = _update_name(100)

    def validate(self, attrs):
        attrs = {
            key: value
            for key, value in attrs.items()
            if not (key in NULL_MEANS_ABSENT and value is None)
        }
        if self.context.get("current") is None:
            attrs.setdefault("slug", slug_from(attrs["name"]))
        return attrs


class PlanIdsInputSerializer(serializers.Serializer):
    """Plans to attach to a category; every id must be well-formed."""

    plan_ids = FlatUUIDListField(
        message="Plan not found: {item}", not_a_list=PLAN_IDS_REQUIRED, required_non_empty=True
    )


class PlanIdsDetachInputSerializer(serializers.Serializer):
    """Plans to detach from a category; ids of plans not attached are ignored, malformed ids
    are refused."""

    plan_ids = FlatUUIDListField(
        message="Invalid plan id: {item}",
        not_a_list=PLAN_IDS_REQUIRED,
        required_non_empty=True,
    )


# --- query strings ------------------------------------------------------------------------------


def _query_text(**kwargs) -> StrictCharField:
    return StrictCharField(required=False, allow_blank=True, **kwargs)


def _query_flag() -> StrictBooleanField:
    return StrictBooleanField(
        required=False, allow_null=True, accept_strings=True, blank_as_null=True
    )


class CatalogQuerySerializer(serializers.Serializer):
    """The display currency (default: the default one) and the buyer's country (adds net, tax
    and gross)."""

    currency = _query_text(default=None, allow_null=True, help_text="display currency")
    country = _query_text(default=None, allow_null=True, help_text="alpha-2")

    def validate_currency(self, value) -> Currency:
        try:
            return selectors.active_currency(value)
        except ValidationFailed as error:
            raise _from_domain(error) from None

    def validate_country(self, value) -> str | None:
        try:
            return selectors.known_country(value)
        except ValidationFailed as error:
            raise _from_domain(error) from None


class TariffPlansQuerySerializer(CatalogQuerySerializer):
    category = _query_text(help_text="slug")


class PublicAddOnsQuerySerializer(serializers.Serializer):
    plan_id = UUIDField(
        required=False,
        blank_as_null=True,
        error_messages={"invalid": "{name} must be a valid UUID"},
        help_text="the plan being bought",
    )


class AdminPlansQuerySerializer(serializers.Serializer):
    include_archived = _query_flag()
    is_active = _query_flag()
    category = _query_text(help_text="slug")
    search = _query_text(help_text="name or slug")


class AdminAddOnsQuerySerializer(serializers.Serializer):
    include_inactive = _query_flag()
    search = _query_text(help_text="name or slug")
    plan_id = UUIDField(
        required=False,
        blank_as_null=True,
        error_messages={"invalid": "{name} must be a valid UUID"},
    )


class CategoriesQuerySerializer(serializers.Serializer):
    format = _query_text(default="tree", help_text="tree (default) or flat")

    def validate_format(self, value: str) -> str:
        shape = (value or "tree").strip().lower()
        if shape not in {"tree", "flat"}:
            raise serializers.ValidationError("format must be flat or tree")
        return shape

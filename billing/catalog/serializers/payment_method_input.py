"""Input of the payment-method endpoints: the write body (create and partial update), the
reorder body, translation upserts and the public list's query."""

from __future__ import annotations

import uuid
from decimal import Decimal

from rest_framework import serializers

from billing.catalog.models import Currency, FeeChargedTo, FeeType
from billing.catalog.selectors import default_currency
from billing.catalog.services.payment_methods import canonical_locale, gateway_plugins, limit_places
from billing.catalog.services.payment_methods.rules import (
    CODE_PATTERN,
    COUNTRY_FILTER_PATTERN,
    CURRENCY_FILTER_PATTERN,
    MAX_FEE_AMOUNT,
    MAX_LIMIT_AMOUNT,
    MAX_POSITION,
    SECRET_KEY_HINTS,
)
from vbwd.exceptions import ValidationFailed
from vbwd.fields import (
    MoneyField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)
from vbwd.fields.characters import text_problem
from vbwd.fields.ids import uuid_from_text
from vbwd.money import parse_money

CODE_REQUIRED = "Code is required"
CODE_INVALID = "Invalid code format"
CODE_FIXED = "Payment method code cannot be changed"
REORDER_MESSAGE = "order must be a list of {id, position}"
LOCALE_REQUIRED = "Locale is required"
# Fields whose null means "not given" (the default on create, unchanged on update).
NULL_MEANS_ABSENT = ("is_active", "is_default", "position", "fee_type", "fee_charged_to")
# min_amount and max_amount are DECIMAL(12, 2): ten digits before the point.
LIMIT_WHOLE_DIGITS = 10


class LocaleField(StrictCharField):
    """A language code such as ``de`` or ``pt-BR`` (``pt_br`` is read as ``pt-BR``)."""

    default_error_messages = {"required": LOCALE_REQUIRED, "null": LOCALE_REQUIRED,
                              "blank": LOCALE_REQUIRED, "invalid": LOCALE_REQUIRED}  # fmt: skip

    def to_internal_value(self, data) -> str:
        try:
            return canonical_locale(super().to_internal_value(data), field=self.field_name)
        except ValidationFailed as error:
            raise serializers.ValidationError(error.message) from None


class CodeListField(serializers.ListField):
    """Codes, upper-cased, duplicates dropped, order kept; ``null`` is the empty list."""

    child = serializers.CharField()
    default_error_messages = {"invalid": "{name} must be a list of codes"}

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        return [] if value is None else value

    def to_internal_value(self, data) -> list[str]:
        if not isinstance(data, list) or any(
            not isinstance(item, str) or not item.strip() or text_problem(item) for item in data
        ):
            self.fail("invalid", name=self.field_name)
        codes: list[str] = []
        for item in data:
            code = item.strip().upper()
            if code not in codes:
                codes.append(code)
        return codes


class PluginIdField(StrictCharField):
    """The key of an installed gateway plugin; empty means an offline method."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(f"Unknown payment plugin: {data}")
        return data.strip()


def _text(max_length: int | None = None, *, multiline: bool = False) -> StrictCharField:
    return StrictCharField(
        required=False, empty_as_none=True, max_length=max_length, multiline=multiline
    )


def _flag() -> StrictBooleanField:
    return StrictBooleanField(required=False, allow_null=True, accept_strings=True)


def _limit() -> MoneyField:
    return MoneyField(
        required=False,
        allow_null=True,
        blank_as_null=True,
        places=limit_places,
        max_value=MAX_LIMIT_AMOUNT,
        max_whole_digits=LIMIT_WHOLE_DIGITS,
        help_text="money, in the default currency",
    )


class PaymentMethodInputSerializer(serializers.Serializer):
    """The write fields of a payment method. On create (no ``method`` in the context) ``code``
    and ``name`` are required and the fields left out take their defaults; on update only the
    given keys change and the code cannot."""

    code = StrictCharField(
        error_messages={"required": CODE_REQUIRED, "null": CODE_REQUIRED,
                        "blank": CODE_REQUIRED, "invalid": CODE_INVALID},
    )  # fmt: skip
    name = StrictCharField(
        max_length=100,
        error_messages={"required": "Name is required", "null": "Name is required",
                        "blank": "Name is required", "invalid": "Name must be a string",
                        "max_length": "Name must be at most {max_length} characters"},
    )  # fmt: skip
    description = _text(multiline=True)
    short_description = _text(255)
    instructions = _text(multiline=True)
    icon = _text(255)
    plugin_id = PluginIdField(required=False, empty_as_none=True)
    is_active = _flag()
    is_default = _flag()
    position = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=-MAX_POSITION,
        max_value=MAX_POSITION,
        error_messages={"range": "{name} must be an integer"},
    )
    min_amount = _limit()
    max_amount = _limit()
    currencies = CodeListField(required=False)
    countries = CodeListField(required=False)
    fee_type = StrictChoiceField(FeeType, required=False, allow_null=True, blank_as_null=True)
    fee_amount = MoneyField(
        required=False,
        allow_null=True,
        blank_as_null=True,
        places=4,
        max_value=MAX_FEE_AMOUNT,
        help_text="decimal, up to 4 places",
    )
    fee_charged_to = StrictChoiceField(
        FeeChargedTo, required=False, allow_null=True, blank_as_null=True
    )
    config = serializers.DictField(
        required=False,
        allow_null=True,
        error_messages={"not_a_dict": "config must be an object"},
        help_text="Non-secret settings of the method",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        places: list[int] = []  # read once, and only when a limit is given

        def limit_places_once() -> int:
            if not places:
                places.append(limit_places())
            return places[0]

        self.fields["min_amount"].places = limit_places_once
        self.fields["max_amount"].places = limit_places_once
        if self.context.get("method") is not None:
            self.fields["code"] = StrictCharField(
                required=False,
                allow_null=True,
                error_messages={"blank": CODE_FIXED, "invalid": CODE_FIXED},
            )
            self.fields["name"] = StrictCharField(
                required=False,
                max_length=100,
                error_messages={"null": "Name cannot be empty", "blank": "Name cannot be empty",
                                "invalid": "Name must be a string",
                                "max_length": "Name must be at most {max_length} characters"},
            )  # fmt: skip

    @property
    def _method(self):
        return self.context.get("method")

    def validate_code(self, value):
        if self._method is None:
            if not CODE_PATTERN.match(value):
                raise serializers.ValidationError(CODE_INVALID)
        elif value is not None and value != self._method.code:
            raise serializers.ValidationError(CODE_FIXED)
        return value

    def validate_plugin_id(self, value):
        if value is None:
            return None
        if self._method is not None and value == self._method.plugin_id:
            return value  # unchanged, even when that plugin has been uninstalled meanwhile
        if value not in gateway_plugins():
            raise serializers.ValidationError(
                f"Unknown payment plugin: {self.initial_data.get('plugin_id')}"
            )
        return value

    def validate_fee_amount(self, value):
        return Decimal("0.0000") if value is None else value

    def validate_config(self, value):
        if value is None:
            return {}
        for key in value:
            lowered = str(key).lower()
            if any(hint in lowered for hint in SECRET_KEY_HINTS):
                raise serializers.ValidationError(
                    f"config holds non-secret values only; keep '{key}' in the plugin's settings"
                )
        return value

    def validate(self, attrs):
        attrs = {
            key: value
            for key, value in attrs.items()
            if not (key in NULL_MEANS_ABSENT and value is None)
        }
        if self._method is not None:
            attrs.pop("code", None)
        return attrs


class ReorderItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    position = serializers.IntegerField(min_value=-MAX_POSITION, max_value=MAX_POSITION)


class ReorderField(serializers.ListField):
    """``[{id, position}, …]``: each id once, positions whole numbers."""

    child = ReorderItemSerializer()
    default_error_messages = {"invalid": REORDER_MESSAGE.replace("{", "{{").replace("}", "}}")}

    def run_validation(self, data=serializers.empty):
        if data is serializers.empty or data is None:
            self.fail("invalid")
        return super().run_validation(data)

    def to_internal_value(self, data) -> list[tuple[uuid.UUID, int]]:
        if not isinstance(data, list):
            self.fail("invalid")
        pairs: list[tuple[uuid.UUID, int]] = []
        for item in data:
            pairs.append(self._pair(item, pairs))
        return pairs

    def _pair(self, item, pairs) -> tuple[uuid.UUID, int]:
        if not isinstance(item, dict) or "id" not in item or "position" not in item:
            self.fail("invalid")
        position = item["position"]
        if isinstance(position, bool) or not isinstance(position, int):
            self.fail("invalid")
        if abs(position) > MAX_POSITION:
            raise serializers.ValidationError("position must be an integer")
        method_id = uuid_from_text(item["id"]) if isinstance(item["id"], str) else None
        if method_id is None:
            raise serializers.ValidationError(f"Payment method not found: {item['id']}")
        if any(existing == method_id for existing, _ in pairs):
            raise serializers.ValidationError(f"order lists {method_id} more than once")
        return method_id, position


class PaymentMethodReorderInputSerializer(serializers.Serializer):
    order = ReorderField()


class PaymentMethodTranslationInputSerializer(serializers.Serializer):
    """A translation upsert: the locale and the texts to set (only the given ones change)."""

    locale = LocaleField(max_length=10)
    name = _text(100)
    description = _text(multiline=True)
    short_description = _text(255)
    instructions = _text(multiline=True)


class PublicPaymentMethodQuerySerializer(serializers.Serializer):
    """Filters of the public list; empty values mean "not given"."""

    locale = LocaleField(required=False, empty_as_none=True, help_text="e.g. de or pt-BR")
    currency = StrictCharField(
        required=False,
        empty_as_none=True,
        error_messages={"invalid": "currency must be a 3-letter code"},
        help_text="3-letter code",
    )
    country = StrictCharField(
        required=False,
        empty_as_none=True,
        error_messages={"invalid": "country must be a 2-letter code"},
        help_text="2-letter code",
    )
    amount = StrictCharField(required=False, empty_as_none=True, help_text="money, in currency")

    def validate_currency(self, value):
        if value is not None and not CURRENCY_FILTER_PATTERN.match(value):
            raise serializers.ValidationError("currency must be a 3-letter code")
        return value.upper() if value else None

    def validate_country(self, value):
        if value is not None and not COUNTRY_FILTER_PATTERN.match(value):
            raise serializers.ValidationError("country must be a 2-letter code")
        return value.upper() if value else None

    def validate(self, attrs):
        # The amount has the places of the given currency (the default currency otherwise).
        amount, currency = attrs.get("amount"), attrs.get("currency")
        if amount is not None:
            row = Currency.objects.filter(code=currency).first() if currency else None
            places = row.decimal_places if row is not None else default_currency().decimal_places
            try:
                attrs["amount"] = parse_money(amount, field="amount", places=places)
            except ValidationFailed as error:
                raise serializers.ValidationError({"amount": [error.message]}) from None
        return attrs


class PublicPaymentMethodDetailQuerySerializer(serializers.Serializer):
    locale = LocaleField(required=False, empty_as_none=True, help_text="e.g. de or pt-BR")

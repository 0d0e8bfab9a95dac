"""Input of the currency, country and tax-rate endpoints (and of their back-office forms)."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from billing.catalog.selectors import known_country
from billing.catalog.services.geography import (
    CURRENCY_CODE,
    DISABLED_POSITION,
    MAX_DECIMAL_PLACES,
    MAX_EXCHANGE_RATE,
)
from vbwd.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictDateField,
    StrictDecimalField,
    StrictIntegerField,
)
from vbwd.fields.characters import text_problem

CODE_FIXED = "code cannot be changed"
DATE_MESSAGE = "{name} must be a date (YYYY-MM-DD)"
CODES_REQUIRED = "codes list required"


def _required_text(label: str, max_length: int, **kwargs) -> StrictCharField:
    message = f"{label} is required"
    return StrictCharField(
        max_length=max_length,
        error_messages={"required": message, "null": message, "blank": message},
        **kwargs,
    )


def _flag() -> StrictBooleanField:
    return StrictBooleanField(required=False, allow_null=True, accept_strings=True)


def _whole_number(low: int, high: int) -> StrictIntegerField:
    message = "{name} must be a whole number from {min_value} to {max_value}"
    return StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=low,
        max_value=high,
        accept_integral=True,
        error_messages={"invalid": message, "range": message},
    )


def _without_nulls(attrs: dict, keys: tuple[str, ...]) -> dict:
    """Drops the keys whose null means "not given"."""
    return {key: value for key, value in attrs.items() if not (key in keys and value is None)}


class RepeatedCodeField(serializers.CharField):
    """On update: the code may be sent again (any case) but not changed."""

    def run_validation(self, data=serializers.empty):
        if data is serializers.empty or data is None or data == "":
            raise serializers.SkipField()
        if str(data).strip().upper() != self.parent.context["currency"].code:
            raise serializers.ValidationError(CODE_FIXED)
        raise serializers.SkipField()


class CurrencyInputSerializer(serializers.Serializer):
    """A currency's write fields. On create (no ``currency`` in the context) code, name and
    symbol are required and the rest take their defaults; on update only given keys change and
    the code may only repeat the current one."""

    code = StrictCharField(
        help_text="ISO-4217, immutable",
        error_messages={"required": "Code is required", "null": "Code is required",
                        "blank": "Code is required", "invalid": "code must be a 3-letter code"},
    )  # fmt: skip
    name = _required_text("Name", 100)
    symbol = _required_text("Symbol", 10)
    decimal_places = _whole_number(0, MAX_DECIMAL_PLACES)
    exchange_rate = StrictDecimalField(
        required=False,
        allow_null=True,
        max_places=6,
        max_digits=18,
        min_value=Decimal(0),
        min_exclusive=True,
        max_value=MAX_EXCHANGE_RATE,
        error_messages={"min_value": "{name} must be greater than 0"},
        help_text="Units per 1 unit of the default currency, > 0, up to 6 places",
    )
    is_active = _flag()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.context.get("currency") is not None:
            self.fields["code"] = RepeatedCodeField(required=False)
            self.fields["name"] = _required_text("Name", 100, required=False)
            self.fields["symbol"] = _required_text("Symbol", 10, required=False)

    def validate_code(self, value: str) -> str:
        if not CURRENCY_CODE.match(value):
            raise serializers.ValidationError("code must be a 3-letter code")
        return value.upper()

    def validate(self, attrs):
        return _without_nulls(attrs, ("decimal_places", "exchange_rate", "is_active"))


class CountryCodesField(serializers.ListField):
    """Country codes in order, upper-cased."""

    child = serializers.CharField()
    default_error_messages = {
        "required": CODES_REQUIRED,
        "null": CODES_REQUIRED,
        "empty": CODES_REQUIRED,
        "not_a_list": "codes must be a list",
        "not_codes": "codes must be a list of country codes",
    }

    def run_validation(self, data=serializers.empty):
        if data is serializers.empty or data is None or data == "" or data == []:
            self.fail("required")
        return super().run_validation(data)

    def to_internal_value(self, data) -> list[str]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not all(isinstance(code, str) and not text_problem(code) for code in data):
            self.fail("not_codes")
        return [code.strip().upper() for code in data]


class CountryReorderInputSerializer(serializers.Serializer):
    codes = CountryCodesField(help_text="Enabled codes in order")


class CountryInputSerializer(serializers.Serializer):
    """A country's editable fields (back office): name, EU membership and, while enabled, the
    position (0..998; a disabled country stays at 999). The context holds the ``country``."""

    name = _required_text("Name", 100, required=False)
    is_eu = _flag()
    position = serializers.JSONField(required=False, allow_null=True)

    def validate_position(self, value):
        if value is None:
            return None
        country = self.context["country"]
        if country.is_enabled:
            field = _whole_number(0, DISABLED_POSITION - 1)
            field.bind("position", self)
            return field.run_validation(value)
        if str(value).strip() != str(country.position):
            raise serializers.ValidationError(
                "Only an enabled country has a position; enable it first"
            )
        return None

    def validate(self, attrs):
        return _without_nulls(attrs, ("is_eu", "position"))


class CountryCodeField(serializers.CharField):
    """A country code as given, upper-cased (whether the country exists is the service's
    question)."""

    def to_internal_value(self, data) -> str:
        if isinstance(data, bool) or data is None:
            data = str(data)
        return str(data).strip().upper()


class TaxRateInputSerializer(serializers.Serializer):
    """A tax rate's write fields. On create (``creating`` in the context) country, name, code and
    rate are required and the rest take their defaults; on update only given keys change."""

    country_code = CountryCodeField(
        error_messages={"required": "country_code is required",
                        "null": "country_code is required", "blank": "country_code is required"},
    )  # fmt: skip
    region_code = StrictCharField(required=False, empty_as_none=True, max_length=20)
    name = _required_text("Name", 100)
    code = _required_text("Code", 50)
    rate = StrictDecimalField(
        blank_as_null=True,
        max_places=2,
        max_digits=5,
        min_value=Decimal(0),
        max_value=Decimal(100),
        range_first=True,
        error_messages={"required": "Rate is required", "null": "Rate is required",
                        "min_value": "{name} must be between 0 and 100",
                        "max_value": "{name} must be between 0 and 100"},
        help_text="Percent, 0..100",
    )  # fmt: skip
    is_inclusive = _flag()
    is_active = _flag()
    valid_from = StrictDateField(
        required=False, allow_null=True, blank_as_null=True, help_text="Default: today"
    )
    valid_to = StrictDateField(required=False, allow_null=True, blank_as_null=True)
    description = StrictCharField(required=False, empty_as_none=True, multiline=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.context.get("creating"):
            for name in ("country_code", "name", "code", "rate"):
                self.fields[name].required = False

    def validate_region_code(self, value):
        return value.upper() if value else None

    def validate_valid_from(self, value):
        if value is None and not self.context.get("creating"):
            raise serializers.ValidationError(DATE_MESSAGE.format(name="valid_from"))
        return value

    def validate(self, attrs):
        return _without_nulls(attrs, ("is_inclusive", "is_active", "valid_from"))


class TaxRateQuerySerializer(serializers.Serializer):
    """Filters of the tax-rate list; empty values mean "not given"."""

    country = StrictCharField(required=False, allow_blank=True, help_text="Country code")
    is_active = StrictBooleanField(
        required=False, allow_null=True, accept_strings=True, blank_as_null=True
    )
    valid_on = StrictDateField(
        required=False, allow_null=True, blank_as_null=True, help_text="Rates valid on this day"
    )

    def validate_country(self, value):
        return known_country(value, field="country")

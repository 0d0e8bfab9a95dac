import itertools
import re
import string

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from rest_framework import serializers
from stdnum import bic, iban

from accounts.countries import country_code_for
from platform_settings.models import PlatformSettings
from vbwd.fields import StrictBooleanField, StrictCharField, StrictIntegerField

SETTINGS_KEYS = (
    "provider_name",
    "company_name",
    "other_links",
    "address_street",
    "address_city",
    "address_postal_code",
    "vat_id",
    "company_contact_name",
    "company_phone",
    "company_register_id",
    "bank_account_holder",
    "bank_name",
    "terms_title",
    "terms_content",
    "invoice_footer",
    "contact_email",
    "company_email",
    "website_url",
    "address_country",
    "bank_iban",
    "bank_bic",
    "invoice_number_format",
    "credit_note_number_format",
    "payment_terms_days",
    "grace_period_days",
    "renewal_lead_days",
    "max_pause_days",
    "payment_retry_days",
    "einvoice_hybrid_pdf",
)
RETRY_DAYS_MESSAGE = "payment_retry_days must be ascending and within grace_period_days"
# A telephone number: digits with the usual separators, at least three digits.
_PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
_FORMAT_SPEC = re.compile(r"^(0\d+d)?$")  # nothing, or zero padding such as 06d
_url_validator = URLValidator(schemes=["http", "https"])


class SettingsSerializer(serializers.ModelSerializer):
    """Settings: every key always present."""

    payment_retry_days = serializers.ListField(child=serializers.IntegerField())

    class Meta:
        model = PlatformSettings
        fields = list(SETTINGS_KEYS)
        read_only_fields = fields


class SettingsEnvelopeSerializer(serializers.Serializer):
    settings = SettingsSerializer()
    message = serializers.CharField(required=False)


class TermsSerializer(serializers.Serializer):
    """Terms: the operator's terms and conditions (Markdown)."""

    title = serializers.CharField()
    content = serializers.CharField()


def retry_days_fit(retry_days: list[int], grace_period_days: int) -> bool:
    """Whether every retry day lies within the grace period (days are ascending from 1)."""
    return all(day <= grace_period_days for day in retry_days)


def _text(**kwargs) -> StrictCharField:
    return StrictCharField(required=False, null_as_empty=True, allow_blank=True, **kwargs)


def _days(low: int, high: int) -> StrictIntegerField:
    message = "{name} must be an integer between {min_value} and {max_value}"
    return StrictIntegerField(
        required=False,
        min_value=low,
        max_value=high,
        error_messages={"invalid": message, "null": message, "range": message},
    )


class RetryDaysField(serializers.ListField):
    """Days after a failed charge on which it is retried: whole numbers from 1, ascending."""

    child = serializers.IntegerField(min_value=1)
    default_error_messages = {"invalid": RETRY_DAYS_MESSAGE}

    def run_validation(self, data=serializers.empty):
        if data is None:
            self.fail("invalid")
        return super().run_validation(data)

    def to_internal_value(self, data) -> list[int]:
        valid = (
            isinstance(data, list)
            and all(isinstance(day, int) and not isinstance(day, bool) for day in data)
            and all(day >= 1 for day in data)
            and all(first < second for first, second in itertools.pairwise(data))
        )
        if not valid:
            self.fail("invalid")
        return list(data)


class NumberFormatField(StrictCharField):
    """An invoice or credit-note number format: ``{year}`` and ``{sequence}``, where
    ``{sequence}`` may carry a zero-padded width such as ``{sequence:06d}``."""

    default_error_messages = {"blank": "{name} must contain {{year}} and {{sequence}}"}

    def __init__(self, **kwargs):
        super().__init__(required=False, null_as_empty=True, **kwargs)

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        problem = self._problem(value)
        if problem:
            raise serializers.ValidationError(problem.format(key=self.field_name))
        return value

    @staticmethod
    def _problem(value: str) -> str | None:
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError:
            return "{key} is not a valid format"
        width_only = "{key} placeholders accept only a width such as {{sequence:06d}}"
        if any(conversion for _text, _name, _spec, conversion in parsed):
            return width_only
        fields = [(name, spec) for _text, name, spec, _conversion in parsed if name is not None]
        names = [name for name, _spec in fields]
        if any(name not in {"year", "sequence"} for name in names):
            return "{key} may only use the placeholders {{year}} and {{sequence}}"
        if "year" not in names or "sequence" not in names:
            return "{key} must contain {{year}} and {{sequence}}"
        if any(not _FORMAT_SPEC.match(spec or "") for _name, spec in fields):
            return width_only
        if len(value) > 100:
            return "{key} must be at most 100 characters"
        return None


class SettingsInputSerializer(serializers.Serializer):
    """Any subset of the settings keys; every invalid key is reported at once. The context's
    ``current`` row supplies the grace period when the request does not change it."""

    provider_name = _text(max_length=255)
    company_name = _text(max_length=255)
    other_links = _text(multiline=True)
    address_street = _text(max_length=255)
    address_city = _text(max_length=100)
    address_postal_code = _text(max_length=20)
    vat_id = _text(max_length=50)
    company_contact_name = _text(max_length=255)
    company_phone = _text(max_length=50)
    company_register_id = _text(max_length=100)
    bank_account_holder = _text(max_length=255)
    bank_name = _text(max_length=255)
    terms_title = StrictCharField(required=False, null_as_empty=True, max_length=255)
    terms_content = _text(multiline=True)
    invoice_footer = _text(multiline=True)
    contact_email = _text()
    company_email = _text()
    website_url = _text()
    address_country = _text()
    bank_iban = _text()
    bank_bic = _text()
    invoice_number_format = NumberFormatField()
    credit_note_number_format = NumberFormatField()
    payment_terms_days = _days(0, 365)
    grace_period_days = _days(0, 90)
    renewal_lead_days = _days(0, 30)
    max_pause_days = _days(1, 365)
    payment_retry_days = RetryDaysField(required=False)
    einvoice_hybrid_pdf = StrictBooleanField(required=False)

    def _email(self, value: str, key: str) -> str:
        if value:
            try:
                validate_email(value)
            except DjangoValidationError:
                raise serializers.ValidationError(f"{key} must be a valid email address") from None
        return value.lower()

    def validate_contact_email(self, value: str) -> str:
        return self._email(value, "contact_email")

    def validate_company_email(self, value: str) -> str:
        return self._email(value, "company_email")

    def validate_company_phone(self, value: str) -> str:
        value = value.strip()
        if value and (not _PHONE.match(value) or sum(ch.isdigit() for ch in value) < 3):
            raise serializers.ValidationError(
                "company_phone must be a telephone number of at least three digits"
            )
        return value

    def validate_website_url(self, value: str) -> str:
        if value:
            try:
                _url_validator(value)
            except DjangoValidationError:
                raise serializers.ValidationError("website_url must be an http(s) URL") from None
        return value

    def validate_address_country(self, value: str) -> str:
        code = country_code_for(value)
        if code is None:
            raise serializers.ValidationError(f"Unknown country: {value}")
        return code

    def validate_bank_iban(self, value: str) -> str:
        compact = iban.compact(value)
        if compact and not iban.is_valid(compact):
            raise serializers.ValidationError("Invalid IBAN")
        return compact

    def validate_bank_bic(self, value: str) -> str:
        compact = bic.compact(value)
        if compact and (len(compact) not in (8, 11) or not bic.is_valid(compact)):
            raise serializers.ValidationError("bank_bic must be a BIC of 8 or 11 characters")
        return compact

    def to_internal_value(self, data):
        # The retry days are checked against the grace period even when other keys are invalid,
        # so that every invalid key is reported at once.
        try:
            validated, errors = super().to_internal_value(data), {}
        except serializers.ValidationError as error:
            validated, errors = None, dict(error.detail)
        if isinstance(data, dict) and "payment_retry_days" not in errors:
            self._check_retry_days_fit(data, errors)
        if errors:
            raise serializers.ValidationError(errors)
        return validated

    def _check_retry_days_fit(self, data: dict, errors: dict) -> None:
        current = self.context["current"]
        grace_given = "grace_period_days" in data and "grace_period_days" not in errors
        if "payment_retry_days" not in data and not grace_given:
            return
        grace = current.grace_period_days
        if grace_given:
            grace = self.fields["grace_period_days"].run_validation(data["grace_period_days"])
        retry_days = data.get("payment_retry_days", current.payment_retry_days)
        if not retry_days_fit(retry_days, grace):
            errors["payment_retry_days"] = [RETRY_DAYS_MESSAGE]

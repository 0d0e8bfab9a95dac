"""Input of the authentication and password endpoints.

Where the API names one message for several missing values ("Email and password are
required"), that check runs first, before any value is looked at more closely.
"""

from __future__ import annotations

from rest_framework import serializers

from accounts import passwords
from accounts.services import validate_email_address
from vbwd.exceptions import ValidationFailed
from vbwd.fields import StrictBooleanField, StrictCharField

CREDENTIALS_REQUIRED = "Email and password are required"
EMAIL_REQUIRED = "Email required"


def _given(value, *, strip: bool = False) -> bool:
    return isinstance(value, str) and bool(value.strip() if strip else value)


def _first(data, *names):
    """The value of the first of ``names`` present in ``data`` (an alias after the name)."""
    for name in names:
        if name in data:
            return data[name]
    return None


def _all_messages(message: str) -> dict:
    return {"required": message, "null": message, "blank": message, "invalid": message}


def _secret(message: str, **kwargs) -> StrictCharField:
    return StrictCharField(secret=True, error_messages=_all_messages(message), **kwargs)


def _person_name() -> StrictCharField:
    """An optional first or last name: a string of at most 100 characters, trimmed."""
    message = "{name} must be a string of at most 100 characters"
    return StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=100,
        error_messages={"invalid": message, "max_length": message},
    )


class _DictOnlyMixin:
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            data = {}
        return super().to_internal_value(data)


class RegisterInputSerializer(serializers.Serializer):
    """Email and password are required together; then the email's format, the password policy
    (every violated rule is listed), the names and the locale are checked."""

    email = StrictCharField(error_messages=_all_messages(CREDENTIALS_REQUIRED))
    password = _secret(CREDENTIALS_REQUIRED)
    first_name = _person_name()
    last_name = _person_name()
    locale = StrictCharField(
        required=False,
        empty_as_none=True,
        max_length=10,
        error_messages={
            "invalid": "locale must be a language code",
            "max_length": "locale must be a language code",
        },
    )

    def _both_given(self) -> bool:
        data = self.initial_data if isinstance(self.initial_data, dict) else {}
        return _given(data.get("email"), strip=True) and _given(data.get("password"))

    def validate_email(self, value: str) -> str:
        if not self._both_given():
            return value  # the missing one is reported; nothing more is checked
        try:
            return validate_email_address(value)
        except ValidationFailed as error:
            raise serializers.ValidationError(error.message) from None

    def validate_password(self, value: str) -> str:
        if self._both_given():
            problems = passwords.policy_errors(value)
            if problems:
                raise serializers.ValidationError(problems)
        return value

    def validate_first_name(self, value):
        return (value or "").strip() or None

    def validate_last_name(self, value):
        return (value or "").strip() or None


class CredentialsInputSerializer(_DictOnlyMixin, serializers.Serializer):
    """Email and password of a login; both are required together, then each is read as text
    (the email trimmed, the password as sent)."""

    email = StrictCharField(required=False, allow_null=True, allow_blank=True)
    password = StrictCharField(required=False, allow_null=True, allow_blank=True, secret=True)

    def to_internal_value(self, data):
        if not isinstance(data, dict) or not (
            _given(data.get("email"), strip=True) and _given(data.get("password"))
        ):
            raise serializers.ValidationError({"non_field_errors": [CREDENTIALS_REQUIRED]})
        return super().to_internal_value({"email": data["email"], "password": data["password"]})


class RefreshInputSerializer(serializers.Serializer):
    """The refresh token (also accepted as ``refresh``)."""

    refresh_token = StrictCharField(secret=True, help_text="Alias: refresh")

    def to_internal_value(self, data):
        token = _first(data, "refresh_token", "refresh") if isinstance(data, dict) else None
        if not _given(token):
            raise serializers.ValidationError({"refresh_token": ["refresh_token is required"]})
        return {"refresh_token": token}


class LenientBooleanField(StrictBooleanField):
    """A yes/no where anything unreadable counts as no."""

    def __init__(self, **kwargs):
        super().__init__(accept_strings=True, required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data) -> bool:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            return False


class LogoutInputSerializer(_DictOnlyMixin, serializers.Serializer):
    """Never refused: an unreadable token or flag is ignored."""

    refresh_token = StrictCharField(required=False, secret=True, help_text="Alias: refresh")
    all = LenientBooleanField()

    def to_internal_value(self, data):
        data = data if isinstance(data, dict) else {}
        token = _first(data, "refresh_token", "refresh")
        everywhere = self.fields["all"].run_validation(data.get("all"))
        return {"refresh_token": token if _given(token) else None, "all": bool(everywhere)}


class CheckEmailQuerySerializer(serializers.Serializer):
    email = StrictCharField(error_messages=_all_messages(EMAIL_REQUIRED))
    captcha_token = StrictCharField(required=False, allow_blank=True, secret=True)


class EmailInputSerializer(_DictOnlyMixin, serializers.Serializer):
    email = StrictCharField(error_messages=_all_messages(EMAIL_REQUIRED))


class ResetPasswordInputSerializer(serializers.Serializer):
    """The emailed link's ``uid`` and ``token`` and the new password, all required together."""

    uid = StrictCharField(secret=True)
    token = StrictCharField(secret=True)
    new_password = StrictCharField(secret=True)

    def to_internal_value(self, data):
        names = ("uid", "token", "new_password")
        if not isinstance(data, dict) or not all(_given(data.get(name)) for name in names):
            raise serializers.ValidationError(
                {"non_field_errors": ["uid, token and new_password are required"]}
            )
        return {name: data[name] for name in names}


class ChangePasswordInputSerializer(serializers.Serializer):
    """The current and the new password (also accepted in snake_case), required together."""

    currentPassword = StrictCharField(secret=True, help_text="Alias: current_password")  # noqa: N815
    newPassword = StrictCharField(secret=True, help_text="Alias: new_password")  # noqa: N815

    def to_internal_value(self, data):
        data = data if isinstance(data, dict) else {}
        current = _first(data, "currentPassword", "current_password")
        new = _first(data, "newPassword", "new_password")
        if not (_given(current) and _given(new)):
            raise serializers.ValidationError(
                {"non_field_errors": ["Current password and new password are required"]}
            )
        return {"current_password": current, "new_password": new}

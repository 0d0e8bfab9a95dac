"""Input of the staff user endpoints: create, partial update, roles, reasons, deletion and the
user list's query."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import passwords, selectors
from accounts.models import UserRole, UserStatus
from accounts.serializers.shapes import UserDetailsUpdateSerializer
from accounts.services import validate_email_address
from vbwd.exceptions import ValidationFailed
from vbwd.fields import (
    MoneyField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)
from vbwd.filters import normalise_enum, parse_ordering

EMAIL_REQUIRED = "Email is required"
# The balance column is DECIMAL(12, 2): ten digits before the point.
BALANCE_WHOLE_DIGITS = 10
PASSWORD_REQUIRED = "Password is required"


def _flat_errors(errors: dict) -> dict[str, list[str]]:
    return {key: [str(message) for message in messages] for key, messages in errors.items()}


def _email() -> StrictCharField:
    return StrictCharField(
        error_messages={"required": EMAIL_REQUIRED, "null": EMAIL_REQUIRED,
                        "blank": EMAIL_REQUIRED, "invalid": EMAIL_REQUIRED},
    )  # fmt: skip


def _password(**kwargs) -> StrictCharField:
    return StrictCharField(
        secret=True,
        error_messages={"required": PASSWORD_REQUIRED, "null": PASSWORD_REQUIRED,
                        "blank": PASSWORD_REQUIRED, "invalid": PASSWORD_REQUIRED},
        **kwargs,
    )  # fmt: skip


def _choice(enum, name: str) -> StrictChoiceField:
    return StrictChoiceField(
        enum,
        required=False,
        allow_null=True,
        blank_as_null=True,
        error_messages={"invalid_choice": f"Unknown {name}: {{input}}"},
    )


def _name_part() -> StrictCharField:
    message = "{name} must be at most 100 characters"
    return StrictCharField(
        required=False,
        empty_as_none=True,
        max_length=100,
        error_messages={"invalid": message, "max_length": message},
    )


@extend_schema_field(UserDetailsUpdateSerializer)
class DetailsField(serializers.DictField):
    """The writable billing-details fields as an object (checked with the serializer's own
    rules, reported under each field's name)."""

    default_error_messages = {"not_a_dict": "details must be an object"}

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, **kwargs)


def _details(raw: dict) -> dict:
    serializer = UserDetailsUpdateSerializer(data=raw, partial=True)
    if not serializer.is_valid():
        raise serializers.ValidationError(_flat_errors(serializer.errors))
    return dict(serializer.validated_data)


def _checked_email(value: str) -> str:
    try:
        return validate_email_address(value)
    except ValidationFailed as error:
        raise serializers.ValidationError(error.message) from None


def _staff_password(value: str) -> str:
    problems = passwords.staff_set_errors(value)
    if problems:
        raise serializers.ValidationError(problems[0])
    return value


class StaffUserCreateInputSerializer(serializers.Serializer):
    """A user created by staff: any role and any status but DELETED, optional names and
    billing details."""

    email = _email()
    password = _password()
    status = _choice(UserStatus, "status")
    role = _choice(UserRole, "role")
    first_name = _name_part()
    last_name = _name_part()
    details = DetailsField()

    def validate_email(self, value: str) -> str:
        return _checked_email(value)

    def validate_password(self, value: str) -> str:
        return _staff_password(value)

    def validate_status(self, value):
        if value == UserStatus.DELETED:
            raise serializers.ValidationError("A new user cannot be DELETED")
        return value

    def validate(self, attrs):
        attrs = {key: value for key, value in attrs.items() if value is not None or key in
                 ("first_name", "last_name")}  # fmt: skip
        attrs.setdefault("first_name", None)
        attrs.setdefault("last_name", None)
        attrs["details"] = _details(attrs.get("details") or {})
        return attrs


class StaffUserUpdateInputSerializer(serializers.Serializer):
    """A staff edit of a user; only the given keys change. ``is_active`` is read only when no
    ``status`` is given; ``token_balance_reason`` is used only with a ``token_balance`` and
    ``name`` only without ``first_name`` / ``last_name``, but both are checked whenever given.
    Details may come flat or under ``details``."""

    email = _email()
    status = _choice(UserStatus, "status")
    is_active = StrictBooleanField(
        required=False, allow_null=True, accept_strings=True, blank_as_null=True
    )
    role = _choice(UserRole, "role")
    password = _password(required=False, allow_null=True, allow_blank=True)
    has_used_trial = StrictBooleanField(
        required=False, allow_null=True, accept_strings=True, blank_as_null=True
    )
    balance = MoneyField(
        required=False,
        allow_null=True,
        max_whole_digits=BALANCE_WHOLE_DIGITS,
        help_text="default currency",
    )
    token_balance = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        error_messages={
            "invalid": "token_balance must be a non-negative integer",
            "range": "token_balance must be a non-negative integer",
        },
    )
    token_balance_reason = StrictCharField(
        required=False,
        empty_as_none=True,
        multiline=True,
        max_length=255,
        error_messages={
            "invalid": "{name} must be at most 255 characters",
            "max_length": "{name} must be at most 255 characters",
        },
    )
    details = DetailsField()
    name = StrictCharField(
        required=False, allow_null=True, allow_blank=True, help_text="first and last name in one"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = False

    def get_fields(self):
        # The flat details fields sit just before ``details``, as they are read in that order.
        fields = super().get_fields()
        ordered = {}
        for name, field in fields.items():
            if name == "details":
                for detail_name, detail_field in UserDetailsUpdateSerializer().get_fields().items():
                    ordered[detail_name] = detail_field
            ordered[name] = field
        return ordered

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            return super().to_internal_value(data)
        detail_names = set(UserDetailsUpdateSerializer().fields)
        ignored = set(detail_names) | {"details"}
        if data.get("status") not in (None, ""):
            ignored.add("is_active")
        attrs = super().to_internal_value(
            {key: value for key, value in data.items() if key not in ignored}
        )
        if data.get("token_balance") is None:
            attrs.pop("token_balance_reason", None)
        if "first_name" in data or "last_name" in data:
            attrs.pop("name", None)
        # Flat and nested details are read together, after everything else.
        raw_details = {key: data[key] for key in detail_names if key in data}
        nested = data.get("details")
        if nested is not None:
            if not isinstance(nested, dict):
                raise serializers.ValidationError({"details": ["details must be an object"]})
            raw_details.update(nested)
        attrs["details"] = _details(raw_details)
        return attrs

    def validate_email(self, value: str) -> str:
        return _checked_email(value)

    def validate_status(self, value):
        if value == UserStatus.DELETED:
            raise serializers.ValidationError("Use DELETE to anonymise a user")
        return value

    def validate_password(self, value):
        return _staff_password(value) if value else None

    def validate(self, attrs):
        details = attrs.pop("details")
        is_active = attrs.pop("is_active", None)
        if "status" not in attrs and is_active is not None:
            attrs["status"] = UserStatus.ACTIVE if is_active else UserStatus.SUSPENDED
        name = attrs.pop("name", None)
        attrs = {key: value for key, value in attrs.items() if value is not None}
        if "token_balance" in attrs:
            attrs.setdefault("token_balance_reason", None)
        if name is not None:
            first, _, last = name.strip().partition(" ")
            details["first_name"] = first.strip()[:100] or None
            details["last_name"] = last.strip()[:100] or None
        if details:
            attrs["details"] = details
        return attrs


class RolesInputSerializer(serializers.Serializer):
    """A roles list; the user gets the highest of them: ADMIN, else VENDOR, else USER."""

    roles = serializers.ListField(child=serializers.ChoiceField(choices=UserRole.choices))

    def to_internal_value(self, data):
        roles = data.get("roles") if isinstance(data, dict) else None
        if not isinstance(roles, list) or not roles:
            raise serializers.ValidationError({"roles": ["roles must be a non-empty list"]})
        canonical = []
        for role in roles:
            value = normalise_enum(role, UserRole) if isinstance(role, str) else None
            if value is None:
                raise serializers.ValidationError({"roles": [f"Unknown role: {role}"]})
            canonical.append(value)
        for role in (UserRole.ADMIN, UserRole.VENDOR):
            if role in canonical:
                return {"role": role}
        return {"role": UserRole.USER}


class ReasonInputSerializer(serializers.Serializer):
    reason = StrictCharField(
        required=False,
        empty_as_none=True,
        multiline=True,
        error_messages={"invalid": "reason must be a string"},
    )

    def to_internal_value(self, data):
        return super().to_internal_value(data if isinstance(data, dict) else {})


class ForceSerializer(serializers.Serializer):
    """``force``: anonymise a user with financial records instead of refusing."""

    force = StrictBooleanField(
        required=False, allow_null=True, accept_strings=True, blank_as_null=True
    )

    def to_internal_value(self, data):
        return super().to_internal_value(data if hasattr(data, "get") else {})


class StaffUsersQuerySerializer(serializers.Serializer):
    """Filters and order of the staff user list."""

    search = StrictCharField(
        required=False, allow_blank=True, help_text="email, first or last name"
    )
    status = StrictCharField(
        required=False, allow_blank=True, help_text="UserStatus, active or inactive"
    )
    role = StrictCharField(required=False, allow_blank=True)
    ordering = StrictCharField(
        required=False, allow_blank=True, help_text="created_at, email, last_login_at"
    )

    def validate_search(self, value: str) -> str | None:
        return value.strip() or None

    def validate_status(self, value: str) -> str | None:
        if value == "":
            return None  # not given
        if value.strip().lower() == "inactive":
            return "INACTIVE"
        canonical = normalise_enum(value, UserStatus)
        if canonical is None:
            raise serializers.ValidationError(f"Unknown status: {value}")
        return canonical

    def validate_role(self, value: str) -> str | None:
        if value == "":
            return None
        canonical = normalise_enum(value, UserRole)
        if canonical is None:
            raise serializers.ValidationError(f"Unknown role: {value}")
        return canonical

    def validate_ordering(self, value: str) -> str:
        try:
            return parse_ordering(
                value, allowed=selectors.ADMIN_USER_ORDERINGS, default="-created_at"
            )
        except ValidationFailed as error:
            raise serializers.ValidationError(error.message) from None

    def validate(self, attrs):
        attrs.setdefault("ordering", "-created_at")
        return attrs

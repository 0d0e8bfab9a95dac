"""Shapes of users and their details and the validated input of the details and
profile updates."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import extensions
from accounts.countries import is_known_country
from accounts.models import User, UserDetails, UserRole, UserStatus
from accounts.selectors import token_balance_of
from vbwd.fields import StrictCharField
from vbwd.output import OutputModelSerializer, OutputSerializer


class UserDetailsSerializer(OutputModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    # money: decimal string in the default currency
    balance = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = UserDetails
        fields = [
            "id",
            "user_id",
            "email",
            "first_name",
            "last_name",
            "company",
            "tax_number",
            "buyer_reference",
            "phone",
            "address_line_1",
            "address_line_2",
            "city",
            "state",
            "postal_code",
            "country",
            "config",
            "balance",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class _UserBase(OutputModelSerializer):
    name = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=UserStatus.choices, read_only=True)
    role = serializers.ChoiceField(choices=UserRole.choices, read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=UserRole.choices), read_only=True
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_name(self, user: User) -> str | None:
        return user.display_name


class UserSerializer(_UserBase):
    """User."""

    token_balance = serializers.SerializerMethodField()
    details = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "name",
            "status",
            "is_active",
            "role",
            "roles",
            "has_used_trial",
            "token_balance",
            "last_login_at",
            "created_at",
            "updated_at",
            "details",
        ]
        read_only_fields = fields

    def get_token_balance(self, user: User) -> int:
        return token_balance_of(user)

    @extend_schema_field(UserDetailsSerializer(allow_null=True))
    def get_details(self, user: User):
        details = getattr(user, "details", None)
        return UserDetailsSerializer(details).data if details is not None else None


class ProfileUserSerializer(_UserBase):
    """ProfileUser: the reduced user of ``GET /user/profile``."""

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "name",
            "status",
            "is_active",
            "role",
            "roles",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AuthUserSerializer(OutputModelSerializer):
    """AuthUser: ``{id, email, name, roles}``; ``name`` falls back to the email's local part."""

    name = serializers.SerializerMethodField()
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=UserRole.choices), read_only=True
    )

    class Meta:
        model = User
        fields = ["id", "email", "name", "roles"]
        read_only_fields = fields

    def get_name(self, user: User) -> str:
        return user.display_name or user.email.split("@", 1)[0]


def _text(name: str, max_length: int) -> StrictCharField:
    return StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=max_length,
        error_messages={
            "max_length": f"{name} must be at most {max_length} characters",
            "invalid": f"{name} must be a string",
        },
    )


class UserDetailsUpdateSerializer(serializers.Serializer):
    """Writable UserDetails fields; ``""`` and ``null`` both store "no value"."""

    first_name = _text("first_name", 100)
    last_name = _text("last_name", 100)
    company = _text("company", 255)
    tax_number = _text("tax_number", 100)
    buyer_reference = _text("buyer_reference", 100)
    phone = _text("phone", 20)
    address_line_1 = _text("address_line_1", 255)
    address_line_2 = _text("address_line_2", 255)
    city = _text("city", 100)
    state = _text("state", 100)
    postal_code = _text("postal_code", 20)
    # Any length reaches validate_country, which names the unknown code.
    country = _text("country", 100)
    config = serializers.DictField(
        required=False, allow_null=True, error_messages={"not_a_dict": "config must be an object"}
    )

    def validate_country(self, value):
        if not value:
            return None
        code = value.strip().upper()
        if len(code) != 2 or not code.isalpha() or not is_known_country(code):
            raise serializers.ValidationError(f"Unknown country code: {code}")
        return code

    def validate(self, attrs):
        for field, value in list(attrs.items()):
            if field != "config" and value == "":
                attrs[field] = None
        return attrs


class TokenResponseSerializer(OutputSerializer):
    success = serializers.BooleanField()
    token = serializers.CharField()
    refresh_token = serializers.CharField()
    expires_in = serializers.IntegerField()
    user_id = serializers.UUIDField()
    error = serializers.CharField(allow_null=True)
    user = AuthUserSerializer()


class RefreshResponseSerializer(OutputSerializer):
    success = serializers.BooleanField()
    token = serializers.CharField()
    refresh_token = serializers.CharField()
    expires_in = serializers.IntegerField()


class SuccessMessageSerializer(OutputSerializer):
    success = serializers.BooleanField()
    message = serializers.CharField()


class MeResponseSerializer(OutputSerializer):
    success = serializers.BooleanField()
    user = UserSerializer()


class CheckEmailResponseSerializer(OutputSerializer):
    success = serializers.BooleanField()
    exists = serializers.BooleanField()


class ProfileResponseSerializer(OutputSerializer):
    user = ProfileUserSerializer()
    details = UserDetailsSerializer(allow_null=True)


class ProfileUpdateResponseSerializer(ProfileResponseSerializer):
    message = serializers.CharField()


class ChangePasswordResponseSerializer(RefreshResponseSerializer):
    message = serializers.CharField()


class SubscriptionSummarySerializer(OutputSerializer):
    """The primary current subscription on staff user screens; every key null when none."""

    id = serializers.UUIDField(allow_null=True)
    plan = serializers.CharField(allow_null=True)
    plan_id = serializers.UUIDField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


EMPTY_SUBSCRIPTION = {"id": None, "plan": None, "plan_id": None, "status": None, "expires_at": None}


def _summary_dict(summary) -> dict:
    if summary is None:
        return dict(EMPTY_SUBSCRIPTION)
    return SubscriptionSummarySerializer(
        {
            "id": summary.id,
            "plan": summary.plan,
            "plan_id": summary.plan_id,
            "status": summary.status,
            "expires_at": summary.expires_at,
        }
    ).data


class AdminUserListItemSerializer(UserSerializer):
    """AdminUserListItem: User + the plan name of the primary current subscription.

    Expects ``context["subscriptions"]``: user id → SubscriptionSummary (one batch per page).
    """

    subscription_plan = serializers.SerializerMethodField()

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "subscription_plan"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_subscription_plan(self, user: User) -> str | None:
        summary = self.context.get("subscriptions", {}).get(user.pk)
        return summary.plan if summary is not None else None


class AdminUserStatsSerializer(OutputSerializer):
    total_payments = serializers.IntegerField()
    last_login = serializers.DateTimeField(allow_null=True)


class AdminUserDetailSerializer(UserSerializer):
    """AdminUserDetail: User + ``subscription`` (always an object) + ``stats``."""

    subscription = serializers.SerializerMethodField()
    stats = serializers.SerializerMethodField()

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "subscription", "stats"]
        read_only_fields = fields

    @extend_schema_field(SubscriptionSummarySerializer)
    def get_subscription(self, user: User) -> dict:
        return _summary_dict(extensions.subscription_summaries([user.pk]).get(user.pk))

    @extend_schema_field(AdminUserStatsSerializer)
    def get_stats(self, user: User) -> dict:
        return AdminUserStatsSerializer(
            {
                "total_payments": extensions.paid_invoice_count(user),
                "last_login": user.last_login_at,
            }
        ).data


class AdminProfileUserSerializer(_UserBase):
    """The staff member's own profile: ``{id, email, name, role, roles, is_active, details}``."""

    details = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "name", "role", "roles", "is_active", "details"]
        read_only_fields = fields

    @extend_schema_field(UserDetailsSerializer(allow_null=True))
    def get_details(self, user: User):
        details = getattr(user, "details", None)
        return UserDetailsSerializer(details).data if details is not None else None

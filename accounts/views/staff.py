"""Staff endpoints for users (API.md §12, without the token and add-on routes) and the staff
member's own profile (§19)."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts import extensions, selectors, services
from accounts.models import UserRole, UserStatus
from accounts.serializers import (
    AdminProfileUserSerializer,
    AdminUserDetailSerializer,
    AdminUserListItemSerializer,
    UserDetailsUpdateSerializer,
    UserSerializer,
    parse_staff_create,
    parse_staff_update,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.exceptions import ValidationFailed
from vbwd.filters import normalise_enum, parse_bool, parse_ordering
from vbwd.pagination import page_serializer, paginate
from vbwd.schema import errors

TAGS = ["admin: users"]


def _user(user_id: str):
    return selectors.user_for_staff(uuid.UUID(user_id))


def _detail(user_id) -> dict:
    return AdminUserDetailSerializer(selectors.user_for_staff(user_id)).data


AdminUserListSerializer = page_serializer(
    "AdminUserListSerializer", items="users", item=AdminUserListItemSerializer
)


class AdminUserEnvelopeSerializer(serializers.Serializer):
    user = AdminUserDetailSerializer()
    message = serializers.CharField(required=False)


class AdminUserCreateRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(min_length=8)
    status = serializers.ChoiceField(choices=UserStatus.choices, required=False)
    role = serializers.ChoiceField(choices=UserRole.choices, required=False)
    first_name = serializers.CharField(required=False)
    last_name = serializers.CharField(required=False)
    details = UserDetailsUpdateSerializer(required=False)


class AdminUserCreatedSerializer(UserSerializer):
    """The created user's fields at the top level, plus ``user`` and ``message``."""

    user = UserSerializer(source="*")
    message = serializers.SerializerMethodField()

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "user", "message"]
        read_only_fields = fields

    def get_message(self, user) -> str:
        return "User created"


class AdminUserUpdateRequestSerializer(UserDetailsUpdateSerializer):
    email = serializers.EmailField(required=False)
    is_active = serializers.BooleanField(required=False)
    status = serializers.ChoiceField(choices=UserStatus.choices, required=False)
    role = serializers.ChoiceField(choices=UserRole.choices, required=False)
    password = serializers.CharField(required=False, min_length=8)
    name = serializers.CharField(required=False)
    details = UserDetailsUpdateSerializer(required=False)
    balance = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    token_balance = serializers.IntegerField(required=False, min_value=0)
    token_balance_reason = serializers.CharField(required=False)
    has_used_trial = serializers.BooleanField(required=False)


class RolesRequestSerializer(serializers.Serializer):
    roles = serializers.ListField(child=serializers.ChoiceField(choices=UserRole.choices))


class ReasonRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False)


class DeletionInfoSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    email = serializers.CharField()
    has_cascade_dependencies = serializers.BooleanField()
    invoice_count = serializers.IntegerField()
    subscription_count = serializers.IntegerField()
    payment_count = serializers.IntegerField()
    token_balance = serializers.IntegerField()
    action = serializers.ChoiceField(choices=["DELETE", "ANONYMISE"])


class UserDeletedSerializer(serializers.Serializer):
    message = serializers.CharField()
    action = serializers.ChoiceField(choices=["DELETED", "ANONYMISED"])
    user = UserSerializer(required=False)


class AdminProfileSerializer(serializers.Serializer):
    user = AdminProfileUserSerializer()
    message = serializers.CharField(required=False)


def _status_filter(value) -> str | None:
    if value in (None, ""):
        return None
    lowered = str(value).strip().lower()
    if lowered == "inactive":
        return "INACTIVE"
    canonical = normalise_enum(value, UserStatus)
    if canonical is None:
        raise ValidationFailed(f"Unknown status: {value}", field="status")
    return canonical


def _role_filter(value) -> str | None:
    if value in (None, ""):
        return None
    canonical = normalise_enum(value, UserRole)
    if canonical is None:
        raise ValidationFailed(f"Unknown role: {value}", field="role")
    return canonical


class AdminUsersView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="List users",
        parameters=[
            OpenApiParameter("search", str, description="email, first or last name"),
            OpenApiParameter("status", str, description="UserStatus, active or inactive"),
            OpenApiParameter("role", str),
            OpenApiParameter("ordering", str, description="created_at, email, last_login_at"),
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: AdminUserListSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = request.query_params
        queryset = selectors.users_for_staff(
            search=(query.get("search") or "").strip() or None,
            status=_status_filter(query.get("status")),
            role=_role_filter(query.get("role")),
            ordering=parse_ordering(
                query.get("ordering"), allowed=selectors.ADMIN_USER_ORDERINGS, default="-created_at"
            ),
        )
        users, meta = paginate(query, queryset)
        context = {"subscriptions": extensions.subscription_summaries(user.pk for user in users)}
        return Response(
            {"users": AdminUserListItemSerializer(users, many=True, context=context).data, **meta}
        )

    @extend_schema(
        tags=TAGS,
        summary="Create a user",
        request=AdminUserCreateRequestSerializer,
        responses={201: AdminUserCreatedSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        user = services.user_staff_create(data=parse_staff_create(request.data), actor=request.user)
        created = selectors.user_for_staff(user.pk)
        return Response(AdminUserCreatedSerializer(created).data, status=201)


class AdminUserDetailView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="A user with subscription and stats",
        responses={200: AdminUserEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, user_id):
        return Response({"user": AdminUserDetailSerializer(_user(user_id)).data})

    @extend_schema(
        tags=TAGS,
        summary="Update a user (partial)",
        request=AdminUserUpdateRequestSerializer,
        responses={200: AdminUserEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, user_id):
        user = _user(user_id)
        services.user_staff_update(
            user=user, data=parse_staff_update(request.data), actor=request.user
        )
        return Response({"user": _detail(user.pk), "message": "User updated"})

    patch = put

    @extend_schema(
        tags=TAGS,
        summary="Delete a user, or anonymise one with financial records (force)",
        parameters=[OpenApiParameter("force", bool)],
        responses={200: UserDeletedSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def delete(self, request, user_id):
        user = _user(user_id)
        force = parse_bool(request.query_params.get("force"), name="force")
        if force is None and hasattr(request.data, "get"):
            force = parse_bool(request.data.get("force"), name="force")
        action = services.user_delete(user=user, actor=request.user, force=bool(force))
        if action == "DELETED":
            return Response({"message": "User deleted successfully", "action": "DELETED"})
        return Response(
            {
                "message": "User anonymised; financial records were kept",
                "action": "ANONYMISED",
                "user": UserSerializer(selectors.user_for_staff(user.pk)).data,
            }
        )


class AdminUserRolesView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Set the user's role from a roles list",
        request=RolesRequestSerializer,
        responses={200: AdminUserEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, user_id):
        user = _user(user_id)
        role = services.role_from_roles(request.data.get("roles"))
        services.user_set_role(user=user, role=role, actor=request.user)
        return Response({"user": _detail(user.pk), "message": "Roles updated"})

    patch = put


def _reason(request) -> str | None:
    reason = request.data.get("reason") if hasattr(request.data, "get") else None
    if reason is not None and not isinstance(reason, str):
        raise ValidationFailed("reason must be a string", field="reason")
    return reason or None


class AdminUserSuspendView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Suspend a user (signs them out everywhere)",
        request=ReasonRequestSerializer,
        responses={200: AdminUserEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, user_id):
        user = _user(user_id)
        services.user_suspend(user=user, actor=request.user, reason=_reason(request))
        return Response({"user": _detail(user.pk), "message": "User suspended"})


class AdminUserActivateView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Activate a pending or suspended user",
        request=ReasonRequestSerializer,
        responses={200: AdminUserEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, user_id):
        user = _user(user_id)
        services.user_activate(user=user, actor=request.user, reason=_reason(request))
        return Response({"user": _detail(user.pk), "message": "User activated"})


class AdminUserDeletionInfoView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="What deleting the user would do",
        responses={200: DeletionInfoSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, user_id):
        return Response(selectors.deletion_info(_user(user_id)))


class AdminProfileView(AdminMixin, ApiView):
    @extend_schema(
        tags=["admin: settings"],
        summary="The staff member's own profile",
        responses={200: AdminProfileSerializer, **errors(401, 403)},
    )
    def get(self, request):
        user = selectors.user_for_staff(request.user.pk)
        return Response({"user": AdminProfileUserSerializer(user).data})

    @extend_schema(
        tags=["admin: settings"],
        summary="Update the staff member's own billing details (config merged)",
        request=UserDetailsUpdateSerializer,
        responses={200: AdminProfileSerializer, **errors(400, 401, 403)},
    )
    def put(self, request):
        serializer = UserDetailsUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.user_details_update(
            user=request.user, data=serializer.validated_data, actor=request.user
        )
        user = selectors.user_for_staff(request.user.pk)
        return Response(
            {"user": AdminProfileUserSerializer(user).data, "message": "Profile updated"}
        )

    patch = put

"""Staff endpoints for users and the staff
member's own profile."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts import extensions, selectors, services
from accounts.serializers import (
    AdminProfileUserSerializer,
    AdminUserDetailSerializer,
    AdminUserListItemSerializer,
    UserDetailsUpdateSerializer,
    UserSerializer,
)
from accounts.serializers.staff_input import (
    ForceSerializer,
    ReasonInputSerializer,
    RolesInputSerializer,
    StaffUserCreateInputSerializer,
    StaffUsersQuerySerializer,
    StaffUserUpdateInputSerializer,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.pagination import page_serializer, paginate
from vbwd.schema import errors

TAGS = ["admin: users"]


def _user(user_id: str):
    return selectors.user_for_staff(uuid.UUID(user_id))


def _detail(user_id) -> dict:
    return AdminUserDetailSerializer(selectors.user_for_staff(user_id)).data


PAGINATION = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]


AdminUserListSerializer = page_serializer(
    "AdminUserListSerializer", items="users", item=AdminUserListItemSerializer
)


class AdminUserEnvelopeSerializer(serializers.Serializer):
    user = AdminUserDetailSerializer()
    message = serializers.CharField(required=False)


class AdminUserCreatedSerializer(UserSerializer):
    """The created user's fields at the top level, plus ``user`` and ``message``."""

    user = UserSerializer(source="*")
    message = serializers.SerializerMethodField()

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "user", "message"]
        read_only_fields = fields

    def get_message(self, user) -> str:
        return "User created"


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


class AdminUsersView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="List users",
        parameters=[StaffUsersQuerySerializer, *PAGINATION],
        responses={200: AdminUserListSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        serializer = StaffUsersQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        filters = serializer.validated_data
        queryset = selectors.users_for_staff(**filters)
        users, meta = paginate(request.query_params, queryset)
        context = {"subscriptions": extensions.subscription_summaries(user.pk for user in users)}
        return Response(
            {"users": AdminUserListItemSerializer(users, many=True, context=context).data, **meta}
        )

    @extend_schema(
        tags=TAGS,
        summary="Create a user",
        request=StaffUserCreateInputSerializer,
        responses={201: AdminUserCreatedSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        serializer = StaffUserCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.user_staff_create(data=data, actor=request.user)
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
        request=StaffUserUpdateInputSerializer,
        responses={200: AdminUserEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, user_id):
        user = _user(user_id)
        serializer = StaffUserUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.user_staff_update(user=user, data=data, actor=request.user)
        return Response({"user": _detail(user.pk), "message": "User updated"})

    patch = put

    @extend_schema(
        tags=TAGS,
        summary="Delete a user, or anonymise one with financial records (force)",
        parameters=[ForceSerializer],
        responses={200: UserDeletedSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def delete(self, request, user_id):
        user = _user(user_id)
        # The flag is read from the query string, else from the body.
        serializer = ForceSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        force = serializer.validated_data.get("force")
        if force is None:
            serializer = ForceSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            force = serializer.validated_data.get("force")
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
        request=RolesInputSerializer,
        responses={200: AdminUserEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, user_id):
        user = _user(user_id)
        serializer = RolesInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = serializer.validated_data["role"]
        services.user_set_role(user=user, role=role, actor=request.user)
        return Response({"user": _detail(user.pk), "message": "Roles updated"})

    patch = put


class AdminUserSuspendView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Suspend a user (signs them out everywhere)",
        request=ReasonInputSerializer,
        responses={200: AdminUserEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, user_id):
        user = _user(user_id)
        serializer = ReasonInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_suspend(
            user=user, actor=request.user, reason=serializer.validated_data.get("reason")
        )
        return Response({"user": _detail(user.pk), "message": "User suspended"})


class AdminUserActivateView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Activate a pending or suspended user",
        request=ReasonInputSerializer,
        responses={200: AdminUserEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, user_id):
        user = _user(user_id)
        serializer = ReasonInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_activate(
            user=user, actor=request.user, reason=serializer.validated_data.get("reason")
        )
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
        serializer = UserDetailsUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.user_details_update(user=request.user, data=data, actor=request.user)
        user = selectors.user_for_staff(request.user.pk)
        return Response(
            {"user": AdminProfileUserSerializer(user).data, "message": "Profile updated"}
        )

    patch = put

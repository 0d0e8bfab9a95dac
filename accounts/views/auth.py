"""Authentication (API.md §4) and the user's own profile, details and password (§6)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from accounts import jwt, selectors, services
from accounts.serializers import (
    AuthUserSerializer,
    ChangePasswordRequestSerializer,
    ChangePasswordResponseSerializer,
    CheckEmailResponseSerializer,
    ForgotPasswordRequestSerializer,
    LoginRequestSerializer,
    LogoutRequestSerializer,
    MeResponseSerializer,
    ProfileResponseSerializer,
    ProfileUpdateResponseSerializer,
    ProfileUserSerializer,
    RefreshRequestSerializer,
    RefreshResponseSerializer,
    RegisterRequestSerializer,
    ResetPasswordRequestSerializer,
    SuccessMessageSerializer,
    TokenResponseSerializer,
    UserDetailsSerializer,
    UserDetailsUpdateSerializer,
    UserSerializer,
)
from vbwd.api import ApiView, OptionalAuthMixin, PublicMixin, UserMixin
from vbwd.exceptions import NotFound, ValidationFailed
from vbwd.filters import parse_bool
from vbwd.parsers import LenientJSONParser
from vbwd.schema import errors
from vbwd.throttling import rate_limit

AUTH_TAG = ["auth"]
USER_TAG = ["user"]


def _token_response(user) -> Response:
    pair = jwt.issue_pair(user)
    return Response(
        {
            "success": True,
            **pair,
            "user_id": str(user.pk),
            "error": None,
            "user": AuthUserSerializer(user).data,
        }
    )


def _field(data, *names):
    for name in names:
        if name in data:
            return data[name]
    return None


class RegisterView(PublicMixin, ApiView):
    throttle_classes = [rate_limit("register_ip", "ip")]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Register a new account",
        request=RegisterRequestSerializer,
        responses={200: TokenResponseSerializer, **errors(400, 409, 429, auth=True)},
    )
    def post(self, request):
        data = request.data
        user = services.user_register(
            email=data.get("email"),
            password=data.get("password"),
            first_name=data.get("first_name"),
            last_name=data.get("last_name"),
            locale=data.get("locale"),
        )
        return _token_response(selectors.user_with_details(user.pk))


class LoginView(PublicMixin, ApiView):
    throttle_classes = [rate_limit("login_ip", "ip"), rate_limit("login_email", "email")]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Log in with email and password",
        request=LoginRequestSerializer,
        responses={200: TokenResponseSerializer, **errors(400, 401, 429, auth=True)},
    )
    def post(self, request):
        user = services.auth_login(
            email=request.data.get("email"), password=request.data.get("password")
        )
        return _token_response(selectors.user_with_details(user.pk))


class RefreshView(PublicMixin, ApiView):
    throttle_classes = [rate_limit("refresh_ip", "ip")]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Exchange a refresh token for a new pair (rotation)",
        request=RefreshRequestSerializer,
        responses={200: RefreshResponseSerializer, **errors(400, 401, 429, auth=True)},
    )
    def post(self, request):
        pair = services.auth_refresh(raw_token=_field(request.data, "refresh_token", "refresh"))
        return Response({"success": True, **pair})


class LogoutView(OptionalAuthMixin, ApiView):
    # "Never fails" (API.md §4): any body, any content type, no Idempotency-Key handling.
    parser_classes = [LenientJSONParser]
    idempotency_exempt = True

    @extend_schema(
        tags=AUTH_TAG,
        summary="Log out: revoke a refresh token, or all of the caller's",
        request=LogoutRequestSerializer,
        responses={200: SuccessMessageSerializer},
    )
    def post(self, request):
        data = request.data
        try:
            everywhere = bool(parse_bool(data.get("all"), name="all"))
        except ValidationFailed:
            everywhere = False  # logout never fails
        user = request.user if request.user.is_authenticated else None
        services.auth_logout(
            raw_token=_field(data, "refresh_token", "refresh"), user=user, everywhere=everywhere
        )
        return Response({"success": True, "message": "Logged out successfully"})


class MeView(UserMixin, ApiView):
    @extend_schema(
        tags=AUTH_TAG,
        summary="The authenticated user",
        responses={200: MeResponseSerializer, **errors(401, auth=True)},
    )
    def get(self, request):
        user = selectors.user_with_details(request.user.pk)
        return Response({"success": True, "user": UserSerializer(user).data})


class CheckEmailView(PublicMixin, ApiView):
    throttle_classes = [rate_limit("check_email_ip", "ip")]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Whether an account exists for an email",
        parameters=[
            OpenApiParameter("email", str, required=True),
            OpenApiParameter("captcha_token", str, required=False),
        ],
        responses={200: CheckEmailResponseSerializer, **errors(400, 429, auth=True)},
    )
    def get(self, request):
        email = request.query_params.get("email", "")
        if not email.strip():
            raise ValidationFailed("Email required", field="email")
        return Response({"success": True, "exists": services.email_exists(email)})


class ForgotPasswordView(PublicMixin, ApiView):
    throttle_classes = [
        rate_limit("forgot_password_email", "email"),
        rate_limit("forgot_password_ip", "ip"),
    ]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Email a password-reset link",
        request=ForgotPasswordRequestSerializer,
        responses={200: SuccessMessageSerializer, **errors(400, 429, auth=True)},
    )
    def post(self, request):
        services.password_reset_request(email=request.data.get("email"))
        return Response({"success": True, "message": "If email exists, reset link sent"})


class ResetPasswordView(PublicMixin, ApiView):
    throttle_classes = [rate_limit("reset_password_ip", "ip")]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Set a new password from an emailed link",
        request=ResetPasswordRequestSerializer,
        responses={200: SuccessMessageSerializer, **errors(400, 429, auth=True)},
    )
    def post(self, request):
        data = request.data
        services.password_reset_confirm(
            uid=data.get("uid"), token=data.get("token"), new_password=data.get("new_password")
        )
        return Response({"success": True, "message": "Password reset successful"})


def _details_input(request) -> dict:
    serializer = UserDetailsUpdateSerializer(data=request.data, partial=True)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ProfileView(UserMixin, ApiView):
    @extend_schema(
        tags=USER_TAG,
        summary="The caller's profile and billing details",
        responses={200: ProfileResponseSerializer, **errors(401)},
    )
    def get(self, request):
        user = selectors.user_with_details(request.user.pk)
        details = getattr(user, "details", None)
        return Response(
            {
                "user": ProfileUserSerializer(user).data,
                "details": UserDetailsSerializer(details).data if details else None,
            }
        )

    @extend_schema(
        tags=USER_TAG,
        summary="Update the caller's billing details (flat fields, config merged)",
        request=UserDetailsUpdateSerializer,
        responses={200: ProfileUpdateResponseSerializer, **errors(400, 401)},
    )
    def put(self, request):
        details = services.user_details_update(user=request.user, data=_details_input(request))
        user = selectors.user_with_details(request.user.pk)
        return Response(
            {
                "user": ProfileUserSerializer(user).data,
                "details": UserDetailsSerializer(details).data,
                "message": "Profile updated",
            }
        )

    patch = put


class DetailsView(UserMixin, ApiView):
    @extend_schema(
        tags=USER_TAG,
        summary="The caller's billing details",
        responses={200: UserDetailsSerializer, **errors(401, 404)},
    )
    def get(self, request):
        user = selectors.user_with_details(request.user.pk)
        details = getattr(user, "details", None)
        if details is None:
            raise NotFound("User details not found")
        return Response(UserDetailsSerializer(details).data)

    @extend_schema(
        tags=USER_TAG,
        summary="Update the caller's billing details (created when missing)",
        request=UserDetailsUpdateSerializer,
        responses={200: UserDetailsSerializer, **errors(400, 401)},
    )
    def put(self, request):
        details = services.user_details_update(user=request.user, data=_details_input(request))
        return Response(UserDetailsSerializer(details).data)

    patch = put


class ChangePasswordView(UserMixin, ApiView):
    throttle_classes = [rate_limit("change_password_user", "user")]

    @extend_schema(
        tags=USER_TAG,
        summary="Change the caller's password; other sessions are signed out",
        request=ChangePasswordRequestSerializer,
        responses={200: ChangePasswordResponseSerializer, **errors(400, 401, 429)},
    )
    def post(self, request):
        data = request.data
        pair = services.password_change(
            user=request.user,
            current_password=_field(data, "currentPassword", "current_password"),
            new_password=_field(data, "newPassword", "new_password"),
        )
        return Response({"success": True, "message": "Password changed successfully", **pair})

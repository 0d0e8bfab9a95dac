"""Authentication and the user's own profile, details and password."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from accounts import jwt, selectors, services
from accounts.serializers import (
    AuthUserSerializer,
    ChangePasswordResponseSerializer,
    CheckEmailResponseSerializer,
    MeResponseSerializer,
    ProfileResponseSerializer,
    ProfileUpdateResponseSerializer,
    ProfileUserSerializer,
    RefreshResponseSerializer,
    SuccessMessageSerializer,
    TokenResponseSerializer,
    UserDetailsSerializer,
    UserDetailsUpdateSerializer,
    UserSerializer,
)
from accounts.serializers.auth_input import (
    ChangePasswordInputSerializer,
    CheckEmailQuerySerializer,
    CredentialsInputSerializer,
    EmailInputSerializer,
    LogoutInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    ResetPasswordInputSerializer,
)
from vbwd.api import ApiView, OptionalAuthMixin, PublicMixin, UserMixin
from vbwd.exceptions import NotFound
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


class RegisterView(PublicMixin, ApiView):
    throttle_classes = [rate_limit("register_ip", "ip")]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Register a new account",
        request=RegisterInputSerializer,
        responses={200: TokenResponseSerializer, **errors(400, 409, 429, auth=True)},
    )
    def post(self, request):
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return _token_response(selectors.user_with_details(user.pk))


class LoginView(PublicMixin, ApiView):
    throttle_classes = [rate_limit("login_ip", "ip"), rate_limit("login_email", "email")]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Log in with email and password",
        request=CredentialsInputSerializer,
        responses={200: TokenResponseSerializer, **errors(400, 401, 429, auth=True)},
    )
    def post(self, request):
        serializer = CredentialsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.auth_login(**serializer.validated_data)
        return _token_response(selectors.user_with_details(user.pk))


class RefreshView(PublicMixin, ApiView):
    throttle_classes = [rate_limit("refresh_ip", "ip")]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Exchange a refresh token for a new pair (rotation)",
        request=RefreshInputSerializer,
        responses={200: RefreshResponseSerializer, **errors(400, 401, 429, auth=True)},
    )
    def post(self, request):
        serializer = RefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = serializer.validated_data["refresh_token"]
        pair = services.auth_refresh(raw_token=token)
        return Response({"success": True, **pair})


class LogoutView(OptionalAuthMixin, ApiView):
    # "Never fails": any body, any content type, no Idempotency-Key handling.
    parser_classes = [LenientJSONParser]
    idempotency_exempt = True

    @extend_schema(
        tags=AUTH_TAG,
        summary="Log out: revoke a refresh token, or all of the caller's",
        request=LogoutInputSerializer,
        responses={200: SuccessMessageSerializer},
    )
    def post(self, request):
        serializer = LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data  # never refused
        user = request.user if request.user.is_authenticated else None
        services.auth_logout(raw_token=values["refresh_token"], user=user, everywhere=values["all"])
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
        parameters=[CheckEmailQuerySerializer],
        responses={200: CheckEmailResponseSerializer, **errors(400, 429, auth=True)},
    )
    def get(self, request):
        serializer = CheckEmailQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["email"]
        return Response({"success": True, "exists": services.email_exists(email)})


class ForgotPasswordView(PublicMixin, ApiView):
    throttle_classes = [
        rate_limit("forgot_password_email", "email"),
        rate_limit("forgot_password_ip", "ip"),
    ]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Email a password-reset link",
        request=EmailInputSerializer,
        responses={200: SuccessMessageSerializer, **errors(400, 429, auth=True)},
    )
    def post(self, request):
        serializer = EmailInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(**serializer.validated_data)
        return Response({"success": True, "message": "If email exists, reset link sent"})


class ResetPasswordView(PublicMixin, ApiView):
    throttle_classes = [rate_limit("reset_password_ip", "ip")]

    @extend_schema(
        tags=AUTH_TAG,
        summary="Set a new password from an emailed link",
        request=ResetPasswordInputSerializer,
        responses={200: SuccessMessageSerializer, **errors(400, 429, auth=True)},
    )
    def post(self, request):
        serializer = ResetPasswordInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_confirm(**serializer.validated_data)
        return Response({"success": True, "message": "Password reset successful"})


class ProfileView(UserMixin, ApiView):
    @extend_schema(
        tags=USER_TAG,
        summary="The caller's profile and billing details",
        responses={200: ProfileResponseSerializer, **errors(401)},
    )
    def get(self, request):
        # The caller's row is the one authentication has just read.
        user = request.user
        details = selectors.details_of(user)
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
        serializer = UserDetailsUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        details = services.user_details_update(user=request.user, data=serializer.validated_data)
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
        serializer = UserDetailsUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        details = services.user_details_update(user=request.user, data=serializer.validated_data)
        return Response(UserDetailsSerializer(details).data)

    patch = put


class ChangePasswordView(UserMixin, ApiView):
    throttle_classes = [rate_limit("change_password_user", "user")]

    @extend_schema(
        tags=USER_TAG,
        summary="Change the caller's password; other sessions are signed out",
        request=ChangePasswordInputSerializer,
        responses={200: ChangePasswordResponseSerializer, **errors(400, 401, 429)},
    )
    def post(self, request):
        serializer = ChangePasswordInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        passwords = serializer.validated_data
        pair = services.password_change(user=request.user, **passwords)
        return Response({"success": True, "message": "Password changed successfully", **pair})

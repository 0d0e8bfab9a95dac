"""Bearer-token authentication of the API.

Authentication never raises: it identifies the caller or leaves the request anonymous and
remembers why. ``IsActiveUser`` then raises that reason on ``user`` and ``admin`` endpoints,
while ``optional`` endpoints simply treat the caller as anonymous. The user row is loaded on
every request, so a suspension, a deletion or a role change takes effect at once.
"""

from __future__ import annotations

import uuid

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from accounts.models import User
from vbwd.rows import row_by

REASON_ATTRIBUTE = "vbwd_auth_error"


def not_authenticated(message: str) -> exceptions.NotAuthenticated:
    return exceptions.NotAuthenticated(message, code="not_authenticated")


def token_invalid(message: str = "Invalid or expired token") -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(message, code="token_invalid")


def account_inactive(
    message: str = "User account is not active",
) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(message, code="account_inactive")


class BearerAuthentication(JWTAuthentication):
    def authenticate_header(self, request) -> str:
        return "Bearer"

    def authenticate(self, request):
        try:
            return self._authenticate(request)
        except exceptions.APIException as reason:
            setattr(request._request, REASON_ATTRIBUTE, reason)
            return None

    def _authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            raise not_authenticated("Authorization header is required")
        parts = header.split()
        if len(parts) != 2 or parts[0] != "Bearer":
            raise not_authenticated("Invalid Authorization header format")
        try:
            validated = self.get_validated_token(parts[1].encode())
        except (InvalidToken, TokenError):
            raise token_invalid() from None
        user = self._load_user(validated)
        if not user.is_active:
            raise account_inactive()
        return user, validated

    @staticmethod
    def _load_user(validated) -> User:
        try:
            user_id = uuid.UUID(str(validated["user_id"]))
        except (KeyError, ValueError):
            raise token_invalid() from None
        user = _user_row(user_id)
        if user is None:
            raise token_invalid("User not found")
        return user


def _user_row(user_id: uuid.UUID) -> User | None:
    """The user row by primary key, fresh from the database on every request: one indexed
    query written once, because building it with the ORM costs several times its round trip
    and every authenticated request pays it."""
    return row_by(User, "id", user_id)


def failure_reason(request) -> exceptions.APIException:
    """Why the request is anonymous: the remembered reason, or a missing header."""
    reason = getattr(request._request, REASON_ATTRIBUTE, None)
    return reason or not_authenticated("Authorization header is required")

"""JWT issuing and revocation (djangorestframework-simplejwt with its blacklist)."""

from __future__ import annotations

from django.conf import settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken


def issue_pair(user) -> dict:
    """A new refresh token (recorded as outstanding) and its access token, with their claims."""
    refresh = RefreshToken.for_user(user)
    refresh["email"] = user.email
    refresh["roles"] = list(user.roles)
    access = refresh.access_token
    return {
        "token": str(access),
        "refresh_token": str(refresh),
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def revoke_all(user) -> int:
    """Blacklists every outstanding refresh token of ``user``; returns how many were new.

    Callers hold the user row lock (``accounts.services.users.lock_user``) inside a transaction,
    which a concurrent refresh also takes, so no token issued meanwhile escapes.
    """
    pending = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    rows = [BlacklistedToken(token=token) for token in pending]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)

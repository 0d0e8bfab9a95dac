"""Authentication use cases: registration, login, refresh rotation, logout, passwords.

Signals and emails go out only after the transaction that caused them commits.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import jwt, tasks
from accounts.models import User, normalise_email
from accounts.services.users import check_password_policy, lock_user, user_create
from accounts.signals import password_changed, user_registered
from audit.services import audit_record
from vbwd.exceptions import AuthenticationError, BusinessRuleError, DomainError, ValidationFailed


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"
    default_message = "Invalid credentials"


class InvalidResetToken(DomainError):
    code = "invalid_reset_token"
    default_message = "Invalid or expired token"


def user_register(
    *,
    email: str,
    password: str,
    first_name: str | None = None,
    last_name: str | None = None,
    locale: str | None = None,
) -> User:
    """Self-service registration from validated input: an ACTIVE USER with details (409 when the
    email is taken); ``user_registered`` after commit."""
    config = {"language": locale} if locale else {}
    user = user_create(
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        config=config,
        action="user.registered",
    )
    # Sent robustly: a failing receiver is logged and cannot turn the committed registration
    # into a 500.
    user_registered.send_on_commit(sender=user_register, user=user)
    return user


def auth_login(*, email: str, password: str) -> User:
    """Checks the credentials; unknown email and wrong password answer alike, in similar time."""
    user = User.objects.filter(email=normalise_email(email)).first()
    if user is None:
        make_password(password)  # spend the hashing time an existing user would cost
        raise InvalidCredentials()
    if not user.check_password(password):
        raise InvalidCredentials()
    if not user.is_active:
        raise AuthenticationError("User account is inactive", code="account_inactive")
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(last_login_at=now)
    user.last_login_at = now
    return user


def auth_refresh(*, raw_token: str) -> dict:
    """Rotates a refresh token: the old one is blacklisted, a new pair is issued (exactly once)."""
    invalid = AuthenticationError("Invalid or expired refresh token")
    try:
        refresh = RefreshToken(raw_token)
    except TokenError:
        raise invalid from None
    user = User.objects.filter(pk=refresh.get("user_id")).first()
    if user is None:
        raise invalid
    with transaction.atomic():
        # User first, then the token: the order every revocation path uses, so a refresh racing
        # a password change, suspension or logout-everywhere waits instead of deadlocking.
        user = lock_user(user)
        outstanding = (
            OutstandingToken.objects.select_for_update(of=("self",))
            .filter(jti=refresh["jti"])
            .order_by("pk")
            .first()
        )
        if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
            raise invalid
        if not user.is_active:
            raise AuthenticationError("User account is inactive", code="account_inactive")
        BlacklistedToken.objects.create(token=outstanding)
        return jwt.issue_pair(user)


def auth_logout(
    *, raw_token: str | None = None, user: User | None = None, everywhere: bool = False
) -> None:
    """Blacklists the given refresh token when valid, and all of ``user``'s with ``everywhere``."""
    if raw_token:
        # An invalid or already revoked token is ignored by contract.
        with contextlib.suppress(TokenError, IntegrityError, OutstandingToken.DoesNotExist):
            RefreshToken(raw_token).blacklist()
    if everywhere and user is not None:
        with transaction.atomic():
            # Locked so a refresh committing meanwhile cannot leave a token behind.
            jwt.revoke_all(lock_user(user))


def _password_replace(locked: User, new_password: str, *, action: str, summary: str) -> None:
    """Stores the user's own new password and revokes every refresh token (each session signs
    in again); audited as ``action``. ``locked`` is the user's row, locked by the caller."""
    locked.set_password(new_password)
    locked.save(update_fields=["password", "updated_at"])
    jwt.revoke_all(locked)
    audit_record(
        action=action,
        object_type="user",
        object_id=locked.pk,
        subject_user_id=locked.pk,
        summary=summary,
        actor=locked,
    )


def password_change(*, user: User, current_password: str, new_password: str) -> dict:
    """Sets a new password, revokes every refresh token and returns a fresh pair."""
    with transaction.atomic():
        locked = lock_user(user)
        if not locked.check_password(current_password):
            raise BusinessRuleError("Current password is incorrect")
        check_password_policy(new_password, field="new_password")
        if current_password == new_password:
            raise ValidationFailed(
                "New password must be different from the current password", field="new_password"
            )
        _password_replace(
            locked,
            new_password,
            action="user.password_changed",
            summary=f"{locked.email} changed their password",
        )
        pair = jwt.issue_pair(locked)
        _after_password_change(locked, via="change")
    return pair


def _after_password_change(user: User, *, via: str) -> None:
    def notify():
        tasks.send_password_changed_email.delay(str(user.pk))
        password_changed.send(sender=password_change, user=user, via=via)

    # robust: a mail or queue failure is logged; the committed change and its answer stand.
    transaction.on_commit(notify, robust=True)


def password_reset_link(user: User) -> str:
    query = urlencode(
        {
            "uid": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        }
    )
    return f"{settings.VBWD_PASSWORD_RESET_URL}?{query}"


def password_reset_request(*, email: str) -> None:
    """Emails a reset link to a known ACTIVE user; answers the same for unknown emails."""
    user = User.objects.filter(email=normalise_email(email)).first()
    if user is None or not user.is_active:
        return
    user_id = str(user.pk)
    # robust: known and unknown emails must answer alike, even when the mailer fails.
    transaction.on_commit(lambda: tasks.send_password_reset_email.delay(user_id), robust=True)


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> None:
    """Sets the password from a single-use link and revokes every refresh token."""
    try:
        user_id = force_str(urlsafe_base64_decode(uid))
        user = User.objects.filter(pk=user_id).first()
    except (ValueError, TypeError, OverflowError, DjangoValidationError):  # malformed uid
        user = None
    if user is None or not user.is_active or not default_token_generator.check_token(user, token):
        raise InvalidResetToken()
    check_password_policy(new_password, field="new_password")
    with transaction.atomic():
        locked = lock_user(user)
        # Re-check under the lock: a concurrent reset has changed the hash the token depends on.
        if not default_token_generator.check_token(locked, token):
            raise InvalidResetToken()
        _password_replace(
            locked,
            new_password,
            action="user.password_reset",
            summary=f"{locked.email} reset their password by email link",
        )
        _after_password_change(locked, via="reset")

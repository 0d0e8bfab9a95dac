"""User rows: creation, billing details, role and status, staff edits, deletion.

Each function runs in one transaction, locks the user row it changes and writes the audit log.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from accounts import passwords, tokens
from accounts.models import User, UserDetails, UserRole, UserStatus, normalise_email
from audit.services import audit_record, changes
from vbwd.exceptions import BusinessRuleError, Conflict, ValidationFailed

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 255

DETAILS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "tax_number",
    "phone",
    "address_line_1",
    "address_line_2",
    "city",
    "state",
    "postal_code",
    "country",
)
# Set by staff in the back office only.
STAFF_DETAILS_FIELDS = ("balance", "balance_currency")


def lock_user(user: User) -> User:
    return User.objects.select_for_update().get(pk=user.pk)


def check_password_policy(password: str, field: str = "password") -> None:
    errors = passwords.policy_errors(password)
    if errors:
        raise ValidationFailed(errors[0], errors={field: errors})


def validate_email_address(email: str, field: str = "email") -> str:
    email = normalise_email(email)
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
        raise ValidationFailed("Invalid email format", field=field)
    return email


def email_exists(email: str) -> bool:
    return User.objects.filter(email=normalise_email(email)).exists()


def user_create(
    *,
    email: str,
    password: str | None,
    role: str = UserRole.USER,
    status: str = UserStatus.ACTIVE,
    first_name: str | None = None,
    last_name: str | None = None,
    config: dict | None = None,
    actor: User | None = None,
    action: str = "user.created",
) -> User:
    """Creates a user with its details row in one transaction (409 when the email is taken)."""
    email = normalise_email(email)
    try:
        with transaction.atomic():
            if User.objects.filter(email=email).exists():
                raise Conflict("User with this email already exists")
            user = User(
                email=email,
                role=role,
                status=status,
                is_superuser=False,
            )
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
            UserDetails.objects.create(
                user=user,
                first_name=first_name or None,
                last_name=last_name or None,
                config=config or {},
            )
            audit_record(
                action=action,
                object_type="user",
                object_id=user.pk,
                subject_user_id=user.pk,
                summary=f"User {email} created with role {role}",
                actor=actor or user,
                after={"email": email, "role": role, "status": status},
            )
    except IntegrityError:
        raise Conflict("User with this email already exists") from None
    return user


def _details_snapshot(details: UserDetails) -> dict:
    snapshot = {field: getattr(details, field) for field in DETAILS_FIELDS + STAFF_DETAILS_FIELDS}
    snapshot["config"] = dict(details.config or {})
    return snapshot


def user_details_update(*, user: User, data: dict, actor: User | None = None) -> UserDetails:
    """Applies validated details fields (``config`` is merged); creates the row when missing.

    ``balance`` / ``balance_currency`` are only passed by staff screens; the API never sends them.
    """
    with transaction.atomic():
        lock_user(user)
        details, _created = UserDetails.objects.select_for_update().get_or_create(user=user)
        before = _details_snapshot(details)
        for field in DETAILS_FIELDS + STAFF_DETAILS_FIELDS:
            if field in data:
                setattr(details, field, data[field])
        if "config" in data and data["config"] is not None:
            details.config = {**(details.config or {}), **data["config"]}
        details.save()
        old, new = changes(before, _details_snapshot(details))
        if new:
            audit_record(
                action="user.details_updated",
                object_type="user",
                object_id=user.pk,
                subject_user_id=user.pk,
                summary=f"Billing details of {user.email} updated ({', '.join(sorted(new))})",
                actor=actor or user,
                before=old,
                after=new,
            )
    user.details = details
    return details


def user_set_role(*, user: User, role: str, actor: User | None, reason: str | None = None) -> User:
    """Changes the role (ADMIN = staff); a superuser always stays ADMIN."""
    if role not in UserRole.values:
        raise ValidationFailed(f"Unknown role: {role}", field="role")
    with transaction.atomic():
        locked = lock_user(user)
        if locked.role == role:
            return locked
        if locked.is_superuser and role != UserRole.ADMIN:
            raise BusinessRuleError("A superuser always has the ADMIN role")
        old_role = locked.role
        locked.role = role
        locked.save(update_fields=["role", "updated_at"])
        audit_record(
            action="user.role_changed",
            object_type="user",
            object_id=locked.pk,
            subject_user_id=locked.pk,
            summary=f"Role of {locked.email} changed from {old_role} to {role}",
            actor=actor,
            before={"role": old_role},
            after={"role": role},
            reason=reason,
        )
    return locked


def _set_status(*, user: User, target: str, verb: str, action: str, actor, reason) -> User:
    with transaction.atomic():
        locked = lock_user(user)
        if locked.status == target:
            return locked
        old_status = locked.status
        getattr(locked, verb)()
        locked.save(update_fields=["status", "updated_at"])
        if target != UserStatus.ACTIVE:
            tokens.revoke_all(locked)
        audit_record(
            action=action,
            object_type="user",
            object_id=locked.pk,
            subject_user_id=locked.pk,
            summary=f"{locked.email}: {old_status} → {target}",
            actor=actor,
            before={"status": old_status},
            after={"status": target},
            reason=reason,
        )
    return locked


def user_suspend(*, user: User, actor: User | None, reason: str | None = None) -> User:
    """SUSPENDED at once: access tokens stop working and every refresh token is revoked."""
    return _set_status(
        user=user,
        target=UserStatus.SUSPENDED,
        verb="suspend",
        action="user.suspended",
        actor=actor,
        reason=reason,
    )


def user_activate(*, user: User, actor: User | None, reason: str | None = None) -> User:
    """Back to ACTIVE from PENDING or SUSPENDED."""
    return _set_status(
        user=user,
        target=UserStatus.ACTIVE,
        verb="activate",
        action="user.activated",
        actor=actor,
        reason=reason,
    )

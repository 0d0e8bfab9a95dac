"""User rows: creation, billing details, role and status, staff edits, deletion.

Each function runs in one transaction, locks the user row it changes and writes the audit log.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from accounts import extensions, jwt, passwords
from accounts.models import User, UserDetails, UserRole, UserStatus, normalise_email
from audit.services import audit_record, changes
from vbwd.exceptions import (
    BusinessRuleError,
    Conflict,
    HasDependencies,
    InvalidTransition,
    ValidationFailed,
)

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 255

DETAILS_FIELDS = (
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
)
# Set by staff in the back office only.
STAFF_DETAILS_FIELDS = ("balance", "balance_currency")


def lock_user(user: User) -> User:
    """Locks the user row. For staff, every admin row is locked first, in primary-key order, so
    concurrent changes to admins queue up instead of deadlocking, and the last-admin rule sees
    the committed state."""
    if user.role == UserRole.ADMIN:
        list(
            User.objects.select_for_update()
            .filter(role=UserRole.ADMIN)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
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


def _guard_staff_change(*, target: User, actor: User | None, change: str) -> None:
    """Self-protection and the last-active-admin rule.

    ``change`` is ``suspend``, ``demote`` or ``delete``. The active admins are locked before they
    are counted, so two staff members cannot demote each other at the same time.
    """
    if actor is not None and actor.pk == target.pk:
        raise BusinessRuleError(SELF_PROTECTION_MESSAGES[change])
    if target.role == UserRole.ADMIN and target.status == UserStatus.ACTIVE:
        other_active_admins = list(
            User.objects.select_for_update()
            .filter(role=UserRole.ADMIN, status=UserStatus.ACTIVE)
            .exclude(pk=target.pk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not other_active_admins:
            raise BusinessRuleError("At least one active admin must remain")


SELF_PROTECTION_MESSAGES = {
    "suspend": "You cannot suspend your own account",
    "demote": "You cannot remove your own admin role",
    "delete": "You cannot delete your own account",
}


def user_set_role(*, user: User, role: str, actor: User | None, reason: str | None = None) -> User:
    """Changes the role (ADMIN = staff); a superuser always stays ADMIN; no-op when unchanged."""
    if role not in UserRole.values:
        raise ValidationFailed(f"Unknown role: {role}", field="role")
    with transaction.atomic():
        locked = lock_user(user)
        if locked.role == role:
            return locked
        if locked.role == UserRole.ADMIN:
            _guard_staff_change(target=locked, actor=actor, change="demote")
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


def _change_status(*, locked: User, target: str, actor, reason, strict: bool) -> bool:
    """Moves a locked user to ``target``; False when already there (an error when ``strict``)."""
    if locked.status == target:
        if strict:
            state = "suspended" if target == UserStatus.SUSPENDED else "active"
            raise InvalidTransition(f"User is already {state}")
        return False
    if locked.status == UserStatus.DELETED:
        raise InvalidTransition(
            "An anonymised user cannot be activated"
            if target == UserStatus.ACTIVE
            else "An anonymised user cannot be changed"
        )
    if target != UserStatus.ACTIVE:
        _guard_staff_change(target=locked, actor=actor, change="suspend")
    old_status = locked.status
    if target == UserStatus.ACTIVE:
        locked.activate()
    elif target == UserStatus.SUSPENDED:
        locked.suspend()
    else:
        locked._move_to(target)
    locked.save(update_fields=["status", "updated_at"])
    if target != UserStatus.ACTIVE:
        jwt.revoke_all(locked)
    action = {
        UserStatus.ACTIVE: "user.activated",
        UserStatus.SUSPENDED: "user.suspended",
    }.get(target, "user.status_changed")
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
    return True


def user_suspend(*, user: User, actor: User | None, reason: str | None = None) -> User:
    """SUSPENDED at once: access tokens stop working and every refresh token is revoked."""
    with transaction.atomic():
        locked = lock_user(user)
        _change_status(
            locked=locked, target=UserStatus.SUSPENDED, actor=actor, reason=reason, strict=True
        )
    return locked


def user_activate(*, user: User, actor: User | None, reason: str | None = None) -> User:
    """Back to ACTIVE from PENDING or SUSPENDED."""
    with transaction.atomic():
        locked = lock_user(user)
        _change_status(
            locked=locked, target=UserStatus.ACTIVE, actor=actor, reason=reason, strict=True
        )
    return locked


def user_staff_create(*, data: dict, actor: User) -> User:
    """A user created by staff: any role and status but DELETED, details set at once."""
    user = user_create(
        email=data["email"],
        password=data["password"],
        role=data.get("role") or UserRole.USER,
        status=data.get("status") or UserStatus.ACTIVE,
        first_name=data.get("first_name"),
        last_name=data.get("last_name"),
        actor=actor,
    )
    details = dict(data.get("details") or {})
    if details:
        user_details_update(user=user, data=details, actor=actor)
    return user


def user_staff_update(*, user: User, data: dict, actor: User) -> User:
    """Staff edit of a user: one transaction, an audit row per concern.

    ``data`` is validated input: ``email``, ``status``, ``role``, ``password``, ``details``
    (writable details fields), ``balance``, ``has_used_trial``, ``token_balance`` and
    ``token_balance_reason``; absent keys stay as they are.
    """
    with transaction.atomic():
        locked = lock_user(user)
        if locked.status == UserStatus.DELETED:
            raise InvalidTransition("An anonymised user cannot be changed")
        before = {"email": locked.email, "has_used_trial": locked.has_used_trial}
        if "email" in data and data["email"] != locked.email:
            if User.objects.filter(email=data["email"]).exclude(pk=locked.pk).exists():
                raise Conflict("User with this email already exists")
            locked.email = data["email"]
        if "has_used_trial" in data:
            locked.has_used_trial = data["has_used_trial"]
        password_changed = bool(data.get("password"))
        if password_changed:
            locked.set_password(data["password"])
        locked.save()
        if password_changed:
            jwt.revoke_all(locked)
        after = {"email": locked.email, "has_used_trial": locked.has_used_trial}
        old, new = changes(before, after)
        if password_changed:
            old["password"], new["password"] = "(hidden)", "(changed by staff)"
        if new:
            audit_record(
                action="user.updated",
                object_type="user",
                object_id=locked.pk,
                subject_user_id=locked.pk,
                summary=f"{locked.email} updated by staff ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
        if "role" in data:
            user_set_role(user=locked, role=data["role"], actor=actor)
            locked.refresh_from_db()
        if "status" in data:
            _change_status(
                locked=locked, target=data["status"], actor=actor, reason=None, strict=False
            )
        details = dict(data.get("details") or {})
        if "balance" in data:
            details["balance"] = data["balance"]
        if details:
            user_details_update(user=locked, data=details, actor=actor)
        if "token_balance" in data:
            setter = extensions.token_balance_setter()
            if setter is None:
                raise ValidationFailed(
                    "token_balance cannot be set: token balances are not installed",
                    field="token_balance",
                )
            setter(
                user=locked,
                balance=data["token_balance"],
                actor=actor,
                reason=data.get("token_balance_reason") or "Balance set by staff",
            )
    return locked


def user_delete(*, user: User, actor: User | None, force: bool, reason: str | None = None) -> str:
    """Deletes a user without financial records, or anonymises one with ``force``.

    Returns ``"DELETED"`` or ``"ANONYMISED"``. Invoices, payments, credit notes and the token
    ledger are never deleted; the apps owning them act through ``user_anonymising``.
    """
    with transaction.atomic():
        locked = lock_user(user)
        if locked.status == UserStatus.DELETED:
            raise InvalidTransition("User has already been anonymised")
        _guard_staff_change(target=locked, actor=actor, change="delete")
        records = extensions.financial_records_of(locked)
        if not records.has_any:
            audit_record(
                action="user.deleted",
                object_type="user",
                object_id=locked.pk,
                subject_user_id=locked.pk,
                summary=f"User {locked.email} deleted (no financial records)",
                actor=actor,
                before={"email": locked.email, "role": locked.role, "status": locked.status},
                reason=reason,
            )
            locked.delete()
            return "DELETED"
        if not force:
            raise HasDependencies(
                f"User has financial records ({records.invoice_count} invoices). "
                "Pass force=true to anonymise the account instead.",
                extra={
                    "has_dependencies": True,
                    "invoice_count": records.invoice_count,
                    "subscription_count": records.subscription_count,
                },
            )
        _anonymise(locked, actor=actor, reason=reason)
        return "ANONYMISED"


def _anonymise(locked: User, *, actor, reason: str | None) -> None:
    extensions.user_anonymising.send(sender=user_delete, user=locked, actor=actor)
    old_status = locked.status
    locked.email = f"deleted-{locked.pk}@anonymised.invalid"
    locked.set_unusable_password()
    locked.mark_deleted()
    locked.save()
    UserDetails.objects.filter(user=locked).update(config={}, **dict.fromkeys(DETAILS_FIELDS))
    jwt.revoke_all(locked)
    # The old email is deliberately not copied into this entry.
    audit_record(
        action="user.anonymised",
        object_type="user",
        object_id=locked.pk,
        subject_user_id=locked.pk,
        summary=f"User {locked.pk} anonymised; financial records were kept",
        actor=actor,
        before={"status": old_status},
        after={"status": UserStatus.DELETED, "email": locked.email},
        reason=reason,
    )

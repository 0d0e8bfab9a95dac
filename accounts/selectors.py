"""Read-side queries about users shared by several callers."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet

from accounts import extensions
from accounts.models import User, UserDetails, UserStatus
from vbwd.exceptions import NotFound
from vbwd.rows import row_by

ADMIN_USER_ORDERINGS = ("created_at", "email", "last_login_at")


def token_balance_of(user: User) -> int:
    """The user's token balance; 0 when they never had tokens.

    The tokens app owns the balance row (reverse one-to-one ``token_balance`` on User); accounts
    reads it without importing that app.
    """
    try:
        balance = user.token_balance
    except (AttributeError, ObjectDoesNotExist):  # no row yet, or no tokens app installed
        return 0
    return int(getattr(balance, "balance", 0) or 0)


def _related_rows() -> list[str]:
    """select_related paths for every one-to-one row a User shape reads."""
    related = ["details"]
    if any(rel.name == "token_balance" for rel in User._meta.related_objects):
        related.append("token_balance")
    return related


def user_with_details(user_id) -> User | None:
    return User.objects.select_related(*_related_rows()).filter(pk=user_id).first()


def details_of(user: User) -> UserDetails | None:
    """The user's billing details, None when they have none; linked both ways with ``user``,
    so neither ``user.details`` nor ``details.user`` costs another query."""
    details = row_by(UserDetails, "user", user.pk)
    User._meta.get_field("details").set_cached_value(user, details)
    if details is not None:
        UserDetails._meta.get_field("user").set_cached_value(details, user)
    return details


def user_for_staff(user_id) -> User:
    """A user by id for staff screens, with its one-to-one rows; 404 "User not found"."""
    user = user_with_details(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


def users_for_staff(
    *,
    search: str | None = None,
    status: str | None = None,
    role: str | None = None,
    ordering: str = "-created_at",
) -> QuerySet[User]:
    """The staff user list: ``status`` is a UserStatus or ``ACTIVE_ONLY`` / ``INACTIVE``."""
    queryset = User.objects.select_related(*_related_rows())
    if search:
        queryset = queryset.filter(
            Q(email__icontains=search)
            | Q(details__first_name__icontains=search)
            | Q(details__last_name__icontains=search)
        )
    if status == "INACTIVE":
        queryset = queryset.exclude(status=UserStatus.ACTIVE)
    elif status:
        queryset = queryset.filter(status=status)
    if role:
        queryset = queryset.filter(role=role)
    return queryset.order_by(ordering, "pk")


def deletion_info(user: User) -> dict:
    records = extensions.financial_records_of(user)
    return {
        "user_id": str(user.pk),
        "email": user.email,
        "has_cascade_dependencies": records.has_any,
        "invoice_count": records.invoice_count,
        "subscription_count": records.subscription_count,
        "payment_count": records.payment_count,
        "token_balance": token_balance_of(user),
        "action": "ANONYMISE" if records.has_any else "DELETE",
    }

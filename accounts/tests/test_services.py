import pytest
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import services
from accounts.jwt import issue_pair
from accounts.models import UserRole, UserStatus
from accounts.tests.factories import AdminFactory, UserFactory
from audit.models import ActorType, AuditEntry
from vbwd.exceptions import BusinessRuleError, InvalidTransition
from vbwd.request_context import RequestContext, activate, reset

pytestmark = pytest.mark.django_db


def _outstanding_not_blacklisted(user) -> int:
    return OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).count()


def test_suspend_revokes_refresh_tokens_and_writes_the_audit_row():
    user = UserFactory()
    staff = AdminFactory()
    issue_pair(user)
    issue_pair(user)
    context = activate(RequestContext(request_id="req-123", ip_address="203.0.113.9"))
    try:
        services.user_suspend(user=user, actor=staff, reason="chargeback")
    finally:
        reset(context)

    user.refresh_from_db()
    assert user.status == UserStatus.SUSPENDED
    assert _outstanding_not_blacklisted(user) == 0
    entry = AuditEntry.objects.get(action="user.suspended")
    assert entry.actor_type == ActorType.STAFF
    assert entry.actor_id == staff.pk
    assert entry.actor_email == staff.email
    assert entry.object_type == "user"
    assert entry.object_id == str(user.pk)
    assert entry.subject_user_id == user.pk
    assert entry.before == {"status": "ACTIVE"}
    assert entry.after == {"status": "SUSPENDED"}
    assert entry.reason == "chargeback"
    assert entry.request_id == "req-123"
    assert entry.ip_address == "203.0.113.9"


def test_suspend_twice_is_refused_without_a_second_audit_row():
    user = UserFactory()

    services.user_suspend(user=user, actor=None)
    with pytest.raises(InvalidTransition, match="User is already suspended"):
        services.user_suspend(user=user, actor=None)

    assert AuditEntry.objects.filter(action="user.suspended").count() == 1
    assert AuditEntry.objects.get(action="user.suspended").actor_type == ActorType.SYSTEM


def test_activate_brings_a_suspended_user_back():
    user = UserFactory(status=UserStatus.SUSPENDED)

    services.user_activate(user=user, actor=AdminFactory(), reason="cleared")

    user.refresh_from_db()
    assert user.status == UserStatus.ACTIVE
    assert AuditEntry.objects.get(action="user.activated").after == {"status": "ACTIVE"}


def test_a_deleted_user_cannot_be_activated():
    user = UserFactory(status=UserStatus.DELETED)

    with pytest.raises(InvalidTransition):
        services.user_activate(user=user, actor=None)
    assert not AuditEntry.objects.filter(action="user.activated").exists()


def test_role_change_is_audited_with_before_and_after():
    user = UserFactory()
    staff = AdminFactory()

    services.user_set_role(user=user, role=UserRole.ADMIN, actor=staff, reason="new hire")

    user.refresh_from_db()
    assert user.is_staff
    entry = AuditEntry.objects.get(action="user.role_changed")
    assert (entry.before, entry.after, entry.reason) == (
        {"role": "USER"},
        {"role": "ADMIN"},
        "new hire",
    )
    assert entry.summary == f"Role of {user.email} changed from USER to ADMIN"


def test_a_superuser_keeps_the_admin_role():
    root = AdminFactory(is_superuser=True)

    with pytest.raises(BusinessRuleError):
        services.user_set_role(user=root, role=UserRole.USER, actor=None)
    root.refresh_from_db()
    assert root.role == UserRole.ADMIN


def test_unchanged_details_write_no_audit_row():
    user = UserFactory()

    services.user_details_update(user=user, data={"first_name": None})

    assert not AuditEntry.objects.filter(action="user.details_updated").exists()

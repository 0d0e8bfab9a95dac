import pytest
from django.db import IntegrityError

from accounts.models import User, UserRole, UserStatus
from accounts.tests.factories import UserFactory
from vbwd.exceptions import InvalidTransition


@pytest.mark.parametrize(
    ("start", "verb", "end"),
    [
        (UserStatus.PENDING, "activate", UserStatus.ACTIVE),
        (UserStatus.ACTIVE, "suspend", UserStatus.SUSPENDED),
        (UserStatus.SUSPENDED, "activate", UserStatus.ACTIVE),
        (UserStatus.ACTIVE, "mark_deleted", UserStatus.DELETED),
        (UserStatus.SUSPENDED, "mark_deleted", UserStatus.DELETED),
    ],
)
def test_allowed_status_transitions(start, verb, end):
    user = User(status=start)

    getattr(user, verb)()

    assert user.status == end


@pytest.mark.parametrize(
    ("start", "verb"),
    [
        (UserStatus.DELETED, "activate"),
        (UserStatus.DELETED, "suspend"),
        (UserStatus.ACTIVE, "activate"),
        (UserStatus.SUSPENDED, "suspend"),
    ],
)
def test_refused_status_transitions(start, verb):
    user = User(status=start)

    with pytest.raises(InvalidTransition):
        getattr(user, verb)()
    assert user.status == start


def test_is_active_and_is_staff_follow_status_and_role():
    assert User(status=UserStatus.ACTIVE).is_active is True
    assert User(status=UserStatus.SUSPENDED).is_active is False
    assert User(role=UserRole.ADMIN).is_staff is True
    assert User(role=UserRole.VENDOR).is_staff is False
    assert User(role=UserRole.VENDOR).roles == ["VENDOR"]


def test_only_active_admins_have_back_office_permissions():
    assert User(role=UserRole.ADMIN, status=UserStatus.ACTIVE).has_perm("accounts.change_user")
    assert not User(role=UserRole.ADMIN, status=UserStatus.SUSPENDED).has_module_perms("accounts")
    assert not User(role=UserRole.USER, status=UserStatus.ACTIVE).has_perm("accounts.view_user")


@pytest.mark.django_db
def test_email_is_unique_case_insensitively_in_the_database():
    UserFactory(email="same@example.com")

    with pytest.raises(IntegrityError):
        User.objects.create(email="SAME@example.com")


@pytest.mark.django_db
def test_a_superuser_must_be_admin():
    with pytest.raises(IntegrityError):
        User.objects.create(email="root@example.com", is_superuser=True, role=UserRole.USER)


@pytest.mark.django_db
def test_create_superuser_makes_an_active_admin_with_details():
    user = User.objects.create_superuser("Root@Example.com", "R00t!password")

    assert user.email == "root@example.com"
    assert user.role == UserRole.ADMIN
    assert user.is_superuser
    assert user.is_active
    assert user.details.pk is not None

"""Row locks that only PostgreSQL enforces."""

import threading

import pytest
from django.db import connection

from accounts import services
from accounts.tests.factories import UserFactory
from accounts.tokens import issue_pair
from vbwd.exceptions import AuthenticationError


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refresh_token_rotates_exactly_once_under_concurrency():
    user = UserFactory()
    refresh_token = issue_pair(user)["refresh_token"]
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def rotate():
        try:
            barrier.wait()
            try:
                services.auth_refresh(raw_token=refresh_token)
                outcome = "rotated"
            except AuthenticationError as error:
                outcome = error.code
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=rotate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["rotated"] + ["token_invalid"] * 7


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin():
    from accounts.models import User, UserRole, UserStatus
    from accounts.tests.factories import AdminFactory
    from vbwd.exceptions import BusinessRuleError

    first, second = AdminFactory(), AdminFactory()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def demote(actor, target):
        try:
            barrier.wait()
            try:
                services.user_set_role(user=target, role=UserRole.USER, actor=actor)
                outcome = "demoted"
            except BusinessRuleError as error:
                outcome = error.message
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["At least one active admin must remain", "demoted"]
    assert User.objects.filter(role=UserRole.ADMIN, status=UserStatus.ACTIVE).count() == 1

"""Row locks that only PostgreSQL enforces."""

import threading

import pytest
from django.db import connection

from accounts import services
from accounts.jwt import issue_pair
from accounts.tests.factories import UserFactory
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


def _race(first, second):
    """Runs two callables at the same instant; returns what each returned or raised."""
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def run(name, function):
        try:
            barrier.wait()
            try:
                results[name] = function()
            except Exception as error:  # recorded for the assertions
                results[name] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("first", first)),
        threading.Thread(target=run, args=("second", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results["first"], results["second"]


def _refresh_outcome(result) -> str:
    if isinstance(result, dict):
        return "rotated"
    if isinstance(result, AuthenticationError):
        return result.code
    raise AssertionError(f"unexpected outcome: {result!r}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("revocation", ["password_change", "suspend", "logout_everywhere"])
def test_a_refresh_racing_a_revocation_never_deadlocks_or_survives(revocation):
    from accounts.tests.factories import DEFAULT_PASSWORD

    for _round in range(5):
        user = UserFactory()
        refresh_token = issue_pair(user)["refresh_token"]
        revoke = {
            "password_change": lambda user=user: services.password_change(
                user=user, current_password=DEFAULT_PASSWORD, new_password="N3w!password"
            ),
            "suspend": lambda user=user: services.user_suspend(user=user, actor=None),
            "logout_everywhere": lambda user=user: services.auth_logout(user=user, everywhere=True),
        }[revocation]

        refreshed, revoked = _race(
            lambda token=refresh_token: services.auth_refresh(raw_token=token), revoke
        )

        assert not isinstance(revoked, Exception), revoked
        outcome = _refresh_outcome(refreshed)
        if outcome == "rotated":
            # The refresh won the race: the token it issued must have been revoked after it.
            with pytest.raises(AuthenticationError):
                services.auth_refresh(raw_token=refreshed["refresh_token"])
        else:
            assert outcome in {"token_invalid", "account_inactive"}

"""Row locks that only PostgreSQL enforces."""

import pytest

from accounts import services
from accounts.jwt import issue_pair
from accounts.tests.factories import UserFactory
from tests.support.race import run_together
from vbwd.exceptions import AuthenticationError


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refresh_token_rotates_exactly_once_under_concurrency():
    user = UserFactory()
    refresh_token = issue_pair(user)["refresh_token"]

    results = run_together([lambda: services.auth_refresh(raw_token=refresh_token)] * 8)
    outcomes = [_refresh_outcome(result) for result in results]

    assert sorted(outcomes) == ["rotated"] + ["token_invalid"] * 7


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin():
    from accounts.models import User, UserRole, UserStatus
    from accounts.tests.factories import AdminFactory
    from vbwd.exceptions import BusinessRuleError

    first, second = AdminFactory(), AdminFactory()

    def demote(actor, target):
        services.user_set_role(user=target, role=UserRole.USER, actor=actor)
        return "demoted"

    results = run_together([lambda: demote(first, second), lambda: demote(second, first)])
    outcomes = [
        result.message if isinstance(result, BusinessRuleError) else result for result in results
    ]

    assert sorted(outcomes) == ["At least one active admin must remain", "demoted"]
    assert User.objects.filter(role=UserRole.ADMIN, status=UserStatus.ACTIVE).count() == 1


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

        refreshed, revoked = run_together(
            [lambda token=refresh_token: services.auth_refresh(raw_token=token), revoke]
        )

        assert not isinstance(revoked, Exception), revoked
        outcome = _refresh_outcome(refreshed)
        if outcome == "rotated":
            # The refresh won the race: the token it issued must have been revoked after it.
            with pytest.raises(AuthenticationError):
                services.auth_refresh(raw_token=refreshed["refresh_token"])
        else:
            assert outcome in {"token_invalid", "account_inactive"}

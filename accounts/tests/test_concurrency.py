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

"""Idempotency-Key on authenticated POSTs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.jwt import issue_pair
from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit.models import AuditEntry
from tests.support.race import run_together
from vbwd.models import IdempotencyRecord

CHANGE_PASSWORD = "/api/v1/user/change-password"
NEW_PASSWORD = "N3w!password"


def _client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")
    return client


def _change_password(client, key, body=None):
    body = body or {"currentPassword": DEFAULT_PASSWORD, "newPassword": NEW_PASSWORD}
    return client.post(
        CHANGE_PASSWORD,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.mark.django_db
def test_same_key_and_body_replays_the_stored_response_without_running_again():
    user = UserFactory()
    client = _client_for(user)

    first = _change_password(client, "key-1")
    replay = _change_password(client, "key-1")

    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    assert replay.headers["Content-Type"] == "application/json; charset=utf-8"
    # A second run would have failed: the current password is no longer the old one.
    assert AuditEntry.objects.filter(action="user.password_changed").count() == 1


@pytest.mark.django_db
def test_body_order_and_whitespace_do_not_change_the_fingerprint():
    user = UserFactory()
    client = _client_for(user)
    _change_password(client, "key-1")

    replay = client.post(
        CHANGE_PASSWORD + "/",
        data='{ "newPassword": "N3w!password",\n "currentPassword": "Passw0rd!x" }',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )

    assert replay.headers["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_same_key_with_another_body_is_an_idempotency_conflict():
    user = UserFactory()
    client = _client_for(user)
    _change_password(client, "key-1")

    response = _change_password(
        client, "key-1", {"currentPassword": NEW_PASSWORD, "newPassword": "Th1rd!password"}
    )

    assert response.status_code == 409
    assert response.json() == {
        "error": "Idempotency-Key has already been used with a different request",
        "code": "idempotency_conflict",
    }
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_keys_are_scoped_per_user():
    first_user, second_user = UserFactory(), UserFactory()

    first = _change_password(_client_for(first_user), "shared-key")
    second = _change_password(_client_for(second_user), "shared-key")

    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in second.headers
    assert AuditEntry.objects.filter(action="user.password_changed").count() == 2


@pytest.mark.django_db
def test_business_errors_are_stored_and_replayed():
    user = UserFactory()
    client = _client_for(user)
    wrong = {"currentPassword": "Wrong!pass1", "newPassword": NEW_PASSWORD}

    first = _change_password(client, "key-err", wrong)
    replay = _change_password(client, "key-err", wrong)

    assert first.status_code == replay.status_code == 400
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()


@pytest.mark.django_db
def test_server_errors_free_the_key(monkeypatch):
    user = UserFactory()
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")

    def explode(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("accounts.services.password_change", explode)
    failed = _change_password(client, "key-500")
    monkeypatch.undo()
    retried = _change_password(client, "key-500")

    assert failed.status_code == 500
    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers


@pytest.mark.django_db
def test_an_expired_record_frees_the_key():
    user = UserFactory()
    client = _client_for(user)
    _change_password(client, "key-ttl")

    with time_machine.travel(timedelta(hours=25)):
        client = _client_for(user)
        response = _change_password(
            client, "key-ttl", {"currentPassword": NEW_PASSWORD, "newPassword": "Th1rd!password"}
        )

    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response.headers


@pytest.mark.django_db
def test_anonymous_posts_ignore_the_key():
    user = UserFactory()
    body = {"email": user.email, "password": DEFAULT_PASSWORD}

    first = APIClient().post("/api/v1/auth/login", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    second = APIClient().post("/api/v1/auth/login", body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in second.headers
    assert first.json()["token"] != second.json()["token"]
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_purge_removes_only_expired_records():
    from vbwd.tasks import purge_idempotency_records

    user = UserFactory()
    client = _client_for(user)
    _change_password(client, "old")
    with time_machine.travel(timedelta(hours=25)):
        fresh_client = _client_for(user)
        _change_password(
            fresh_client, "new", {"currentPassword": NEW_PASSWORD, "newPassword": "Th1rd!password"}
        )
        assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_identical_requests_have_one_effect(settings):
    settings.VBWD_RATE_LIMIT_ENABLED = False
    user = UserFactory()
    token = issue_pair(user)["token"]

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return _change_password(client, "concurrent-key")

    responses = run_together([send] * 10)
    assert not [r for r in responses if isinstance(r, Exception)]

    # The request runs in one transaction with its claim: every duplicate waits on the key until
    # the first commits, then replays its answer (none is turned away as still in progress).
    statuses = sorted(response.status_code for response in responses)
    originals = [
        r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    ]
    replays = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(responses) == 10
    assert len(originals) == 1, statuses
    assert len(replays) == 9, statuses
    for response in replays:
        assert response.status_code == 200
        assert response.content == originals[0].content
    assert AuditEntry.objects.filter(action="user.password_changed").count() == 1
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_a_claim_left_in_progress_by_an_earlier_version_is_never_run_again():
    # given a claim committed before its view ran (as an earlier version did), whose worker died
    user = UserFactory()
    client = _client_for(user)
    body = {"currentPassword": DEFAULT_PASSWORD, "newPassword": NEW_PASSWORD}
    request = APIClient().post(CHANGE_PASSWORD, body, format="json").wsgi_request
    from vbwd.idempotency import fingerprint

    IdempotencyRecord.objects.create(
        user=user,
        key="orphan",
        fingerprint=fingerprint("POST", CHANGE_PASSWORD, request.body),
        expires_at=timezone.now() + timedelta(hours=24),
    )

    # when the client retries at once, and after the stale window
    blocked = _change_password(client, "orphan")
    with time_machine.travel(timedelta(minutes=6)):
        client = _client_for(user)
        unknown = _change_password(client, "orphan")

    # then the first is still in progress, and the stale one is not run again: its work may have
    # been committed, so its outcome is unknown and the password is unchanged
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "idempotency_in_progress"
    assert blocked.headers["Retry-After"] == "1"
    assert unknown.status_code == 409
    assert unknown.json() == {
        "error": (
            "The first request with this Idempotency-Key ended without an answer and its "
            "outcome is unknown; check its effect before repeating it with a new key"
        ),
        "code": "idempotency_outcome_unknown",
    }
    assert "Retry-After" not in unknown.headers
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD)
    assert not AuditEntry.objects.filter(action="user.password_changed").exists()
    assert IdempotencyRecord.objects.get(key="orphan").status == "IN_PROGRESS"


@pytest.mark.django_db
def test_a_bad_key_without_a_token_is_answered_401_first():
    response = APIClient().post(CHANGE_PASSWORD, {}, format="json", HTTP_IDEMPOTENCY_KEY="x" * 300)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"

"""The user's own profile, details and password (docs/api/profile.md)."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import UserDetails
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db

PROFILE = "/api/v1/user/profile"
DETAILS = "/api/v1/user/details"
CHANGE_PASSWORD = "/api/v1/user/change-password"

DETAILS_KEYS = {
    "id",
    "user_id",
    "email",
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
    "config",
    "balance",
    "created_at",
    "updated_at",
}


def put(client, url, body):
    return client.put(url, data=json.dumps(body), content_type="application/json")


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_profile_returns_profile_user_and_details(user_client, django_assert_max_num_queries):
    user = user_client.user

    with django_assert_max_num_queries(2):
        response = user_client.get(PROFILE)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "details"}
    assert set(body["user"]) == {
        "id",
        "email",
        "name",
        "status",
        "is_active",
        "role",
        "roles",
        "created_at",
        "updated_at",
    }
    assert body["user"]["id"] == str(user.pk)
    assert body["user"]["status"] == "ACTIVE"
    assert body["user"]["is_active"] is True
    assert set(body["details"]) == DETAILS_KEYS
    assert body["details"]["balance"] == "0.00"


def test_profile_is_the_caller_and_the_details_in_exactly_two_queries(
    user_client, django_assert_num_queries
):
    user = user_client.user
    UserDetails.objects.filter(user=user).update(first_name="Grace", last_name="Hopper")

    # The caller (authentication) and the details row; the name and the details' email come
    # from those two rows.
    with django_assert_num_queries(2):
        response = user_client.get(PROFILE)

    body = response.json()
    assert body["user"]["name"] == "Grace Hopper"
    assert body["details"]["email"] == user.email
    assert body["details"]["user_id"] == str(user.pk)


def test_profile_without_details_is_two_queries_too(user_client, django_assert_num_queries):
    UserDetails.objects.filter(user=user_client.user).delete()

    with django_assert_num_queries(2):
        response = user_client.get(PROFILE)

    body = response.json()
    assert body["details"] is None
    assert body["user"]["name"] is None


def test_profile_update_changes_flat_fields_and_merges_config(user_client):
    user = user_client.user
    UserDetails.objects.filter(user=user).update(config={"theme": "dark", "language": "en"})

    response = put(
        user_client,
        PROFILE,
        {"first_name": "Grace", "last_name": "Hopper", "config": {"language": "de"}},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Profile updated"
    assert body["user"]["name"] == "Grace Hopper"
    assert body["details"]["config"] == {"theme": "dark", "language": "de"}
    entry = AuditEntry.objects.get(action="user.details_updated")
    assert entry.before == {
        "first_name": None,
        "last_name": None,
        "config": {"theme": "dark", "language": "en"},
    }
    assert entry.after["first_name"] == "Grace"
    assert entry.actor_id == user.pk


def test_details_get_is_flat(user_client):
    response = user_client.get(DETAILS)

    assert response.status_code == 200
    assert set(response.json()) == DETAILS_KEYS
    assert response.json()["user_id"] == str(user_client.user.pk)


def test_details_get_without_a_row_is_404(user_client):
    UserDetails.objects.filter(user=user_client.user).delete()

    response = user_client.get(DETAILS)

    assert response.status_code == 404
    assert response.json() == {"error": "User details not found", "code": "not_found"}


def test_details_put_creates_the_row_when_missing(user_client):
    UserDetails.objects.filter(user=user_client.user).delete()

    response = put(user_client, DETAILS, {"city": "Berlin", "country": "de"})

    assert response.status_code == 200
    assert response.json()["city"] == "Berlin"
    assert response.json()["country"] == "DE"
    assert UserDetails.objects.get(user=user_client.user).country == "DE"


def test_details_partial_update_keeps_other_fields(user_client):
    put(user_client, DETAILS, {"company": "ACME", "city": "Paris"})

    response = put(user_client, DETAILS, {"first_name": "Jo", "last_name": ""})

    body = response.json()
    assert body["company"] == "ACME"
    assert body["city"] == "Paris"
    assert body["first_name"] == "Jo"
    assert body["last_name"] is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"first_name": "x" * 101}, "first_name", "first_name must be at most 100 characters"),
        ({"phone": "1" * 21}, "phone", "phone must be at most 20 characters"),
        ({"country": "XX"}, "country", "Unknown country code: XX"),
        ({"country": "Germany"}, "country", "Unknown country code: GERMANY"),
        ({"country": "xx"}, "country", "Unknown country code: XX"),
        ({"config": "dark"}, "config", "config must be an object"),
    ],
)
def test_details_validation_errors_change_nothing(user_client, body, field, message):
    before = UserDetails.objects.get(user=user_client.user)

    response = put(user_client, DETAILS, {"city": "Rome", **body})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][field] == [message]
    after = UserDetails.objects.get(user=user_client.user)
    assert after.city == before.city
    assert after.updated_at == before.updated_at


def test_details_ignore_read_only_and_unknown_fields(user_client):
    response = put(
        user_client,
        DETAILS,
        {"balance": "1000.00", "user_id": str(UserFactory().pk), "email": "x@y.z", "nope": 1},
    )

    assert response.status_code == 200
    details = UserDetails.objects.get(user=user_client.user)
    assert str(details.balance) == "0.00"
    assert response.json()["email"] == user_client.user.email


def test_profile_endpoints_require_authentication(api_client):
    for method, url in (("get", PROFILE), ("put", PROFILE), ("get", DETAILS), ("put", DETAILS)):
        response = getattr(api_client, method)(url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


def test_change_password_revokes_refresh_tokens_but_keeps_the_calling_access_token(
    django_capture_on_commit_callbacks,
):
    user = UserFactory()
    sessions = [
        APIClient()
        .post(
            "/api/v1/auth/login",
            {"email": user.email, "password": DEFAULT_PASSWORD},
            format="json",
        )
        .json()
        for _ in range(2)
    ]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {sessions[0]['token']}")

    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            client,
            CHANGE_PASSWORD,
            {"currentPassword": DEFAULT_PASSWORD, "newPassword": "N3w!password"},
        )

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Password changed successfully"
    assert {"token", "refresh_token", "expires_in"} <= set(body)
    for session in sessions:
        refused = APIClient().post(
            "/api/v1/auth/refresh", {"refresh_token": session["refresh_token"]}, format="json"
        )
        assert refused.status_code == 401
    fresh = APIClient().post(
        "/api/v1/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert fresh.status_code == 200
    assert client.get(PROFILE).status_code == 200
    user.refresh_from_db()
    assert user.check_password("N3w!password")
    assert [message.subject for message in mail.outbox] == ["Your password was changed"]
    assert (
        AuditEntry.objects.filter(action="user.password_changed", object_id=str(user.pk)).count()
        == 1
    )


def test_change_password_accepts_snake_case_fields(user_client):
    response = post(
        user_client,
        CHANGE_PASSWORD,
        {"current_password": DEFAULT_PASSWORD, "new_password": "N3w!password"},
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({}, "validation_error", "Current password and new password are required"),
        (
            {"currentPassword": "Wrong!pass1", "newPassword": "N3w!password"},
            "business_rule",
            "Current password is incorrect",
        ),
        (
            {"currentPassword": DEFAULT_PASSWORD, "newPassword": "short"},
            "validation_error",
            "Password must be at least 8 characters long",
        ),
        (
            {"currentPassword": DEFAULT_PASSWORD, "newPassword": DEFAULT_PASSWORD},
            "validation_error",
            "New password must be different from the current password",
        ),
    ],
)
def test_change_password_errors_leave_the_password_alone(user_client, body, code, message):
    response = post(user_client, CHANGE_PASSWORD, body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["error"] == message
    user_client.user.refresh_from_db()
    assert user_client.user.check_password(DEFAULT_PASSWORD)
    assert not AuditEntry.objects.filter(action="user.password_changed").exists()

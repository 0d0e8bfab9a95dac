"""Authentication endpoints and token handling (docs/api/auth.md)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from accounts import services
from accounts.jwt import issue_pair
from accounts.models import User, UserRole, UserStatus
from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
PROFILE = "/api/v1/user/profile"
ADMIN_PROFILE = "/api/v1/admin/profile"


def post(client, url, body=None, **extra):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json", **extra)


def login(client, email, password=DEFAULT_PASSWORD):
    return post(client, LOGIN, {"email": email, "password": password})


def get_with(token: str, url: str = PROFILE):
    return APIClient().get(url, HTTP_AUTHORIZATION=f"Bearer {token}")


# --- register -------------------------------------------------------------------------------


def test_register_creates_active_user_with_details_and_returns_the_token_response(api_client):
    response = post(
        api_client,
        REGISTER,
        {
            "email": "  New.Person@Example.COM ",
            "password": "Str0ng!pass",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "locale": "de",
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "success",
        "token",
        "refresh_token",
        "expires_in",
        "user_id",
        "error",
        "user",
    }
    assert body["success"] is True
    assert body["error"] is None
    assert body["expires_in"] == 3600
    user = User.objects.get(email="new.person@example.com")
    assert body["user_id"] == str(user.pk)
    assert body["user"] == {
        "id": str(user.pk),
        "email": "new.person@example.com",
        "name": "Ada Lovelace",
        "roles": ["USER"],
    }
    assert user.status == UserStatus.ACTIVE
    assert user.role == UserRole.USER
    assert user.details.config == {"language": "de"}
    assert AuditEntry.objects.filter(action="user.registered", object_id=str(user.pk)).count() == 1
    assert get_with(body["token"]).status_code == 200


def test_register_name_falls_back_to_the_local_part_of_the_email(api_client):
    response = post(api_client, REGISTER, {"email": "solo@example.com", "password": "Str0ng!pass"})

    assert response.json()["user"]["name"] == "solo"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt!", "Password must be at least 8 characters long"),
        ("lowercase1!", "Password must contain an uppercase letter"),
        ("UPPERCASE1!", "Password must contain a lowercase letter"),
        ("NoDigits!!", "Password must contain a digit"),
        ("NoSpecial12", "Password must contain a special character"),
    ],
)
def test_register_enforces_the_password_policy(api_client, password, message):
    response = post(api_client, REGISTER, {"email": "p@example.com", "password": password})

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "validation_error"
    assert body["error"] == message
    assert message in body["errors"]["password"]
    assert not User.objects.filter(email="p@example.com").exists()


def test_register_lists_every_policy_violation(api_client):
    response = post(api_client, REGISTER, {"email": "p@example.com", "password": "abc"})

    assert response.json()["errors"]["password"] == [
        "Password must be at least 8 characters long",
        "Password must contain an uppercase letter",
        "Password must contain a digit",
        "Password must contain a special character",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Email and password are required"),
        ({"email": "a@example.com"}, "Email and password are required"),
        ({"password": "Str0ng!pass"}, "Email and password are required"),
        ({"email": "not-an-email", "password": "Str0ng!pass"}, "Invalid email format"),
    ],
)
def test_register_validation_messages(api_client, body, message):
    response = post(api_client, REGISTER, body)

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert response.json()["code"] == "validation_error"


def test_register_duplicate_email_is_a_409_conflict_whatever_the_case(api_client, user):
    response = post(api_client, REGISTER, {"email": user.email.upper(), "password": "Str0ng!pass"})

    assert response.status_code == 409
    assert response.json() == {
        "success": False,
        "error": "User with this email already exists",
        "code": "conflict",
    }
    assert User.objects.filter(email=user.email).count() == 1


# --- login ----------------------------------------------------------------------------------


def test_login_returns_tokens_and_records_the_login_time(api_client, user):
    assert user.last_login_at is None

    response = login(api_client, user.email.upper())

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)
    user.refresh_from_db()
    assert user.last_login_at is not None


def test_login_roles_contain_admin_for_staff(api_client, admin_user):
    response = login(api_client, admin_user.email)

    assert response.json()["user"]["roles"] == ["ADMIN"]
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert claims["roles"] == ["ADMIN"]
    assert claims["email"] == admin_user.email
    assert claims["token_type"] == "access"


@pytest.mark.parametrize("email", ["user-does-not-exist@example.com", None])
def test_login_with_bad_credentials_is_401_invalid_credentials(api_client, user, email):
    response = login(api_client, email or user.email, "Wrong!pass1")

    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": "Invalid credentials",
        "code": "invalid_credentials",
    }
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_login_requires_email_and_password(api_client):
    response = post(api_client, LOGIN, {"email": "a@example.com"})

    assert response.status_code == 400
    assert response.json()["error"] == "Email and password are required"


def test_login_of_a_suspended_user_with_the_right_password_is_account_inactive(api_client):
    suspended = UserFactory(status=UserStatus.SUSPENDED)

    response = login(api_client, suspended.email)

    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": "User account is inactive",
        "code": "account_inactive",
    }


# --- refresh, logout ------------------------------------------------------------------------


def test_refresh_rotates_and_a_used_refresh_token_is_rejected(api_client, user):
    first = login(api_client, user.email).json()

    rotated = post(api_client, REFRESH, {"refresh_token": first["refresh_token"]})
    reused = post(api_client, REFRESH, {"refresh_token": first["refresh_token"]})

    assert rotated.status_code == 200
    assert set(rotated.json()) == {"success", "token", "refresh_token", "expires_in"}
    assert rotated.json()["refresh_token"] != first["refresh_token"]
    assert get_with(rotated.json()["token"]).status_code == 200
    assert reused.status_code == 401
    assert reused.json() == {
        "success": False,
        "error": "Invalid or expired refresh token",
        "code": "token_invalid",
    }
    again = post(api_client, REFRESH, {"refresh": rotated.json()["refresh_token"]})
    assert again.status_code == 200


def test_refresh_requires_the_token(api_client):
    response = post(api_client, REFRESH, {})

    assert response.status_code == 400
    assert response.json()["error"] == "refresh_token is required"


def test_refresh_of_a_suspended_user_is_account_inactive(api_client, user):
    refresh_token = login(api_client, user.email).json()["refresh_token"]
    User.objects.filter(pk=user.pk).update(status=UserStatus.SUSPENDED)

    response = post(api_client, REFRESH, {"refresh_token": refresh_token})

    assert response.status_code == 401
    assert response.json()["code"] == "account_inactive"
    assert response.json()["error"] == "User account is inactive"


def test_refresh_of_a_deleted_user_is_token_invalid(api_client):
    gone = UserFactory()
    refresh_token = login(api_client, gone.email).json()["refresh_token"]
    gone.delete()

    response = post(api_client, REFRESH, {"refresh_token": refresh_token})

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_logout_blacklists_the_refresh_token(api_client, user):
    tokens = login(api_client, user.email).json()

    response = post(api_client, LOGOUT, {"refresh_token": tokens["refresh_token"]})

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Logged out successfully"}
    refused = post(api_client, REFRESH, {"refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 401


def test_logout_all_blacklists_every_refresh_token_of_the_caller(api_client, user):
    sessions = [login(APIClient(), user.email).json() for _ in range(3)]
    other = UserFactory()
    other_session = login(APIClient(), other.email).json()

    response = post(
        api_client,
        LOGOUT,
        {"all": True},
        HTTP_AUTHORIZATION=f"Bearer {sessions[0]['token']}",
    )

    assert response.status_code == 200
    for session in sessions:
        assert (
            post(APIClient(), REFRESH, {"refresh_token": session["refresh_token"]}).status_code
            == 401
        )
    assert (
        post(APIClient(), REFRESH, {"refresh_token": other_session["refresh_token"]}).status_code
        == 200
    )


@pytest.mark.parametrize(
    "body", [{}, {"refresh_token": "garbage"}, {"all": True}, {"all": "maybe"}]
)
def test_logout_never_fails(api_client, body):
    response = post(api_client, LOGOUT, body, HTTP_AUTHORIZATION="Bearer expired.or.invalid")

    assert response.status_code == 200
    assert response.json()["success"] is True


# --- me and access-token checks -------------------------------------------------------------


def test_me_returns_the_full_user_shape(user_client):
    response = user_client.get(ME)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert set(body["user"]) == {
        "id",
        "email",
        "name",
        "status",
        "is_active",
        "role",
        "roles",
        "has_used_trial",
        "token_balance",
        "last_login_at",
        "created_at",
        "updated_at",
        "details",
    }
    assert body["user"]["token_balance"] == 0
    assert body["user"]["status"] == "ACTIVE"
    assert body["user"]["created_at"].endswith("Z")


def test_me_without_token_has_the_auth_envelope(api_client):
    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": "Authorization header is required",
        "code": "not_authenticated",
    }


def test_a_suspended_users_unexpired_access_token_is_refused_at_once(user):
    token = issue_pair(user)["token"]
    assert get_with(token).status_code == 200

    services.user_suspend(user=user, actor=None, reason="fraud check")

    response = get_with(token)
    assert response.status_code == 401
    assert response.json() == {"error": "User account is not active", "code": "account_inactive"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_of_a_user_that_no_longer_exists_is_user_not_found(user):
    token = issue_pair(user)["token"]
    user.delete()

    response = get_with(token)

    assert response.status_code == 401
    assert response.json() == {"error": "User not found", "code": "token_invalid"}


def test_role_and_email_come_from_the_database_not_the_token(user):
    token = issue_pair(user)["token"]
    services.user_set_role(user=user, role=UserRole.ADMIN, actor=None)

    response = get_with(token, ME)

    assert response.json()["user"]["roles"] == ["ADMIN"]


def test_a_demoted_admins_token_loses_admin_access_at_once():
    admin, other_admin = AdminFactory(), AdminFactory()
    token = issue_pair(admin)["token"]
    assert get_with(token, ADMIN_PROFILE).status_code == 200

    services.user_set_role(user=admin, role=UserRole.USER, actor=other_admin)

    response = get_with(token, ADMIN_PROFILE)
    assert response.status_code == 403
    assert response.json() == {"error": "Admin access required", "code": "permission_denied"}
    assert get_with(token).status_code == 200


def test_a_promoted_users_token_gains_admin_access_at_once(user):
    token = issue_pair(user)["token"]
    assert get_with(token, ADMIN_PROFILE).status_code == 403

    services.user_set_role(user=user, role=UserRole.ADMIN, actor=None)

    assert get_with(token, ADMIN_PROFILE).status_code == 200


def test_a_reactivated_users_token_works_again_at_once(user):
    token = issue_pair(user)["token"]
    services.user_suspend(user=user, actor=None)
    assert get_with(token).status_code == 401

    services.user_activate(user=user, actor=None)

    assert get_with(token).status_code == 200


def test_an_anonymised_users_token_is_refused_at_once(user):
    from billing.invoices.tests.factories import issue_invoice

    issue_invoice(user)  # a financial record: deletion anonymises the account
    token = issue_pair(user)["token"]
    assert get_with(token).status_code == 200

    assert services.user_delete(user=user, actor=None, force=True) == "ANONYMISED"

    response = get_with(token)
    assert response.status_code == 401
    assert response.json() == {"error": "User account is not active", "code": "account_inactive"}


def test_authentication_reads_the_user_row_in_one_query(user, django_assert_num_queries):
    token = issue_pair(user)["token"]

    # The user row for the token, then the profile's own read.
    with django_assert_num_queries(2) as captured:
        response = get_with(token)

    assert response.status_code == 200
    first = captured.captured_queries[0]["sql"]
    assert 'FROM "accounts_user" WHERE "id" = ' in first
    assert "JOIN" not in first


def test_the_user_row_of_authentication_equals_the_orm_row(user):
    from accounts.authentication import _user_row

    loaded = _user_row(user.pk)
    expected = User.objects.get(pk=user.pk)

    for field in User._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert isinstance(loaded.pk, uuid.UUID)
    assert loaded.created_at.tzinfo is not None
    assert loaded._state.adding is False
    assert loaded.check_password(DEFAULT_PASSWORD)
    assert _user_row(uuid.uuid4()) is None


# --- JWT attacks: all answer 401 token_invalid ----------------------------------------------


def _b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(user, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "token_type": "access",
        "exp": now + 600,
        "iat": now,
        "jti": "a" * 32,
        "user_id": str(user.pk),
        "email": user.email,
        "roles": [user.role],
    }
    claims.update(overrides)
    return claims


def _assert_token_invalid(token: str):
    response = get_with(token)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or expired token", "code": "token_invalid"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_alg_none_token_is_refused(user):
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user))}."

    _assert_token_invalid(token)


def test_token_signed_with_another_key_is_refused(user):
    token = jwt.encode(_claims(user), "another-key-" + "x" * 40, algorithm="HS256")

    _assert_token_invalid(token)


def test_token_signed_with_the_django_secret_key_is_refused(user):
    token = jwt.encode(_claims(user), settings.SECRET_KEY, algorithm="HS256")

    _assert_token_invalid(token)


def test_expired_access_token_is_refused(user):
    token = issue_pair(user)["token"]

    with time_machine.travel(timedelta(minutes=61), tick=False):
        _assert_token_invalid(token)


def test_refresh_token_used_as_access_token_is_refused(user):
    refresh_token = issue_pair(user)["refresh_token"]

    _assert_token_invalid(refresh_token)


def test_tampered_claims_are_refused(user):
    admin = AdminFactory()
    header, _payload, signature = issue_pair(user)["token"].split(".")
    forged_payload = _b64(_claims(admin))

    _assert_token_invalid(f"{header}.{forged_payload}.{signature}")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_hs512_token_with_the_right_key_is_refused(user):
    token = jwt.encode(_claims(user), settings.VBWD_JWT_SIGNING_KEY, algorithm="HS512")

    _assert_token_invalid(token)


def test_a_correctly_signed_token_is_accepted(user):
    token = jwt.encode(_claims(user), settings.VBWD_JWT_SIGNING_KEY, algorithm="HS256")

    assert get_with(token).status_code == 200


# --- check-email, forgot and reset password -------------------------------------------------


def test_check_email(api_client, user):
    known = api_client.get("/api/v1/auth/check-email", {"email": user.email.upper()})
    unknown = api_client.get("/api/v1/auth/check-email", {"email": "nobody@example.com"})
    missing = api_client.get("/api/v1/auth/check-email")

    assert known.json() == {"success": True, "exists": True}
    assert unknown.json() == {"success": True, "exists": False}
    assert missing.status_code == 400
    assert missing.json()["error"] == "Email required"


def test_forgot_password_mails_a_working_link_to_known_users_only(
    api_client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = post(api_client, "/api/v1/auth/forgot-password", {"email": user.email})
        unknown = post(api_client, "/api/v1/auth/forgot-password", {"email": "nobody@example.com"})

    expected = {"success": True, "message": "If email exists, reset link sent"}
    assert known.json() == expected
    assert unknown.json() == expected
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    link = next(
        line for line in mail.outbox[0].body.splitlines() if line.startswith("http://localhost")
    )
    assert link.startswith("http://localhost:5173/reset-password?uid=")
    query = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
    assert default_token_generator.check_token(user, query["token"])


def test_forgot_password_requires_email(api_client):
    response = post(api_client, "/api/v1/auth/forgot-password", {})

    assert response.status_code == 400
    assert response.json()["error"] == "Email required"


def _reset_params(user) -> dict:
    return {
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    }


def test_reset_password_sets_the_password_and_revokes_every_refresh_token(
    api_client, user, django_capture_on_commit_callbacks
):
    sessions = [login(APIClient(), user.email).json() for _ in range(2)]
    params = _reset_params(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            api_client, "/api/v1/auth/reset-password", {**params, "new_password": "N3w!password"}
        )

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Password reset successful"}
    for session in sessions:
        assert (
            post(APIClient(), REFRESH, {"refresh_token": session["refresh_token"]}).status_code
            == 401
        )
    assert login(APIClient(), user.email, "N3w!password").status_code == 200
    assert login(APIClient(), user.email, DEFAULT_PASSWORD).status_code == 401
    assert [message.subject for message in mail.outbox] == ["Your password was changed"]
    assert AuditEntry.objects.filter(action="user.password_reset").count() == 1


def test_reset_token_is_single_use(api_client, user):
    params = _reset_params(user)
    first = post(
        api_client, "/api/v1/auth/reset-password", {**params, "new_password": "N3w!password"}
    )

    second = post(
        api_client, "/api/v1/auth/reset-password", {**params, "new_password": "0ther!Password"}
    )

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json() == {
        "success": False,
        "error": "Invalid or expired token",
        "code": "invalid_reset_token",
    }


def test_reset_token_expires(api_client, user):
    params = _reset_params(user)

    with time_machine.travel(timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 5)):
        response = post(
            api_client, "/api/v1/auth/reset-password", {**params, "new_password": "N3w!password"}
        )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_reset_token"


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({}, "validation_error", "uid, token and new_password are required"),
        (
            {"uid": "bad", "token": "bad", "new_password": "N3w!password"},
            "invalid_reset_token",
            "Invalid or expired token",
        ),
    ],
)
def test_reset_password_errors(api_client, body, code, message):
    response = post(api_client, "/api/v1/auth/reset-password", body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["error"] == message


def test_reset_password_applies_the_policy(api_client, user):
    response = post(
        api_client, "/api/v1/auth/reset-password", {**_reset_params(user), "new_password": "weak"}
    )

    assert response.status_code == 400
    assert response.json()["error"] == "Password must be at least 8 characters long"
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_register_ignores_privileged_fields(api_client):
    response = post(
        api_client,
        REGISTER,
        {
            "email": "sneaky@example.com",
            "password": "Str0ng!pass",
            "role": "ADMIN",
            "is_staff": True,
            "is_superuser": True,
            "status": "SUSPENDED",
            "has_used_trial": True,
            "id": "00000000-0000-0000-0000-000000000001",
        },
    )

    assert response.status_code == 200
    user = User.objects.get(email="sneaky@example.com")
    assert (user.role, user.is_superuser, user.status, user.has_used_trial) == (
        UserRole.USER,
        False,
        UserStatus.ACTIVE,
        False,
    )
    assert str(user.pk) != "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [("{not json", "application/json"), ("[1, 2]", "application/json"), ("x=1", "text/plain")],
)
def test_logout_never_fails_on_its_body(api_client, data, content_type):
    response = api_client.post(
        LOGOUT, data=data, content_type=content_type, HTTP_IDEMPOTENCY_KEY="\u00e9" * 300
    )

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Logged out successfully"}


@pytest.mark.django_db(transaction=True)
def test_a_failing_mailer_does_not_reveal_known_emails(settings):
    settings.EMAIL_BACKEND = "accounts.tests.test_api_auth.BrokenEmailBackend"
    known = UserFactory()

    known_response = post(APIClient(), "/api/v1/auth/forgot-password", {"email": known.email})
    unknown_response = post(
        APIClient(), "/api/v1/auth/forgot-password", {"email": "nobody@example.com"}
    )

    assert known_response.status_code == unknown_response.status_code == 200
    assert known_response.json() == unknown_response.json()


@pytest.mark.django_db(transaction=True)
def test_a_failing_mailer_does_not_undo_a_password_change(settings):
    settings.EMAIL_BACKEND = "accounts.tests.test_api_auth.BrokenEmailBackend"
    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")

    response = post(
        client,
        "/api/v1/user/change-password",
        {"currentPassword": DEFAULT_PASSWORD, "newPassword": "N3w!password"},
    )

    assert response.status_code == 200
    assert "refresh_token" in response.json()


class BrokenEmailBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server down")

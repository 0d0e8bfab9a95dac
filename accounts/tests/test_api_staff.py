"""Staff endpoints for users and the admin-permission guard of every /admin route."""

from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import extensions
from accounts.jwt import issue_pair
from accounts.models import User, UserDetails, UserRole, UserStatus
from accounts.tests.factories import AdminFactory, UserFactory
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db

USERS = "/api/v1/admin/users"
USER_KEYS = {
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


def send(client, method, url, body=None, **extra):
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json", **extra)


def _live_refresh_tokens(user) -> int:
    return OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).count()


@pytest.fixture
def financial_records():
    """Registers a financial-record counter, as the invoice and token apps do."""
    counts: dict = {}

    def counter(user):
        return extensions.FinancialRecords(**counts.get(user.pk, {}))

    with extensions.FINANCIAL_RECORDS.answered_by(counter):
        yield counts


# --- list -----------------------------------------------------------------------------------


def test_list_shape_and_pagination(admin_client):
    UserFactory.create_batch(3)

    response = admin_client.get(USERS, {"per_page": 2, "page": 2})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"users", "total", "page", "per_page", "pages", "limit", "offset"}
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (4, 2, 2, 2)
    assert (body["limit"], body["offset"]) == (2, 2)
    assert len(body["users"]) == 2
    assert set(body["users"][0]) == USER_KEYS | {"subscription_plan"}
    assert body["users"][0]["subscription_plan"] is None


def test_list_search_matches_email_and_names(admin_client):
    target = UserFactory(email="zed@example.com")
    UserDetails.objects.filter(user=target).update(first_name="Zelda", last_name="Quux")
    UserFactory()

    by_email = admin_client.get(USERS, {"search": "ZED@"}).json()["users"]
    by_first = admin_client.get(USERS, {"search": "zeld"}).json()["users"]
    by_last = admin_client.get(USERS, {"search": "QUU"}).json()["users"]

    assert [row["email"] for row in by_email] == ["zed@example.com"]
    assert [row["email"] for row in by_first] == ["zed@example.com"]
    assert [row["email"] for row in by_last] == ["zed@example.com"]


def test_list_filters_status_role_and_ordering(admin_client):
    admin = admin_client.user
    suspended = UserFactory(status=UserStatus.SUSPENDED, email="b@example.com")
    pending = UserFactory(status=UserStatus.PENDING, email="a@example.com")
    vendor = UserFactory(role=UserRole.VENDOR, email="c@example.com")

    def emails(**query):
        response = admin_client.get(USERS, query)
        assert response.status_code == 200, response.json()
        return [row["email"] for row in response.json()["users"]]

    assert set(emails(status="inactive")) == {suspended.email, pending.email}
    assert set(emails(status="active")) == {admin.email, vendor.email}
    assert emails(status="suspended") == [suspended.email]
    assert emails(role="vendor") == [vendor.email]
    assert emails(status="", role="", search="") == emails()
    assert emails(ordering="email")[:3] == ["a@example.com", "b@example.com", "c@example.com"]
    assert emails(ordering="-email")[-3:] == ["c@example.com", "b@example.com", "a@example.com"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "sleeping"}, "Unknown status: sleeping"),
        ({"role": "king"}, "Unknown role: king"),
        ({"page": "two"}, "page must be an integer"),
    ],
)
def test_list_refuses_bad_filters(admin_client, query, message):
    response = admin_client.get(USERS, query)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["error"] == message


def test_list_refuses_an_unlisted_ordering(admin_client):
    response = admin_client.get(USERS, {"ordering": "password"})

    assert response.status_code == 400
    assert response.json()["errors"]["ordering"]


def test_list_runs_a_constant_number_of_queries(admin_client, django_assert_num_queries):
    with django_assert_num_queries(4):  # authentication, count, page, subscription summaries
        admin_client.get(USERS, {"per_page": 100})
    UserFactory.create_batch(100)

    with django_assert_num_queries(4):
        response = admin_client.get(USERS, {"per_page": 100})

    assert len(response.json()["users"]) == 100


# --- create ---------------------------------------------------------------------------------


def test_create_returns_user_fields_at_the_top_level(admin_client):
    response = send(
        admin_client,
        "post",
        USERS,
        {
            "email": " Vendor@Example.com ",
            "password": "simple-8",
            "role": "vendor",
            "status": "pending",
            "first_name": "Vera",
            "last_name": "Vendor",
            "details": {"company": "Vendors Ltd", "country": "at"},
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == USER_KEYS | {"user", "message"}
    assert body["message"] == "User created"
    assert body["id"] == body["user"]["id"]
    assert body["email"] == "vendor@example.com"
    assert (body["role"], body["status"], body["name"]) == ("VENDOR", "PENDING", "Vera Vendor")
    assert body["details"]["company"] == "Vendors Ltd"
    assert body["details"]["country"] == "AT"
    created = User.objects.get(pk=body["id"])
    assert created.check_password("simple-8")
    entry = AuditEntry.objects.get(action="user.created", object_id=body["id"])
    assert entry.actor_id == admin_client.user.pk


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"password": "simple-8"}, "Email is required"),
        ({"email": "nope", "password": "simple-8"}, "Invalid email format"),
        (
            {"email": "n@example.com", "password": "short"},
            "Password must be at least 8 characters long",
        ),
        ({"email": "n@example.com", "password": "simple-8", "status": "x"}, "Unknown status: x"),
        ({"email": "n@example.com", "password": "simple-8", "role": "god"}, "Unknown role: god"),
    ],
)
def test_create_validation_messages(admin_client, body, message):
    response = send(admin_client, "post", USERS, body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["error"] == message
    assert not User.objects.filter(email="n@example.com").exists()


def test_create_with_a_taken_email_is_409(admin_client, user):
    response = send(admin_client, "post", USERS, {"email": user.email, "password": "simple-8"})

    assert response.status_code == 409
    assert response.json() == {"error": "User with this email already exists", "code": "conflict"}


def test_create_ignores_privileged_and_read_only_fields(admin_client):
    forced_id = str(uuid.uuid4())

    response = send(
        admin_client,
        "post",
        USERS,
        {
            "email": "plain@example.com",
            "password": "simple-8",
            "is_staff": True,
            "is_superuser": True,
            "id": forced_id,
            "created_at": "2001-01-01T00:00:00Z",
            "password_hash": "md5$x$y",
            "last_login_at": "2001-01-01T00:00:00Z",
        },
    )

    created = User.objects.get(email="plain@example.com")
    assert response.status_code == 201
    assert str(created.pk) != forced_id
    assert (created.is_superuser, created.role, created.last_login_at) == (False, "USER", None)
    assert created.created_at.year != 2001
    assert created.check_password("simple-8")


# --- detail and update ----------------------------------------------------------------------


def test_detail_shape(admin_client, user):
    response = admin_client.get(f"{USERS}/{user.pk}")

    assert response.status_code == 200
    body = response.json()["user"]
    assert set(body) == USER_KEYS | {"subscription", "stats"}
    assert body["subscription"] == {
        "id": None,
        "plan": None,
        "plan_id": None,
        "status": None,
        "expires_at": None,
    }
    assert body["stats"] == {"total_payments": 0, "last_login": None}


def test_unknown_user_is_404_and_a_malformed_id_does_not_match(admin_client):
    unknown = admin_client.get(f"{USERS}/{uuid.uuid4()}")
    malformed = admin_client.get(f"{USERS}/not-a-uuid")

    assert unknown.status_code == 404
    assert unknown.json() == {"error": "User not found", "code": "not_found"}
    assert malformed.status_code == 404
    assert malformed.json() == {"error": "Not found", "code": "not_found"}


def test_update_flat_nested_and_name_split(admin_client, user):
    response = send(
        admin_client,
        "put",
        f"{USERS}/{user.pk}",
        {
            "email": "Renamed@Example.com",
            "name": "Ada King Lovelace",
            "city": "London",
            "details": {"company": "Analytical Engines"},
            "balance": "12.50",
            "has_used_trial": True,
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "User updated"
    user_body = body["user"]
    assert user_body["email"] == "renamed@example.com"
    assert user_body["name"] == "Ada King Lovelace"
    assert user_body["has_used_trial"] is True
    details = user_body["details"]
    assert (details["first_name"], details["last_name"]) == ("Ada", "King Lovelace")
    assert (details["city"], details["company"], details["balance"]) == (
        "London",
        "Analytical Engines",
        "12.50",
    )
    actions = set(
        AuditEntry.objects.filter(object_id=str(user.pk)).values_list("action", flat=True)
    )
    assert {"user.updated", "user.details_updated"} <= actions


def test_update_name_is_ignored_when_first_or_last_name_is_given(admin_client, user):
    send(admin_client, "put", f"{USERS}/{user.pk}", {"name": "Not Used", "first_name": "Kept"})

    details = UserDetails.objects.get(user=user)
    assert (details.first_name, details.last_name) == ("Kept", None)


def test_update_is_active_false_suspends_and_revokes_refresh_tokens(admin_client, user):
    issue_pair(user)

    response = send(admin_client, "put", f"{USERS}/{user.pk}", {"is_active": False})

    assert response.json()["user"]["status"] == "SUSPENDED"
    assert _live_refresh_tokens(user) == 0
    assert AuditEntry.objects.get(action="user.suspended").actor_id == admin_client.user.pk


def test_update_password_is_hashed_and_revokes_sessions(admin_client, user):
    issue_pair(user)

    send(admin_client, "put", f"{USERS}/{user.pk}", {"password": "staff-set"})

    user.refresh_from_db()
    assert user.check_password("staff-set")
    assert _live_refresh_tokens(user) == 0
    entry = AuditEntry.objects.get(action="user.updated")
    assert entry.after == {"password": "(changed by staff)"}
    assert "staff-set" not in json.dumps(entry.before) + json.dumps(entry.after)


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"status": "deleted"}, 400, "validation_error", "Use DELETE to anonymise a user"),
        (
            {"password": "short"},
            400,
            "validation_error",
            "Password must be at least 8 characters long",
        ),
        ({"role": "emperor"}, 400, "validation_error", "Unknown role: emperor"),
        ({"balance": "-1"}, 400, "validation_error", "balance cannot be negative"),
        (
            {"balance": "1.234"},
            400,
            "validation_error",
            "balance must have at most 2 decimal places",
        ),
        ({"country": "ZZ"}, 400, "validation_error", "Unknown country code: ZZ"),
        (
            {"token_balance": -5},
            400,
            "validation_error",
            "token_balance must be a non-negative integer",
        ),
    ],
)
def test_update_errors_change_nothing(admin_client, user, body, status, code, message):
    before = User.objects.get(pk=user.pk)

    response = send(admin_client, "put", f"{USERS}/{user.pk}", {"email": "new@example.com", **body})

    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["error"] == message
    after = User.objects.get(pk=user.pk)
    assert (after.email, after.status, after.updated_at) == (
        before.email,
        before.status,
        before.updated_at,
    )


def test_update_to_a_taken_email_is_409(admin_client, user):
    other = UserFactory()

    response = send(admin_client, "put", f"{USERS}/{user.pk}", {"email": other.email.upper()})

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_update_ignores_privileged_and_read_only_fields(admin_client, user):
    before = User.objects.get(pk=user.pk)

    response = send(
        admin_client,
        "put",
        f"{USERS}/{user.pk}",
        {
            "is_staff": True,
            "is_superuser": True,
            "id": str(uuid.uuid4()),
            "created_at": "2001-01-01T00:00:00Z",
            "password_hash": "md5$x$y",
            "last_login_at": "2001-01-01T00:00:00Z",
        },
    )

    assert response.status_code == 200
    after = User.objects.get(pk=user.pk)
    assert (after.is_superuser, after.role, after.password, after.last_login_at) == (
        False,
        "USER",
        before.password,
        None,
    )
    assert after.created_at == before.created_at


def test_token_balance_is_set_through_the_ledger(admin_client, user):
    from tokens.models import TokenTransaction

    first = send(admin_client, "put", f"{USERS}/{user.pk}", {"token_balance": 250})
    second = send(
        admin_client,
        "put",
        f"{USERS}/{user.pk}",
        {"token_balance": 100, "token_balance_reason": "Goodwill corrected"},
    )

    assert first.json()["user"]["token_balance"] == 250
    assert second.json()["user"]["token_balance"] == 100
    entries = list(TokenTransaction.objects.filter(user=user).order_by("created_at"))
    assert [(entry.amount, entry.balance_after, entry.transaction_type) for entry in entries] == [
        (250, 250, "ADJUSTMENT"),
        (-150, 100, "ADJUSTMENT"),
    ]
    assert [entry.description for entry in entries] == [
        "Balance set by staff",
        "Goodwill corrected",
    ]
    assert {entry.created_by_id for entry in entries} == {admin_client.user.pk}


def test_token_balance_is_written_through_the_registered_setter(admin_client, user):
    calls = []
    with extensions.TOKEN_BALANCE_SETTER.answered_by(lambda **kwargs: calls.append(kwargs)):
        send(admin_client, "put", f"{USERS}/{user.pk}", {"token_balance": 250})

    assert len(calls) == 1
    assert calls[0]["balance"] == 250
    assert calls[0]["reason"] == "Balance set by staff"
    assert calls[0]["actor"] == admin_client.user


# --- self-protection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body", "message"),
    [
        ("put", "", {"is_active": False}, "You cannot suspend your own account"),
        ("put", "", {"status": "suspended"}, "You cannot suspend your own account"),
        ("put", "", {"role": "user"}, "You cannot remove your own admin role"),
        ("put", "/roles", {"roles": ["USER"]}, "You cannot remove your own admin role"),
        ("post", "/suspend", {}, "You cannot suspend your own account"),
        ("delete", "", None, "You cannot delete your own account"),
    ],
)
def test_staff_cannot_lock_themselves_out(admin_client, method, suffix, body, message):
    AdminFactory()  # another active admin exists, so only self-protection applies
    me = admin_client.user

    response = send(admin_client, method, f"{USERS}/{me.pk}{suffix}", body)

    assert response.status_code == 400
    assert response.json() == {"error": message, "code": "business_rule"}
    me.refresh_from_db()
    assert (me.status, me.role) == (UserStatus.ACTIVE, UserRole.ADMIN)


# --- roles, suspend, activate ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "role"),
    [(["ADMIN", "USER"], "ADMIN"), (["user", "vendor"], "VENDOR"), (["USER"], "USER")],
)
def test_roles_pick_the_highest(admin_client, user, roles, role):
    response = send(admin_client, "put", f"{USERS}/{user.pk}/roles", {"roles": roles})

    assert response.status_code == 200
    assert response.json()["message"] == "Roles updated"
    assert response.json()["user"]["role"] == role
    assert response.json()["user"]["roles"] == [role]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "roles must be a non-empty list"),
        ({"roles": []}, "roles must be a non-empty list"),
        ({"roles": "ADMIN"}, "roles must be a non-empty list"),
        ({"roles": ["ADMIN", "PIRATE"]}, "Unknown role: PIRATE"),
    ],
)
def test_roles_validation(admin_client, user, body, message):
    response = send(admin_client, "put", f"{USERS}/{user.pk}/roles", body)

    assert response.status_code == 400
    assert response.json()["error"] == message
    user.refresh_from_db()
    assert user.role == UserRole.USER


def test_demoting_an_admin_writes_the_audit_row(admin_client):
    other = AdminFactory()

    send(
        admin_client,
        "put",
        f"{USERS}/{other.pk}/roles",
        {"roles": ["USER"]},
        HTTP_X_REQUEST_ID="req-roles-1",
    )

    entry = AuditEntry.objects.get(action="user.role_changed")
    assert (entry.before, entry.after) == ({"role": "ADMIN"}, {"role": "USER"})
    assert entry.actor_id == admin_client.user.pk
    assert entry.request_id == "req-roles-1"


def test_suspend_and_activate(admin_client, user):
    issue_pair(user)

    suspended = send(admin_client, "post", f"{USERS}/{user.pk}/suspend", {"reason": "chargeback"})
    again = send(admin_client, "post", f"{USERS}/{user.pk}/suspend", {})
    activated = admin_client.post(f"{USERS}/{user.pk}/activate")
    active_again = admin_client.post(f"{USERS}/{user.pk}/activate")

    assert suspended.status_code == 200
    assert suspended.json()["message"] == "User suspended"
    assert suspended.json()["user"]["status"] == "SUSPENDED"
    assert _live_refresh_tokens(user) == 0
    assert AuditEntry.objects.get(action="user.suspended").reason == "chargeback"
    assert again.status_code == 400
    assert again.json() == {"error": "User is already suspended", "code": "invalid_transition"}
    assert activated.json()["message"] == "User activated"
    assert activated.json()["user"]["status"] == "ACTIVE"
    assert active_again.json() == {"error": "User is already active", "code": "invalid_transition"}


def test_an_anonymised_user_cannot_be_activated(admin_client):
    gone = UserFactory(status=UserStatus.DELETED)

    response = admin_client.post(f"{USERS}/{gone.pk}/activate")

    assert response.status_code == 400
    assert response.json() == {
        "error": "An anonymised user cannot be activated",
        "code": "invalid_transition",
    }


def test_the_last_active_admin_cannot_be_demoted_or_suspended_by_the_system():
    from accounts import services
    from vbwd.exceptions import BusinessRuleError

    only_admin = AdminFactory()

    with pytest.raises(BusinessRuleError, match="At least one active admin must remain"):
        services.user_set_role(user=only_admin, role=UserRole.USER, actor=None)
    with pytest.raises(BusinessRuleError, match="At least one active admin must remain"):
        services.user_suspend(user=only_admin, actor=None)
    with pytest.raises(BusinessRuleError, match="At least one active admin must remain"):
        services.user_delete(user=only_admin, actor=None, force=True)
    AdminFactory(status=UserStatus.SUSPENDED)
    with pytest.raises(BusinessRuleError, match="At least one active admin must remain"):
        services.user_set_role(user=only_admin, role=UserRole.USER, actor=None)


# --- deletion -------------------------------------------------------------------------------


def test_deletion_info_without_financial_records(admin_client, user):
    response = admin_client.get(f"{USERS}/{user.pk}/deletion-info")

    assert response.json() == {
        "user_id": str(user.pk),
        "email": user.email,
        "has_cascade_dependencies": False,
        "invoice_count": 0,
        "subscription_count": 0,
        "payment_count": 0,
        "token_balance": 0,
        "action": "DELETE",
    }


def test_deletion_info_with_financial_records(admin_client, user, financial_records):
    financial_records[user.pk] = {"invoice_count": 3, "subscription_count": 1, "payment_count": 2}

    body = admin_client.get(f"{USERS}/{user.pk}/deletion-info").json()

    assert body["has_cascade_dependencies"] is True
    assert (body["invoice_count"], body["subscription_count"], body["payment_count"]) == (3, 1, 2)
    assert body["action"] == "ANONYMISE"


def test_delete_without_financial_records_deletes(admin_client, user):
    response = admin_client.delete(f"{USERS}/{user.pk}")

    assert response.status_code == 200
    assert response.json() == {"message": "User deleted successfully", "action": "DELETED"}
    assert not User.objects.filter(pk=user.pk).exists()
    assert not UserDetails.objects.filter(user_id=user.pk).exists()
    assert AuditEntry.objects.get(action="user.deleted").object_id == str(user.pk)


def test_delete_with_financial_records_needs_force(admin_client, user, financial_records):
    financial_records[user.pk] = {"invoice_count": 2, "subscription_count": 1}

    response = admin_client.delete(f"{USERS}/{user.pk}")

    assert response.status_code == 409
    assert response.json() == {
        "error": "User has financial records (2 invoices). "
        "Pass force=true to anonymise the account instead.",
        "code": "has_dependencies",
        "has_dependencies": True,
        "invoice_count": 2,
        "subscription_count": 1,
    }
    user.refresh_from_db()
    assert user.status == UserStatus.ACTIVE


@pytest.mark.parametrize("how", ["query", "body"])
def test_forced_delete_anonymises_and_keeps_records(admin_client, financial_records, how):
    user = UserFactory(email="real.person@example.com")
    UserDetails.objects.filter(user=user).update(
        first_name="Real",
        last_name="Person",
        phone="+4912345",
        address_line_1="Street 1",
        city="Berlin",
        postal_code="10115",
        company="ACME",
        tax_number="DE123456789",
        country="DE",
    )
    issue_pair(user)
    financial_records[user.pk] = {"invoice_count": 1}
    received = []

    def receiver(sender, user, actor, **kwargs):
        received.append((user.email, actor))

    extensions.user_anonymising.connect(receiver, dispatch_uid="test-anonymising")
    try:
        if how == "query":
            response = admin_client.delete(f"{USERS}/{user.pk}?force=true")
        else:
            response = send(admin_client, "delete", f"{USERS}/{user.pk}", {"force": True})
    finally:
        extensions.user_anonymising.disconnect(dispatch_uid="test-anonymising")

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "User anonymised; financial records were kept"
    assert body["action"] == "ANONYMISED"
    assert body["user"]["email"] == f"deleted-{user.pk}@anonymised.invalid"
    assert body["user"]["status"] == "DELETED"
    user.refresh_from_db()
    assert user.status == UserStatus.DELETED
    assert not user.has_usable_password()
    assert _live_refresh_tokens(user) == 0
    details = UserDetails.objects.get(user=user)
    for field in (
        "first_name",
        "last_name",
        "phone",
        "address_line_1",
        "city",
        "postal_code",
        "company",
        "tax_number",
        "country",
    ):
        assert getattr(details, field) is None, field
    assert received == [("real.person@example.com", admin_client.user)]
    entry = AuditEntry.objects.get(action="user.anonymised")
    assert "real.person@example.com" not in json.dumps(entry.before) + json.dumps(entry.after)
    again = admin_client.delete(f"{USERS}/{user.pk}?force=true")
    assert again.status_code == 400
    assert again.json() == {
        "error": "User has already been anonymised",
        "code": "invalid_transition",
    }


def test_an_anonymised_users_token_stops_working(admin_client, financial_records):
    user = UserFactory()
    access = issue_pair(user)["token"]
    financial_records[user.pk] = {"payment_count": 1}

    admin_client.delete(f"{USERS}/{user.pk}?force=true")

    response = APIClient().get("/api/v1/user/profile", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 401
    assert response.json()["code"] == "account_inactive"


def test_a_failing_anonymisation_receiver_rolls_everything_back(admin_client, financial_records):
    user = UserFactory()
    financial_records[user.pk] = {"invoice_count": 1}

    def broken(sender, **kwargs):
        raise RuntimeError("invoice app failed")

    extensions.user_anonymising.connect(broken, dispatch_uid="test-broken")
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(admin_client.user)['token']}")
    try:
        response = client.delete(f"{USERS}/{user.pk}?force=true")
    finally:
        extensions.user_anonymising.disconnect(dispatch_uid="test-broken")

    assert response.status_code == 500
    user.refresh_from_db()
    assert user.status == UserStatus.ACTIVE
    assert not AuditEntry.objects.filter(action="user.anonymised").exists()

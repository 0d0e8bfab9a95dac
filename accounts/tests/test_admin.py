"""The Django admin back office for accounts."""

import re

import pytest
from django.test import Client

from accounts.models import User, UserRole, UserStatus
from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def _logged_in(user) -> Client:
    client = Client()
    assert client.login(username=user.email, password=DEFAULT_PASSWORD)
    return client


def test_staff_log_in_to_the_admin_with_their_email_in_any_case():
    staff = AdminFactory()
    client = Client()

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": staff.email.upper(), "password": DEFAULT_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    staff.refresh_from_db()
    assert staff.last_login_at is not None


@pytest.mark.parametrize("role", [UserRole.USER, UserRole.VENDOR])
def test_non_staff_are_sent_to_the_login_page(role):
    client = Client()
    client.force_login(UserFactory(role=role))

    response = client.get("/admin/accounts/user/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_suspended_admin_cannot_log_in():
    staff = AdminFactory(status=UserStatus.SUSPENDED)

    assert Client().login(username=staff.email, password=DEFAULT_PASSWORD) is False


def test_user_list_search_and_filters_work(django_assert_max_num_queries):
    client = _logged_in(AdminFactory())
    for _ in range(30):
        UserFactory()
    UserFactory(email="findme@example.com")

    with django_assert_max_num_queries(12):
        listing = client.get("/admin/accounts/user/")
    found = client.get("/admin/accounts/user/", {"q": "findme"})
    filtered = client.get("/admin/accounts/user/", {"status__exact": "SUSPENDED"})

    assert listing.status_code == 200
    assert b"findme@example.com" in found.content
    assert found.context["cl"].result_count == 1
    assert filtered.context["cl"].result_count == 0


def test_suspend_action_asks_for_a_reason_then_calls_the_service():
    staff = AdminFactory()
    target = UserFactory()
    client = _logged_in(staff)
    form = {"action": "suspend_users", "_selected_action": [str(target.pk)]}

    confirmation = client.post("/admin/accounts/user/", form)
    done = client.post("/admin/accounts/user/", {**form, "apply": "1", "reason": "fraud"})

    assert confirmation.status_code == 200
    assert b"Reason" in confirmation.content
    assert done.status_code == 302
    target.refresh_from_db()
    assert target.status == UserStatus.SUSPENDED
    entry = AuditEntry.objects.get(action="user.suspended")
    assert (entry.actor_id, entry.reason) == (staff.pk, "fraud")


def test_change_role_action_writes_the_audit_row():
    staff = AdminFactory()
    target = UserFactory()
    client = _logged_in(staff)

    client.post(
        "/admin/accounts/user/",
        {
            "action": "change_role",
            "_selected_action": [str(target.pk)],
            "apply": "1",
            "reason": "promotion",
            "role": "ADMIN",
        },
    )

    target.refresh_from_db()
    assert target.role == UserRole.ADMIN
    assert AuditEntry.objects.get(action="user.role_changed").reason == "promotion"


def test_adding_a_user_goes_through_the_service():
    staff = AdminFactory()
    client = _logged_in(staff)

    response = client.post(
        "/admin/accounts/user/add/",
        {"email": "New@Example.com", "password": "Str0ng!pass", "role": "VENDOR"},
    )

    assert response.status_code == 302
    created = User.objects.get(email="new@example.com")
    assert created.role == UserRole.VENDOR
    assert created.details is not None
    assert AuditEntry.objects.get(action="user.created").actor_id == staff.pk


def _management_forms(page) -> dict[str, str]:
    """The hidden counters of every inline formset on the page, as a browser posts them back."""
    fields = re.findall(
        r'<input type="hidden" name="([\w-]+-(?:TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS)"'
        r'(?: value="(\d*)")?',
        page.content.decode(),
    )
    return {name: value for name, value in fields}


def test_editing_details_inline_is_audited():
    staff = AdminFactory()
    target = UserFactory()
    client = _logged_in(staff)
    details = target.details
    url = f"/admin/accounts/user/{target.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200

    response = client.post(
        url,
        {
            **_management_forms(page),
            "details-TOTAL_FORMS": "1",
            "details-INITIAL_FORMS": "1",
            "details-MIN_NUM_FORMS": "0",
            "details-MAX_NUM_FORMS": "1",
            "details-0-id": str(details.pk),
            "details-0-user": str(target.pk),
            "details-0-first_name": "Edited",
            "details-0-config": "{}",
            # Not a field of the page: billing does not use it, so staff cannot set it here.
            "details-0-balance": "12.50",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    details.refresh_from_db()
    assert details.first_name == "Edited"
    assert str(details.balance) == "0.00"
    entry = AuditEntry.objects.get(action="user.details_updated")
    assert entry.actor_id == staff.pk
    assert entry.after["first_name"] == "Edited"


def test_audit_log_is_read_only_in_the_admin():
    staff = AdminFactory()
    client = _logged_in(staff)
    target = UserFactory()
    from accounts.services import user_suspend

    user_suspend(user=target, actor=staff)
    entry = AuditEntry.objects.get(action="user.suspended")

    assert client.get("/admin/audit/auditentry/").status_code == 200
    assert client.get(f"/admin/audit/auditentry/{entry.pk}/change/").status_code == 200
    assert client.get("/admin/audit/auditentry/add/").status_code == 403
    assert client.get(f"/admin/audit/auditentry/{entry.pk}/delete/").status_code == 403


def test_delete_or_anonymise_action_keeps_users_with_financial_records():
    from accounts import extensions

    staff = AdminFactory()
    plain, paying = UserFactory(), UserFactory()

    def counter(user):
        return extensions.FinancialRecords(invoice_count=1 if user.pk == paying.pk else 0)

    with extensions.FINANCIAL_RECORDS.answered_by(counter):
        response = _logged_in(staff).post(
            "/admin/accounts/user/",
            {
                "action": "delete_or_anonymise",
                "_selected_action": [str(plain.pk), str(paying.pk)],
                "apply": "1",
                "reason": "GDPR request",
            },
        )

    assert response.status_code == 302
    assert not User.objects.filter(pk=plain.pk).exists()
    paying.refresh_from_db()
    assert paying.status == UserStatus.DELETED
    assert paying.email == f"deleted-{paying.pk}@anonymised.invalid"
    assert AuditEntry.objects.get(action="user.anonymised").reason == "GDPR request"
    assert AuditEntry.objects.get(action="user.deleted").reason == "GDPR request"

"""The billing days of the settings page (renewal lead, grace, retries, pause, payment terms):
editable in the back office and validated by the same service as PUT /admin/settings."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory
from audit.models import AuditEntry
from platform_settings.models import PlatformSettings
from platform_settings.selectors import platform_settings_get
from platform_settings.services import SETTINGS_KEYS

pytestmark = pytest.mark.django_db

CHANGE = "/admin/platform_settings/platformsettings/1/change/"
BUSINESS_DAYS = {
    "renewal_lead_days": 3,
    "grace_period_days": 7,
    "payment_retry_days": [1, 3, 5],
    "max_pause_days": 90,
    "payment_terms_days": 14,
}


@pytest.fixture
def staff():
    return AdminFactory()


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    return client


def _form(**changes) -> dict:
    row = platform_settings_get()
    data = {key: getattr(row, key) for key in SETTINGS_KEYS}
    data["payment_retry_days"] = ", ".join(str(day) for day in row.payment_retry_days)
    data.update(changes)
    data["_save"] = "Save"
    return data


def _days() -> dict:
    row = PlatformSettings.objects.get(pk=1)
    return {key: getattr(row, key) for key in BUSINESS_DAYS}


def test_every_billing_day_setting_is_on_the_page(client):
    platform_settings_get()

    response = client.get(CHANGE)

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert set(BUSINESS_DAYS) <= set(form.fields)
    content = response.content.decode()
    for key in BUSINESS_DAYS:
        assert f'name="{key}"' in content
    assert 'name="renewal_lead_days" value="3"' in content
    assert 'name="max_pause_days" value="90"' in content


def test_staff_change_all_billing_days_at_once(client, staff):
    response = client.post(
        CHANGE,
        _form(
            renewal_lead_days=5,
            grace_period_days=10,
            payment_retry_days="2, 6, 10",
            max_pause_days=30,
            payment_terms_days=0,
        ),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    expected = {
        "renewal_lead_days": 5,
        "grace_period_days": 10,
        "payment_retry_days": [2, 6, 10],
        "max_pause_days": 30,
        "payment_terms_days": 0,
    }
    assert _days() == expected
    assert {key: getattr(platform_settings_get(), key) for key in BUSINESS_DAYS} == expected
    entry = AuditEntry.objects.get(action="settings.updated")
    assert entry.before == BUSINESS_DAYS
    assert entry.after == expected
    assert entry.actor_id == staff.pk


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("renewal_lead_days", 30),
        ("renewal_lead_days", 0),
        ("grace_period_days", 90),
        ("max_pause_days", 1),
        ("max_pause_days", 365),
        ("payment_terms_days", 365),
    ],
)
def test_the_limits_are_accepted(client, key, value):
    response = client.post(CHANGE, _form(**{key: value}))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert _days()[key] == value


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"renewal_lead_days": 31},
            "renewal_lead_days",
            "renewal_lead_days must be an integer between 0 and 30",
        ),
        (
            {"grace_period_days": 91},
            "grace_period_days",
            "grace_period_days must be an integer between 0 and 90",
        ),
        (
            {"max_pause_days": 0},
            "max_pause_days",
            "max_pause_days must be an integer between 1 and 365",
        ),
        (
            {"max_pause_days": 366},
            "max_pause_days",
            "max_pause_days must be an integer between 1 and 365",
        ),
        (
            {"payment_terms_days": 366},
            "payment_terms_days",
            "payment_terms_days must be an integer between 0 and 365",
        ),
        (
            {"payment_retry_days": "0, 3"},
            "payment_retry_days",
            "payment_retry_days must be ascending and within grace_period_days",
        ),
        (
            {"payment_retry_days": "3, 3"},
            "payment_retry_days",
            "payment_retry_days must be ascending and within grace_period_days",
        ),
        (
            {"payment_retry_days": "1, 8"},
            "payment_retry_days",
            "payment_retry_days must be ascending and within grace_period_days",
        ),
        (
            {"grace_period_days": 10, "payment_retry_days": "2, 11"},
            "payment_retry_days",
            "payment_retry_days must be ascending and within grace_period_days",
        ),
    ],
)
def test_values_the_api_refuses_are_refused_with_its_message(client, changes, field, message):
    platform_settings_get()

    # a valid change posted alongside is not saved either
    response = client.post(CHANGE, _form(**{"payment_terms_days": 20, **changes}))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert _days() == BUSINESS_DAYS
    assert not AuditEntry.objects.filter(action="settings.updated").exists()


@pytest.mark.parametrize(
    "key", ["renewal_lead_days", "grace_period_days", "max_pause_days", "payment_terms_days"]
)
def test_negative_and_non_numeric_days_are_refused(client, key):
    platform_settings_get()

    negative = client.post(CHANGE, _form(**{key: -1}))
    text = client.post(CHANGE, _form(**{key: "ten"}))

    assert negative.status_code == text.status_code == 200
    assert negative.context["adminform"].form.errors[key]
    assert text.context["adminform"].form.errors[key] == ["Enter a whole number."]
    assert _days() == BUSINESS_DAYS
    assert not AuditEntry.objects.filter(action="settings.updated").exists()


def test_a_shorter_grace_period_with_matching_retry_days_is_accepted(client):
    response = client.post(CHANGE, _form(grace_period_days=2, payment_retry_days="1, 2"))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert _days() == {**BUSINESS_DAYS, "grace_period_days": 2, "payment_retry_days": [1, 2]}


def test_the_api_sees_what_the_page_saved(client, admin_client):
    client.post(CHANGE, _form(renewal_lead_days=6, max_pause_days=45))

    response = admin_client.get("/api/v1/admin/settings")

    assert response.status_code == 200
    settings = response.json()["settings"]
    assert (settings["renewal_lead_days"], settings["max_pause_days"]) == (6, 45)

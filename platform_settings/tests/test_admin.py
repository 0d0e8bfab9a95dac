"""The settings page of the Django admin: one row, validated and saved through the service."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory
from audit.models import ActorType, AuditEntry
from platform_settings.models import PlatformSettings
from platform_settings.selectors import platform_settings_get
from platform_settings.services import SETTINGS_KEYS

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/platform_settings/platformsettings/"
CHANGE = "/admin/platform_settings/platformsettings/1/change/"
ADD = "/admin/platform_settings/platformsettings/add/"
DELETE = "/admin/platform_settings/platformsettings/1/delete/"


@pytest.fixture
def staff():
    return AdminFactory()


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    return client


def _form(**changes) -> dict:
    """Every field of the form with the stored values, then ``changes``."""
    row = platform_settings_get()
    data = {key: getattr(row, key) for key in SETTINGS_KEYS}
    data["payment_retry_days"] = ", ".join(str(day) for day in row.payment_retry_days)
    data.update(changes)
    data["_save"] = "Save"
    return data


def _row() -> PlatformSettings:
    return PlatformSettings.objects.get(pk=1)


def test_the_list_page_redirects_to_the_single_row(client):
    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"] == CHANGE
    assert list(PlatformSettings.objects.values_list("pk", flat=True)) == [1]


def test_the_change_page_shows_the_settings(client):
    platform_settings_get()

    response = client.get(CHANGE)

    assert response.status_code == 200
    content = response.content.decode()
    assert "INV-{year}-{sequence:06d}" in content
    assert 'value="1, 3, 5"' in content


def test_a_non_staff_user_is_sent_to_the_login_page():
    other = Client()
    other.force_login(UserFactory())

    response = other.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_save_a_change_which_is_persisted_and_audited(client, staff):
    response = client.post(
        CHANGE,
        _form(
            company_name="ACME GmbH",
            payment_retry_days="2,4",
            bank_iban="DE89 3704 0044 0532 0130 00",
            payment_terms_days=30,
        ),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    row = _row()
    assert row.company_name == "ACME GmbH"
    assert row.payment_retry_days == [2, 4]
    assert row.bank_iban == "DE89370400440532013000"
    assert row.payment_terms_days == 30
    assert row.invoice_number_format == "INV-{year}-{sequence:06d}"
    entry = AuditEntry.objects.get(action="settings.updated")
    assert entry.before == {
        "company_name": "",
        "payment_retry_days": [1, 3, 5],
        "bank_iban": "",
        "payment_terms_days": 14,
    }
    assert entry.after == {
        "company_name": "ACME GmbH",
        "payment_retry_days": [2, 4],
        "bank_iban": "DE89370400440532013000",
        "payment_terms_days": 30,
    }
    assert entry.actor_id == staff.pk
    assert entry.actor_type == ActorType.STAFF
    # the cached read sees it at once
    assert platform_settings_get().company_name == "ACME GmbH"


def test_saving_the_unchanged_form_changes_nothing(client):
    before = {key: getattr(platform_settings_get(), key) for key in SETTINGS_KEYS}

    response = client.post(CHANGE, _form())

    assert response.status_code == 302
    assert {key: getattr(_row(), key) for key in SETTINGS_KEYS} == before
    assert not AuditEntry.objects.filter(action="settings.updated").exists()


def test_an_invalid_iban_is_shown_on_the_form_and_nothing_changes(client):
    response = client.post(
        CHANGE, _form(bank_iban="DE88 3704 0044 0532 0130 00", company_name="Not saved")
    )

    assert response.status_code == 200
    assert "Invalid IBAN" in response.content.decode()
    row = _row()
    assert row.bank_iban == ""
    assert row.company_name == ""
    assert not AuditEntry.objects.filter(action="settings.updated").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"invoice_number_format": "INV-{sequence}"},
            "invoice_number_format must contain {year} and {sequence}",
        ),
        (
            {"payment_retry_days": "5, 3"},
            "payment_retry_days must be ascending and within grace_period_days",
        ),
        (
            {"grace_period_days": 4},
            "payment_retry_days must be ascending and within grace_period_days",
        ),
        ({"payment_retry_days": "1, three"}, "Enter whole numbers separated by commas"),
        ({"address_country": "Atlantis"}, "Unknown country: Atlantis"),
    ],
)
def test_other_invalid_values_are_shown_on_the_form(client, changes, message):
    platform_settings_get()

    response = client.post(CHANGE, _form(company_name="Not saved", **changes))

    assert response.status_code == 200
    assert message in response.content.decode()
    row = _row()
    assert row.company_name == ""
    assert row.grace_period_days == 7
    assert row.payment_retry_days == [1, 3, 5]
    assert row.invoice_number_format == "INV-{year}-{sequence:06d}"
    assert row.address_country == "DE"


@pytest.mark.parametrize(("value", "code"), [("Austria", "AT"), ("at", "AT")])
def test_the_country_is_free_text_and_stored_as_its_code(client, value, code):
    response = client.post(CHANGE, _form(address_country=value))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert _row().address_country == code


def test_a_long_iban_printed_with_spaces_is_accepted(client):
    # Malta's IBAN has 31 characters; printed in groups of four it has 38.
    response = client.post(CHANGE, _form(bank_iban="MT84 MALT 0110 0001 2345 MTLC AST0 01S"))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert _row().bank_iban == "MT84MALT011000012345MTLCAST001S"


def test_adding_a_second_row_is_forbidden(client):
    platform_settings_get()

    assert client.get(ADD).status_code == 403
    assert client.post(ADD, _form(company_name="Second")).status_code == 403
    assert PlatformSettings.objects.count() == 1


def test_deleting_the_row_is_forbidden(client):
    platform_settings_get()

    assert client.get(DELETE).status_code == 403
    assert client.post(DELETE, {"post": "yes"}).status_code == 403
    assert PlatformSettings.objects.count() == 1

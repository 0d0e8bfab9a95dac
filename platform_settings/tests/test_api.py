"""Platform settings over the API: the settings row, the public terms and staff's own profile
(docs/api/admin-settings.md)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from audit.models import ActorType, AuditEntry
from conftest import bearer
from platform_settings.models import DEFAULT_TERMS_CONTENT, PlatformSettings
from platform_settings.selectors import platform_settings_get

pytestmark = pytest.mark.django_db

SETTINGS = "/api/v1/admin/settings"
PROFILE = "/api/v1/admin/profile"
TERMS = "/api/v1/settings/terms"

VALID_IBAN = "DE89370400440532013000"
VALID_IBAN_PRINTED = "DE89 3704 0044 0532 0130 00"
BAD_CHECKSUM_IBAN = "DE88 3704 0044 0532 0130 00"

# Every setting with its documented default (terms_content: "short placeholder text").
DEFAULTS = {
    "provider_name": "",
    "company_name": "",
    "contact_email": "",
    "company_email": "",
    "website_url": "",
    "other_links": "",
    "address_street": "",
    "address_city": "",
    "address_postal_code": "",
    "address_country": "DE",
    "vat_id": "",
    "company_contact_name": "",
    "company_phone": "",
    "company_register_id": "",
    "bank_account_holder": "",
    "bank_name": "",
    "bank_iban": "",
    "bank_bic": "",
    "terms_title": "Terms and Conditions",
    "terms_content": DEFAULT_TERMS_CONTENT,
    "invoice_number_format": "INV-{year}-{sequence:06d}",
    "credit_note_number_format": "CN-{year}-{sequence:06d}",
    "payment_terms_days": 14,
    "grace_period_days": 7,
    "renewal_lead_days": 3,
    "max_pause_days": 90,
    "payment_retry_days": [1, 3, 5],
    "invoice_footer": "",
    "einvoice_hybrid_pdf": True,
}


def _put(client: APIClient, data: dict):
    return client.put(SETTINGS, data, format="json")


def _stored() -> dict:
    """The stored values (a refused first write leaves no row: then the defaults apply)."""
    row = PlatformSettings.objects.filter(pk=1).first() or PlatformSettings()
    return {key: getattr(row, key) for key in DEFAULTS}


def _validation_error(response, key: str, message: str) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": message,
        "code": "validation_error",
        "errors": {key: [message]},
    }


def _refused_with_key(response, key: str) -> str:
    """A 400 validation_error naming only ``key``; returns its message."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == [key]
    assert len(body["errors"][key]) == 1
    message = body["errors"][key][0]
    assert body["error"] == message
    assert key in message
    return message


# --- GET /admin/settings ----------------------------------------------------------------------


def test_get_returns_every_documented_key_with_its_default(admin_client):
    response = admin_client.get(SETTINGS)

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["settings"]
    assert set(body["settings"]) == set(DEFAULTS)
    assert len(body["settings"]) == 29
    assert body["settings"] == DEFAULTS
    assert body["settings"]["payment_retry_days"] == [1, 3, 5]
    assert body["settings"]["invoice_number_format"] == "INV-{year}-{sequence:06d}"
    assert body["settings"]["address_country"] == "DE"
    assert body["settings"]["terms_content"].strip() != ""


def test_get_creates_the_single_row_on_first_use(admin_client):
    assert PlatformSettings.objects.count() == 0

    admin_client.get(SETTINGS)
    admin_client.get(SETTINGS)

    assert list(PlatformSettings.objects.values_list("pk", flat=True)) == [1]


# --- PUT /admin/settings: partial update ------------------------------------------------------


def test_put_updates_only_the_given_keys_and_persists_them(admin_client):
    response = _put(
        admin_client,
        {"company_name": "  ACME GmbH ", "payment_terms_days": 30, "invoice_footer": "Thanks!"},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"settings", "message"}
    assert body["message"] == "Settings updated"
    expected = {
        **DEFAULTS,
        "company_name": "ACME GmbH",
        "payment_terms_days": 30,
        "invoice_footer": "Thanks!",
    }
    assert body["settings"] == expected
    assert _stored() == expected
    assert admin_client.get(SETTINGS).json() == {"settings": expected}


def test_successive_partial_updates_keep_earlier_values(admin_client):
    assert _put(admin_client, {"company_name": "ACME GmbH"}).status_code == 200
    assert _put(admin_client, {"vat_id": "DE123456789"}).status_code == 200

    settings = admin_client.get(SETTINGS).json()["settings"]
    assert settings["company_name"] == "ACME GmbH"
    assert settings["vat_id"] == "DE123456789"


def test_patch_is_accepted_as_a_partial_update(admin_client):
    response = admin_client.patch(SETTINGS, {"provider_name": "Acme"}, format="json")

    assert response.status_code == 200
    assert response.json()["settings"]["provider_name"] == "Acme"
    assert _stored()["provider_name"] == "Acme"


def test_unknown_and_read_only_keys_are_ignored(admin_client):
    response = _put(
        admin_client,
        {"company_name": "ACME", "no_such_key": "x", "id": 7, "updated_at": "2000-01-01T00:00:00Z"},
    )

    assert response.status_code == 200, response.content
    assert set(response.json()["settings"]) == set(DEFAULTS)
    assert list(PlatformSettings.objects.values_list("pk", flat=True)) == [1]
    assert _stored()["company_name"] == "ACME"


def test_an_empty_body_changes_nothing(admin_client):
    response = _put(admin_client, {})

    assert response.status_code == 200
    assert response.json() == {"settings": DEFAULTS, "message": "Settings updated"}
    assert not AuditEntry.objects.filter(action="settings.updated").exists()


# --- IBAN and BIC ------------------------------------------------------------------------------


def test_an_iban_with_spaces_is_stored_without_them(admin_client):
    response = _put(admin_client, {"bank_iban": VALID_IBAN_PRINTED})

    assert response.status_code == 200, response.content
    assert response.json()["settings"]["bank_iban"] == VALID_IBAN
    assert _stored()["bank_iban"] == VALID_IBAN


def test_an_iban_can_be_cleared(admin_client):
    _put(admin_client, {"bank_iban": VALID_IBAN})

    response = _put(admin_client, {"bank_iban": ""})

    assert response.status_code == 200
    assert _stored()["bank_iban"] == ""


@pytest.mark.parametrize("value", [BAD_CHECKSUM_IBAN, "DE89370400440532013", "XX00 1234", "hello"])
def test_an_invalid_iban_is_refused_and_nothing_is_saved(admin_client, value):
    response = _put(
        admin_client,
        {"bank_iban": value, "company_name": "Not saved", "payment_terms_days": 30},
    )

    _validation_error(response, "bank_iban", "Invalid IBAN")
    assert _stored() == DEFAULTS
    assert not AuditEntry.objects.filter(action="settings.updated").exists()


def test_an_invalid_iban_keeps_the_previously_stored_one(admin_client):
    _put(admin_client, {"bank_iban": VALID_IBAN})

    response = _put(admin_client, {"bank_iban": BAD_CHECKSUM_IBAN})

    _validation_error(response, "bank_iban", "Invalid IBAN")
    assert _stored()["bank_iban"] == VALID_IBAN


@pytest.mark.parametrize("value", ["COBADEFF", "COBADEFFXXX", "DEUTDEDBFRA", ""])
def test_a_bic_of_8_or_11_characters_or_empty_is_accepted(admin_client, value):
    response = _put(admin_client, {"bank_bic": value})

    assert response.status_code == 200, response.content
    assert _stored()["bank_bic"] == value


@pytest.mark.parametrize("value", ["COBADEF", "COBADEFFX", "COBADEFFXX", "COBADEFFXXXX", "COB"])
def test_a_bic_of_another_length_is_refused(admin_client, value):
    response = _put(admin_client, {"bank_bic": value, "company_name": "Not saved"})

    _refused_with_key(response, "bank_bic")
    assert _stored() == DEFAULTS


# --- number formats ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["{year}-{sequence:05d}", "INV/{year}/{sequence}", "{sequence:06d}-{year}"]
)
def test_valid_number_formats_are_accepted(admin_client, value):
    response = _put(
        admin_client, {"invoice_number_format": value, "credit_note_number_format": value}
    )

    assert response.status_code == 200, response.content
    assert _stored()["invoice_number_format"] == value
    assert _stored()["credit_note_number_format"] == value


@pytest.mark.parametrize("value", ["INV-{sequence:06d}", "INV-{year}", "INV-2026-000001", ""])
def test_a_number_format_without_year_and_sequence_is_refused(admin_client, value):
    response = _put(admin_client, {"invoice_number_format": value, "company_name": "Not saved"})

    _validation_error(
        response,
        "invoice_number_format",
        "invoice_number_format must contain {year} and {sequence}",
    )
    assert _stored() == DEFAULTS


def test_the_credit_note_format_follows_the_same_rules(admin_client):
    response = _put(admin_client, {"credit_note_number_format": "CN-{sequence}"})

    _validation_error(
        response,
        "credit_note_number_format",
        "credit_note_number_format must contain {year} and {sequence}",
    )
    assert _stored()["credit_note_number_format"] == "CN-{year}-{sequence:06d}"


@pytest.mark.parametrize(
    "value",
    [
        "INV-{year}-{month}-{sequence}",  # another placeholder
        "{year}-{sequence}-{}",  # positional placeholder
        "{year}-{sequence:x}",  # a spec other than :0Nd
        "{year}-{sequence:>6}",
        "{year}-{sequence:6d}",  # width without zero padding: "INV-2026-     7"
        "{year}-{sequence!r}",  # a conversion is no format spec
        "{year}-{sequence",  # broken braces
    ],
)
def test_a_number_format_with_other_placeholders_or_specs_is_refused(admin_client, value):
    response = _put(admin_client, {"invoice_number_format": value})

    _refused_with_key(response, "invoice_number_format")
    assert _stored()["invoice_number_format"] == "INV-{year}-{sequence:06d}"


# --- day ranges --------------------------------------------------------------------------------


def test_payment_terms_beyond_365_days_are_refused(admin_client):
    response = _put(admin_client, {"payment_terms_days": 366})

    _validation_error(
        response, "payment_terms_days", "payment_terms_days must be an integer between 0 and 365"
    )
    assert _stored()["payment_terms_days"] == 14


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("payment_terms_days", -1, "payment_terms_days must be an integer between 0 and 365"),
        ("payment_terms_days", "14", "payment_terms_days must be an integer between 0 and 365"),
        ("payment_terms_days", 14.5, "payment_terms_days must be an integer between 0 and 365"),
        ("payment_terms_days", True, "payment_terms_days must be an integer between 0 and 365"),
        ("payment_terms_days", None, "payment_terms_days must be an integer between 0 and 365"),
        ("grace_period_days", 91, "grace_period_days must be an integer between 0 and 90"),
        ("renewal_lead_days", 31, "renewal_lead_days must be an integer between 0 and 30"),
        ("max_pause_days", 0, "max_pause_days must be an integer between 1 and 365"),
        ("max_pause_days", 366, "max_pause_days must be an integer between 1 and 365"),
    ],
)
def test_days_outside_their_range_are_refused(admin_client, key, value, message):
    response = _put(admin_client, {key: value})

    _validation_error(response, key, message)
    assert _stored() == DEFAULTS


@pytest.mark.parametrize(
    "changes",
    [
        {"payment_terms_days": 0},
        {"payment_terms_days": 365},
        {"grace_period_days": 90},
        {"grace_period_days": 5},
        {"renewal_lead_days": 0},
        {"renewal_lead_days": 30},
        {"max_pause_days": 1},
        {"max_pause_days": 365},
    ],
)
def test_days_at_the_range_limits_are_accepted(admin_client, changes):
    response = _put(admin_client, changes)

    assert response.status_code == 200, response.content
    assert _stored() == {**DEFAULTS, **changes}


# --- payment_retry_days ------------------------------------------------------------------------

RETRY_MESSAGE = "payment_retry_days must be ascending and within grace_period_days"


@pytest.mark.parametrize(
    "value", [[3, 1, 5], [1, 5, 3], [1, 3, 8], [8], "1,3,5", [1, "3"], [1.5], None]
)
def test_retry_days_not_ascending_or_beyond_the_grace_period_are_refused(admin_client, value):
    response = _put(admin_client, {"payment_retry_days": value})

    _validation_error(response, "payment_retry_days", RETRY_MESSAGE)
    assert _stored()["payment_retry_days"] == [1, 3, 5]


def test_lowering_only_the_grace_period_below_the_stored_retry_days_is_refused(admin_client):
    response = _put(admin_client, {"grace_period_days": 4})

    _validation_error(response, "payment_retry_days", RETRY_MESSAGE)
    assert _stored()["grace_period_days"] == 7


def test_retry_days_are_checked_against_the_grace_period_of_the_same_request(admin_client):
    refused = _put(admin_client, {"grace_period_days": 10, "payment_retry_days": [2, 4, 11]})
    accepted = _put(admin_client, {"grace_period_days": 10, "payment_retry_days": [2, 4, 10]})

    _validation_error(refused, "payment_retry_days", RETRY_MESSAGE)
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["settings"]["payment_retry_days"] == [2, 4, 10]
    assert _stored()["grace_period_days"] == 10
    assert _stored()["payment_retry_days"] == [2, 4, 10]


def test_the_grace_period_can_be_lowered_together_with_the_retry_days(admin_client):
    response = _put(admin_client, {"grace_period_days": 2, "payment_retry_days": [1, 2]})

    assert response.status_code == 200, response.content
    assert _stored()["grace_period_days"] == 2
    assert _stored()["payment_retry_days"] == [1, 2]


def test_the_grace_period_can_be_raised_alone(admin_client):
    response = _put(admin_client, {"grace_period_days": 30})

    assert response.status_code == 200, response.content
    assert _stored()["payment_retry_days"] == [1, 3, 5]
    assert _stored()["grace_period_days"] == 30


# --- country, emails, URL, text ----------------------------------------------------------------


def test_address_country_accepts_a_code_in_any_case_and_stores_it_upper_case(admin_client):
    response = _put(admin_client, {"address_country": "at"})

    assert response.status_code == 200, response.content
    assert response.json()["settings"]["address_country"] == "AT"
    assert _stored()["address_country"] == "AT"


def test_address_country_accepts_a_country_name_and_stores_the_code(admin_client):
    _put(admin_client, {"address_country": "AT"})

    response = _put(admin_client, {"address_country": "Germany"})

    assert response.status_code == 200, response.content
    assert _stored()["address_country"] == "DE"


def test_address_country_lower_case_de_is_stored_as_de(admin_client):
    _put(admin_client, {"address_country": "FR"})

    response = _put(admin_client, {"address_country": "de"})

    assert response.status_code == 200
    assert _stored()["address_country"] == "DE"


@pytest.mark.parametrize("value", ["Atlantis", "XX"])
def test_an_unknown_country_is_refused(admin_client, value):
    response = _put(admin_client, {"address_country": value})

    _validation_error(response, "address_country", f"Unknown country: {value}")
    assert _stored()["address_country"] == "DE"


@pytest.mark.parametrize("key", ["contact_email", "company_email"])
def test_emails_must_be_valid_or_empty(admin_client, key):
    refused = _put(admin_client, {key: "not-an-email"})
    accepted = _put(admin_client, {key: "billing@example.com"})
    assert _stored()[key] == "billing@example.com"
    cleared = _put(admin_client, {key: ""})

    _refused_with_key(refused, key)
    assert accepted.status_code == 200
    assert cleared.status_code == 200
    assert _stored()[key] == ""


@pytest.mark.parametrize("value", ["example.com", "ftp://example.com", "https://", "javascript:x"])
def test_website_url_must_be_an_http_url(admin_client, value):
    response = _put(admin_client, {"website_url": value})

    _refused_with_key(response, "website_url")
    assert _stored()["website_url"] == ""


@pytest.mark.parametrize("value", ["https://example.com", "http://example.com/about?x=1", ""])
def test_website_url_accepts_http_urls_or_empty(admin_client, value):
    response = _put(admin_client, {"website_url": value})

    assert response.status_code == 200, response.content
    assert _stored()["website_url"] == value


def test_text_limits_are_enforced(admin_client):
    response = _put(admin_client, {"company_name": "x" * 256})

    _refused_with_key(response, "company_name")
    assert _stored()["company_name"] == ""
    assert _put(admin_client, {"company_name": "x" * 255}).status_code == 200


def test_every_invalid_key_is_reported_at_once(admin_client):
    response = _put(
        admin_client,
        {
            "bank_iban": BAD_CHECKSUM_IBAN,
            "invoice_number_format": "INV-{year}",
            "payment_terms_days": 366,
            "company_name": "Not saved",
        },
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"] == {
        "bank_iban": ["Invalid IBAN"],
        "invoice_number_format": ["invoice_number_format must contain {year} and {sequence}"],
        "payment_terms_days": ["payment_terms_days must be an integer between 0 and 365"],
    }
    assert body["error"] in {messages[0] for messages in body["errors"].values()}
    assert _stored() == DEFAULTS


# --- audit -------------------------------------------------------------------------------------


def test_an_update_is_audited_with_only_the_changed_keys(admin_client, admin_user):
    response = _put(
        admin_client,
        {
            "company_name": "ACME GmbH",
            "payment_retry_days": [2, 4],
            "bank_iban": VALID_IBAN_PRINTED,
            "provider_name": "",  # unchanged
            "payment_terms_days": 14,  # unchanged
        },
    )

    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get(action="settings.updated")
    assert entry.before == {"company_name": "", "payment_retry_days": [1, 3, 5], "bank_iban": ""}
    assert entry.after == {
        "company_name": "ACME GmbH",
        "payment_retry_days": [2, 4],
        "bank_iban": VALID_IBAN,
    }
    assert entry.actor_id == admin_user.pk
    assert entry.actor_email == admin_user.email
    assert entry.actor_type == ActorType.STAFF


def test_each_update_writes_its_own_audit_entry(admin_client):
    _put(admin_client, {"company_name": "One"})
    _put(admin_client, {"company_name": "Two"})

    entries = AuditEntry.objects.filter(action="settings.updated")
    pairs = sorted(
        ((entry.before, entry.after) for entry in entries), key=lambda pair: pair[0]["company_name"]
    )
    assert pairs == [
        ({"company_name": ""}, {"company_name": "One"}),
        ({"company_name": "One"}, {"company_name": "Two"}),
    ]


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", SETTINGS), ("put", SETTINGS), ("get", PROFILE), ("put", PROFILE)],
)
def test_a_non_admin_gets_403(user_client, method, path):
    response = getattr(user_client, method)(path, {"company_name": "Hacked"}, format="json")

    assert response.status_code == 403
    assert response.json() == {"error": "Admin access required", "code": "permission_denied"}
    assert not PlatformSettings.objects.filter(company_name="Hacked").exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", SETTINGS), ("put", SETTINGS), ("get", PROFILE), ("put", PROFILE)],
)
def test_an_anonymous_caller_gets_401(api_client, method, path):
    response = getattr(api_client, method)(path, {"company_name": "Hacked"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not PlatformSettings.objects.filter(company_name="Hacked").exists()


# --- GET /settings/terms -----------------------------------------------------------------------


def test_terms_are_public_and_default_to_the_placeholder(api_client):
    response = api_client.get(TERMS)

    assert response.status_code == 200
    assert response.json() == {"title": "Terms and Conditions", "content": DEFAULT_TERMS_CONTENT}


def test_terms_reflect_an_update_at_once(api_client, admin_client):
    assert api_client.get(TERMS).json()["title"] == "Terms and Conditions"  # now cached

    response = _put(admin_client, {"terms_title": "AGB", "terms_content": "# AGB\n\n1. Pay."})

    assert response.status_code == 200
    assert api_client.get(TERMS).json() == {"title": "AGB", "content": "# AGB\n\n1. Pay."}


def test_terms_title_cannot_be_emptied(admin_client):
    response = _put(admin_client, {"terms_title": "  "})

    _refused_with_key(response, "terms_title")
    assert _stored()["terms_title"] == "Terms and Conditions"


# --- cached read -------------------------------------------------------------------------------


def test_a_cached_read_costs_no_query(django_assert_num_queries):
    first = platform_settings_get()

    with django_assert_num_queries(0):
        again = platform_settings_get()

    assert again.pk == first.pk == 1
    assert again.payment_retry_days == [1, 3, 5]


def test_a_read_after_an_update_sees_the_new_values(admin_client, django_assert_num_queries):
    platform_settings_get()
    _put(admin_client, {"company_name": "Fresh"})

    assert platform_settings_get().company_name == "Fresh"
    with django_assert_num_queries(0):
        assert platform_settings_get().company_name == "Fresh"


# --- GET/PUT /admin/profile --------------------------------------------------------------------

PROFILE_KEYS = {"id", "email", "name", "role", "roles", "is_active", "details"}


def test_profile_returns_the_staff_members_own_user(admin_client, admin_user):
    response = admin_client.get(PROFILE)

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["user"]
    user = body["user"]
    assert set(user) == PROFILE_KEYS
    assert user["id"] == str(admin_user.pk)
    assert user["email"] == admin_user.email
    assert user["name"] is None
    assert user["role"] == "ADMIN"
    assert user["roles"] == ["ADMIN"]
    assert user["is_active"] is True
    assert user["details"]["user_id"] == str(admin_user.pk)
    assert user["details"]["config"] == {}


def test_profile_update_sets_details_and_merges_config(admin_client, admin_user):
    first = admin_client.put(
        PROFILE,
        {"first_name": "Ada", "last_name": "Lovelace", "config": {"language": "de"}},
        format="json",
    )
    second = admin_client.put(
        PROFILE, {"country": "at", "config": {"theme": "dark"}}, format="json"
    )

    assert first.status_code == 200, first.content
    assert first.json()["message"] == "Profile updated"
    assert second.status_code == 200, second.content
    body = second.json()
    assert set(body) == {"user", "message"}
    assert body["message"] == "Profile updated"
    assert set(body["user"]) == PROFILE_KEYS
    assert body["user"]["name"] == "Ada Lovelace"
    details = body["user"]["details"]
    assert details["first_name"] == "Ada"
    assert details["last_name"] == "Lovelace"
    assert details["country"] == "AT"
    assert details["config"] == {"language": "de", "theme": "dark"}
    admin_user.details.refresh_from_db()
    assert admin_user.details.config == {"language": "de", "theme": "dark"}
    assert admin_client.get(PROFILE).json()["user"] == body["user"]


def test_profile_update_ignores_role_and_email(admin_client, admin_user):
    response = admin_client.put(
        PROFILE,
        {"role": "USER", "email": "other@example.com", "is_active": False, "city": "Berlin"},
        format="json",
    )

    assert response.status_code == 200, response.content
    admin_user.refresh_from_db()
    assert admin_user.role == "ADMIN"
    assert admin_user.email != "other@example.com"
    assert response.json()["user"]["details"]["city"] == "Berlin"


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ({"country": "XX"}, "country", "Unknown country code: XX"),
        ({"first_name": "x" * 101}, "first_name", "first_name must be at most 100 characters"),
        ({"config": "dark"}, "config", "config must be an object"),
    ],
)
def test_profile_update_validation_errors_are_400(admin_client, admin_user, data, key, message):
    response = admin_client.put(PROFILE, {"city": "Not saved", **data}, format="json")

    _validation_error(response, key, message)
    admin_user.details.refresh_from_db()
    assert admin_user.details.city is None


def test_profile_is_the_callers_own(admin_user):
    other = UserFactory(role="ADMIN", details={"first_name": "Grace"})
    client = APIClient()
    client.credentials(**bearer(other))

    response = client.get(PROFILE)

    assert response.json()["user"]["id"] == str(other.pk)
    assert response.json()["user"]["name"] == "Grace"

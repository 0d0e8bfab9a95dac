"""Admin API of the plugins and the back-office page."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory
from audit.models import AuditEntry
from plugins import services, state
from plugins.models import Plugin

pytestmark = pytest.mark.django_db

PLUGIN_KEYS = {
    "name",
    "version",
    "author",
    "description",
    "status",
    "enabled",
    "dependencies",
    "capabilities",
    "hasConfig",
    "enabled_at",
    "disabled_at",
}


def put(client, url, body):
    return client.put(url, data=json.dumps(body), content_type="application/json")


def test_list_shape(admin_client):
    services.plugin_enable(name="alpha")

    response = admin_client.get("/api/v1/admin/plugins")

    assert response.status_code == 200
    plugins = response.json()["plugins"]
    assert [plugin["name"] for plugin in plugins] == [
        "alpha",
        "analytics",
        "beta",
        "chat",
        "demo",
        "paypal",
        "stripe",
        "taro",
        "yookassa",
    ]
    alpha = plugins[0]
    assert set(alpha) == PLUGIN_KEYS
    assert (alpha["status"], alpha["enabled"], alpha["hasConfig"]) == ("active", True, True)
    assert alpha["capabilities"] == {
        "payment_gateway": False,
        "saved_payment_methods": False,
        "categories": ["alpha-tools"],
        "line_types": ["ALPHA_ITEM"],
        "has_urls": True,
    }
    assert alpha["enabled_at"].endswith("Z")
    beta = plugins[2]
    assert (beta["status"], beta["dependencies"], beta["hasConfig"]) == (
        "inactive",
        ["alpha"],
        False,
    )


def test_detail_never_returns_a_secret(admin_client):
    services.plugin_enable(name="alpha")
    services.plugin_enable(name="beta")
    services.plugin_configure(name="alpha", values={"api_key": "sk_secret_value", "mode": "live"})

    response = admin_client.get("/api/v1/admin/plugins/alpha")

    body = response.json()
    assert response.status_code == 200
    assert set(body) == PLUGIN_KEYS | {
        "dependents",
        "configSchema",
        "adminConfig",
        "savedConfig",
        "secretsSet",
        "error",
    }
    assert body["dependents"] == ["beta"]
    assert body["savedConfig"] == {"mode": "live", "retries": 3, "verbose": False}
    assert body["secretsSet"] == {"api_key": True}
    assert body["configSchema"]["api_key"] == {
        "type": "string",
        "default": None,
        "description": "Provider key",
        "secret": True,
    }
    assert body["configSchema"]["mode"]["enum"] == ["test", "live"]
    assert body["adminConfig"]["tabs"][0]["fields"][0] == {
        "key": "api_key",
        "label": "Api key",
        "component": "input",
        "inputType": "password",
    }
    assert body["error"] is None
    assert "sk_secret_value" not in response.content.decode()


def test_unknown_plugin_is_404(admin_client):
    for method, url in (
        ("get", "/api/v1/admin/plugins/nope"),
        ("post", "/api/v1/admin/plugins/nope/enable"),
        ("post", "/api/v1/admin/plugins/nope/disable"),
        ("put", "/api/v1/admin/plugins/nope/config"),
    ):
        if method == "get":
            response = admin_client.get(url)
        else:
            response = getattr(admin_client, method)(
                url, data="{}", content_type="application/json"
            )
        assert response.status_code == 404
        assert response.json() == {"error": "Plugin not found", "code": "not_found"}


def test_enable_and_disable_answers(admin_client):
    enabled = admin_client.post("/api/v1/admin/plugins/alpha/enable")
    again = admin_client.post("/api/v1/admin/plugins/alpha/enable")
    disabled = admin_client.post("/api/v1/admin/plugins/alpha/disable")

    assert enabled.status_code == 200
    assert enabled.json()["message"] == "Plugin alpha enabled"
    assert enabled.json()["status"] == "enabled"
    assert enabled.json()["plugin"]["enabled"] is True
    assert again.json()["message"] == "Plugin alpha enabled"
    assert disabled.json()["message"] == "Plugin alpha disabled"
    assert disabled.json()["status"] == "disabled"
    assert disabled.json()["plugin"]["status"] == "inactive"
    assert disabled.json()["plugin"]["disabled_at"] is not None
    entries = list(
        AuditEntry.objects.filter(object_type="plugin").values_list("action", "actor_id")
    )
    assert sorted(entries) == [
        ("plugin.disabled", admin_client.user.pk),
        ("plugin.enabled", admin_client.user.pk),
    ]


def test_dependency_errors(admin_client):
    refused = admin_client.post("/api/v1/admin/plugins/beta/enable")
    admin_client.post("/api/v1/admin/plugins/alpha/enable")
    admin_client.post("/api/v1/admin/plugins/beta/enable")
    blocked = admin_client.post("/api/v1/admin/plugins/alpha/disable")

    assert refused.status_code == 400
    assert refused.json() == {"error": "Dependency 'alpha' not enabled", "code": "business_rule"}
    assert blocked.status_code == 400
    assert blocked.json() == {
        "error": "Cannot disable: plugins [beta] depend on it",
        "code": "business_rule",
    }


def test_config_saves_and_reports_without_secrets(admin_client):
    response = put(
        admin_client,
        "/api/v1/admin/plugins/alpha/config",
        {"mode": "live", "api_key": "sk_write_only"},
    )

    assert response.status_code == 200
    assert response.json() == {
        "message": "Configuration saved",
        "config": {"mode": "live", "retries": 3, "verbose": False},
        "secretsSet": {"api_key": True},
    }
    assert state.config_value("alpha", "api_key") == "sk_write_only"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x": 1}, "Unknown configuration key: x"),
        ({"retries": "three"}, "retries must be an integer"),
        ({"mode": "staging"}, "mode must be one of test, live"),
    ],
)
def test_config_validation(admin_client, body, message):
    response = put(admin_client, "/api/v1/admin/plugins/alpha/config", body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["error"] == message
    assert not Plugin.objects.filter(name="alpha").exclude(config={}).exists()


# --- Django admin ---------------------------------------------------------------------------


@pytest.fixture
def staff_browser():
    staff = AdminFactory()
    browser = Client()
    assert browser.login(username=staff.email, password=DEFAULT_PASSWORD)
    browser.staff = staff
    return browser


def test_back_office_lists_every_installed_plugin(staff_browser):
    response = staff_browser.get("/admin/plugins/plugin/")

    assert response.status_code == 200
    assert response.context["cl"].result_count == 9
    assert set(Plugin.objects.values_list("name", flat=True)) == {
        "alpha",
        "analytics",
        "beta",
        "chat",
        "demo",
        "paypal",
        "stripe",
        "taro",
        "yookassa",
    }


def test_back_office_actions_change_the_same_row_and_audit(staff_browser):
    response = staff_browser.post(
        "/admin/plugins/plugin/",
        {"action": "enable_plugins", "_selected_action": ["alpha", "beta"]},
    )

    assert response.status_code == 302
    assert state.enabled_names() == {"alpha", "beta"}
    assert (
        AuditEntry.objects.filter(action="plugin.enabled", actor_id=staff_browser.staff.pk).count()
        == 2
    )
    staff_browser.post(
        "/admin/plugins/plugin/", {"action": "disable_plugins", "_selected_action": ["alpha"]}
    )
    assert state.is_enabled("alpha") is True  # beta depends on it: refused with a message


def test_back_office_config_form_is_write_only_for_secrets(staff_browser):
    services.plugin_configure(name="alpha", values={"api_key": "sk_never_shown"})
    url = "/admin/plugins/plugin/alpha/change/"

    page = staff_browser.get(url)
    saved = staff_browser.post(
        url, {"mode": "live", "retries": "4", "verbose": "on", "api_key": "", "_save": "Save"}
    )
    replaced = staff_browser.post(
        url, {"mode": "live", "retries": "4", "verbose": "on", "api_key": "sk_new", "_save": "Save"}
    )
    cleared = staff_browser.post(
        url,
        {"mode": "live", "retries": "4", "verbose": "on", "api_key__clear": "on", "_save": "Save"},
    )

    assert page.status_code == 200
    assert b"sk_never_shown" not in page.content
    assert b"api_key: set" in page.content
    assert saved.status_code == replaced.status_code == cleared.status_code == 302
    assert state.saved_config("alpha") == {"mode": "live", "retries": 4, "verbose": True}
    assert state.config_value("alpha", "api_key") is None
    changes = [
        entry.after
        for entry in AuditEntry.objects.filter(action="plugin.configured").order_by("created_at")
    ]
    assert changes[-2:] == [{"api_key": "(secret changed)"}, {"api_key": "(secret changed)"}]

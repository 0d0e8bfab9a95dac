"""The plugin framework: state, services, secrets, PluginSignal, URL mounting, the command."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.jwt import issue_pair
from accounts.tests.factories import AdminFactory, UserFactory
from audit.models import AuditEntry
from plugins import crypto, registry, services, state
from plugins.models import Plugin
from plugins.signals import plugin_disabling, plugin_enabling
from plugins.tests.fixtures.alpha import receivers as alpha_receivers
from vbwd.exceptions import BusinessRuleError, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_alpha_calls():
    alpha_receivers.calls.clear()
    yield
    alpha_receivers.calls.clear()


# --- registry and state ---------------------------------------------------------------------


def test_the_registry_lists_installed_plugins_by_name():
    assert list(registry.installed()) == [
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
    assert registry.get("alpha").version == "2.0.0"
    with pytest.raises(NotFound, match="Plugin not found"):
        registry.get("acmepay")


def test_a_plugin_without_a_row_is_disabled():
    assert not Plugin.objects.filter(name="alpha").exists()
    assert state.is_enabled("alpha") is False
    assert state.is_enabled("not-installed") is False


def test_checking_the_enabled_state_costs_no_query_after_the_first(django_assert_num_queries):
    services.plugin_enable(name="alpha")
    state.is_enabled("alpha")

    with django_assert_num_queries(0):
        for _ in range(50):
            assert state.is_enabled("alpha") is True
            assert state.is_enabled("demo") is False


def test_an_enabled_row_of_an_uninstalled_plugin_is_ignored():
    Plugin.objects.create(name="ghost", enabled=True)
    state.forget()

    assert state.is_enabled("ghost") is False
    assert "ghost" not in state.enabled_names()


# --- enable / disable -----------------------------------------------------------------------


def test_enable_writes_the_row_and_an_audit_entry():
    staff = AdminFactory()

    services.plugin_enable(name="alpha", actor=staff)

    row = Plugin.objects.get(name="alpha")
    assert row.enabled is True
    assert row.enabled_at is not None
    entry = AuditEntry.objects.get(action="plugin.enabled")
    assert (entry.object_type, entry.object_id, entry.actor_id) == ("plugin", "alpha", staff.pk)
    assert (entry.before, entry.after) == ({"enabled": False}, {"enabled": True})
    assert state.is_enabled("alpha") is True


def test_enabling_twice_is_a_no_op():
    services.plugin_enable(name="alpha")
    first_time = Plugin.objects.get(name="alpha").enabled_at

    services.plugin_enable(name="alpha")

    assert Plugin.objects.get(name="alpha").enabled_at == first_time
    assert AuditEntry.objects.filter(action="plugin.enabled").count() == 1


def test_a_dependency_must_be_enabled_first():
    with pytest.raises(BusinessRuleError, match="Dependency 'alpha' not enabled"):
        services.plugin_enable(name="beta")
    assert state.is_enabled("beta") is False

    services.plugin_enable(name="alpha")
    services.plugin_enable(name="beta")
    assert state.is_enabled("beta") is True


def test_a_plugin_others_depend_on_cannot_be_disabled():
    services.plugin_enable(name="alpha")
    services.plugin_enable(name="beta")

    with pytest.raises(BusinessRuleError, match=r"Cannot disable: plugins \[beta\] depend on it"):
        services.plugin_disable(name="alpha")
    assert state.is_enabled("alpha") is True

    services.plugin_disable(name="beta")
    services.plugin_disable(name="alpha")
    assert state.enabled_names() == set()
    assert AuditEntry.objects.filter(action="plugin.disabled").count() == 2


def test_enabling_hands_the_plugins_categories_to_the_catalog_hook():
    received = []

    def catalog(sender, plugin, actor, **kwargs):
        received.append([category.slug for category in plugin.capabilities.categories])

    plugin_enabling.connect(catalog, dispatch_uid="test-catalog")
    try:
        services.plugin_enable(name="alpha")
        services.plugin_enable(name="alpha")
    finally:
        plugin_enabling.disconnect(dispatch_uid="test-catalog")

    assert received == [["alpha-tools"]]


def test_a_disabling_hook_can_refuse_and_nothing_changes():
    services.plugin_enable(name="alpha")

    def refuse(sender, plugin, actor, **kwargs):
        raise BusinessRuleError("Cannot disable the plugin of the default payment method")

    plugin_disabling.connect(refuse, dispatch_uid="test-refuse")
    try:
        with pytest.raises(BusinessRuleError, match="default payment method"):
            services.plugin_disable(name="alpha")
    finally:
        plugin_disabling.disconnect(dispatch_uid="test-refuse")

    assert Plugin.objects.get(name="alpha").enabled is True
    assert not AuditEntry.objects.filter(action="plugin.disabled").exists()


# --- configuration and secrets --------------------------------------------------------------


def test_configuration_is_validated_against_the_schema():
    with pytest.raises(ValidationFailed, match="Unknown configuration key: colour"):
        services.plugin_configure(name="alpha", values={"colour": "red"})
    with pytest.raises(ValidationFailed, match="retries must be an integer"):
        services.plugin_configure(name="alpha", values={"retries": "3"})
    with pytest.raises(ValidationFailed, match="verbose must be a boolean"):
        services.plugin_configure(name="alpha", values={"verbose": 1})
    with pytest.raises(ValidationFailed, match="mode must be one of test, live"):
        services.plugin_configure(name="alpha", values={"mode": "prod"})
    with pytest.raises(ValidationFailed, match="api_key must be a string"):
        services.plugin_configure(name="alpha", values={"api_key": 42})
    assert not AuditEntry.objects.filter(action="plugin.configured").exists()


def test_non_secret_values_replace_and_null_restores_the_default():
    services.plugin_configure(name="alpha", values={"mode": "live", "retries": 5})
    services.plugin_configure(name="alpha", values={"retries": None})

    assert state.saved_config("alpha") == {"mode": "live", "retries": 3, "verbose": False}


def test_secrets_are_stored_encrypted_and_never_in_plain_text():
    services.plugin_configure(name="alpha", values={"api_key": "sk_live_very_secret"})

    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets, config FROM plugins_plugin WHERE name = %s", ["alpha"])
        raw_secrets, raw_config = cursor.fetchone()
    assert "sk_live_very_secret" not in raw_secrets
    assert "sk_live_very_secret" not in str(raw_config)
    assert crypto.decrypt(raw_secrets) == {"api_key": "sk_live_very_secret"}
    assert state.config_value("alpha", "api_key") == "sk_live_very_secret"
    assert state.secrets_set("alpha") == {"api_key": True}
    assert "api_key" not in state.saved_config("alpha")
    entry = AuditEntry.objects.get(action="plugin.configured")
    assert "sk_live_very_secret" not in json.dumps(entry.after)
    assert entry.after == {"api_key": "(secret changed)"}


def test_an_empty_secret_keeps_and_null_removes_the_stored_value():
    services.plugin_configure(name="alpha", values={"api_key": "first"})

    services.plugin_configure(name="alpha", values={"api_key": ""})
    kept = state.config_value("alpha", "api_key")
    services.plugin_configure(name="alpha", values={"api_key": None})

    assert kept == "first"
    assert state.config_value("alpha", "api_key") is None
    assert state.secrets_set("alpha") == {"api_key": False}


def test_environment_values_take_precedence(monkeypatch):
    services.plugin_configure(name="alpha", values={"api_key": "stored", "retries": 4})
    monkeypatch.setenv("VBWD_PLUGIN_ALPHA_API_KEY", "from-env")
    monkeypatch.setenv("VBWD_PLUGIN_ALPHA_RETRIES", "9")

    assert state.config_value("alpha", "api_key") == "from-env"
    assert state.config_value("alpha", "retries") == 9
    services.plugin_configure(name="alpha", values={"api_key": None})
    assert state.config_value("alpha", "api_key") == "from-env"
    assert state.secrets_set("alpha") == {"api_key": True}


def test_secrets_under_another_key_read_as_unset(settings):
    services.plugin_configure(name="alpha", values={"api_key": "first"})
    settings.VBWD_SECRETS_KEY = "a-rotated-key"

    assert state.config_value("alpha", "api_key") is None


# --- PluginSignal ---------------------------------------------------------------------------


def _register(email: str) -> None:
    account_services.user_register(email=email, password="Str0ng!pass")


def test_receivers_of_a_disabled_plugin_are_skipped(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _register("before@example.com")
    services.plugin_enable(name="alpha")
    with django_capture_on_commit_callbacks(execute=True):
        _register("during@example.com")
    services.plugin_disable(name="alpha")
    with django_capture_on_commit_callbacks(execute=True):
        _register("after@example.com")

    assert alpha_receivers.calls == ["during@example.com"]


def test_core_receivers_always_run():
    from accounts.signals import user_registered

    calls = []

    def core_receiver(sender, user, **kwargs):
        calls.append(user.email)

    user_registered.connect(core_receiver, dispatch_uid="test-core")
    try:
        user_registered.send(sender=None, user=UserFactory(email="core@example.com"))
    finally:
        user_registered.disconnect(dispatch_uid="test-core")

    assert calls == ["core@example.com"]


# --- URL mounting ---------------------------------------------------------------------------


def test_a_disabled_plugins_routes_answer_404_before_authentication():
    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")
    expected = {"error": "Plugin 'alpha' is not enabled", "code": "not_found"}

    anonymous = APIClient().get("/api/v1/plugins/alpha/whoami")
    authenticated = client.get("/api/v1/plugins/alpha/whoami/")
    posted = APIClient().post("/api/v1/plugins/alpha/whoami", {}, format="json")
    unknown_sub_route = APIClient().get("/api/v1/plugins/alpha/nothing-here")

    for response in (anonymous, authenticated, posted, unknown_sub_route):
        assert response.status_code == 404
        assert response.json() == expected


def test_enabling_restores_the_routes_with_their_own_auth():
    user = UserFactory()
    services.plugin_enable(name="alpha")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")

    assert client.get("/api/v1/plugins/alpha/whoami").json() == {"email": user.email}
    assert APIClient().get("/api/v1/plugins/alpha/whoami").status_code == 401
    assert APIClient().get("/api/v1/plugins/alpha/nothing-here").json() == {
        "error": "Not found",
        "code": "not_found",
    }


def test_routes_a_plugin_mounts_at_the_api_root_are_guarded_the_same_way():
    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")

    disabled = [
        APIClient().get("/api/v1/alpha-tools/whoami"),
        client.get("/api/v1/alpha-tools/whoami/"),
    ]
    services.plugin_enable(name="alpha")
    enabled = client.get("/api/v1/alpha-tools/whoami")
    anonymous = APIClient().get("/api/v1/alpha-tools/whoami")

    for response in disabled:
        assert response.status_code == 404
        assert response.json() == {"error": "Plugin 'alpha' is not enabled", "code": "not_found"}
    assert enabled.json() == {"email": user.email}
    assert anonymous.status_code == 401


def test_an_uninstalled_plugin_name_answers_not_enabled():
    response = APIClient().get("/api/v1/plugins/stripe/create-session")

    assert response.status_code == 404
    assert response.json() == {"error": "Plugin 'stripe' is not enabled", "code": "not_found"}


def test_the_demo_plugin_greets_with_its_configured_text():
    assert APIClient().get("/api/v1/plugins/demo/").status_code == 404
    services.plugin_enable(name="demo")

    default = APIClient().get("/api/v1/plugins/demo/")
    services.plugin_configure(name="demo", values={"greeting": "Guten Tag"})
    configured = APIClient().get("/api/v1/plugins/demo", HTTP_AUTHORIZATION="Bearer junk")

    assert default.json() == {"success": True, "greeting": "Hello from the VBWD demo plugin"}
    assert configured.json() == {"success": True, "greeting": "Guten Tag"}


# --- manage.py plugins ----------------------------------------------------------------------


def test_the_command_lists_enables_configures_and_disables(capsys):
    call_command("plugins", "enable", "alpha")
    call_command("plugins", "config", "alpha", "mode=live", "retries=7", "api_key=abc123")
    call_command("plugins", "list")
    listing = capsys.readouterr().out
    call_command("plugins", "info", "alpha")
    info = json.loads(capsys.readouterr().out)
    call_command("plugins", "disable", "alpha")

    assert "alpha      2.0.0     active" in listing
    assert "beta       0.1.0     inactive" in listing
    assert info["savedConfig"] == {"mode": "live", "retries": 7, "verbose": False}
    assert info["secretsSet"] == {"api_key": True}
    assert "abc123" not in json.dumps(info)
    assert state.is_enabled("alpha") is False
    assert AuditEntry.objects.filter(object_id="alpha").count() == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("enable", "nope"), "Plugin not found"),
        (("enable", "beta"), "Dependency 'alpha' not enabled"),
        (("config", "alpha", "colour=red"), "Unknown configuration key: colour"),
        (("config", "alpha", "retries=many"), "retries"),
        (("config", "alpha", "justakey"), "Expected KEY=VALUE"),
    ],
)
def test_the_command_fails_with_a_readable_error(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("plugins", *arguments)


def test_a_plugin_name_is_not_a_prefix_of_longer_names():
    services.plugin_enable(name="alpha")

    response = APIClient().get("/api/v1/plugins/alphawhoami")

    assert response.status_code == 404
    assert response.json() == {"error": "Plugin 'alphawhoami' is not enabled", "code": "not_found"}

"""Production settings refuse insecure defaults; the service endpoints and seed_demo work."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import User, UserRole, UserStatus

ROOT = Path(__file__).resolve().parent.parent
SECURE_ENV = {
    "VBWD_ENV": "production",
    "SECRET_KEY": "s" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
    "VBWD_JWT_SIGNING_KEY": "j" * 20 + "-production-jwt-signing-key-0123456789",
    "DJANGO_ALLOWED_HOSTS": "billing.example.com",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VBWD_", "DJANGO_")) and key not in {"SECRET_KEY"}
    }
    environment.update(DJANGO_SETTINGS_MODULE="vbwd.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set"),
        ("VBWD_JWT_SIGNING_KEY", "VBWD_JWT_SIGNING_KEY must be set"),
    ],
)
def test_production_refuses_to_start_with_a_default_key(missing, message):
    env = {key: value for key, value in SECURE_ENV.items() if key != missing}

    result = _manage("check", **env)

    assert result.returncode != 0
    assert message in result.stderr


def test_production_refuses_the_jwt_key_falling_back_to_the_secret_key():
    result = _manage("check", **{**SECURE_ENV, "VBWD_JWT_SIGNING_KEY": SECURE_ENV["SECRET_KEY"]})

    assert result.returncode != 0
    assert "VBWD_JWT_SIGNING_KEY must differ from SECRET_KEY" in result.stderr


def test_deploy_check_passes_in_production_mode(tmp_path, monkeypatch):
    # A database not migrated yet: the seller-details check has nothing to read and stays quiet.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        VBWD_SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        **SECURE_ENV,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_boolean_setting_is_refused_by_name():
    result = _manage("check", VBWD_RATE_LIMIT_ENABLED="perhaps")

    assert result.returncode != 0
    assert "VBWD_RATE_LIMIT_ENABLED must be a boolean" in result.stderr


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    call_command("seed_demo")
    call_command("seed_demo")

    admin = User.objects.get(email="admin@example.com")
    user = User.objects.get(email="test@example.com")
    assert User.objects.count() == 2
    assert (admin.role, admin.is_superuser, admin.is_staff) == (UserRole.ADMIN, True, True)
    assert admin.check_password("AdminPass123@")
    assert (user.role, user.status) == (UserRole.USER, UserStatus.ACTIVE)
    assert user.check_password("TestPass123@")
    assert user.details.country == "DE"


@pytest.mark.django_db
def test_seed_demo_leaves_exactly_one_copy_of_the_demo_catalog():
    from billing.catalog.models import AddOn, Category, PaymentMethod, Plan, TaxRate
    from plugins.state import is_enabled
    from tokens.models import TokenBundle

    call_command("seed_demo")
    call_command("seed_demo")

    plans = {plan.slug: plan for plan in Plan.objects.all()}
    assert sorted(plans) == ["basic", "enterprise", "pro"]
    assert [str(plans[slug].price) for slug in ("basic", "pro", "enterprise")] == [
        "9.9900",
        "29.9900",
        "99.9900",
    ]
    assert [plans[slug].features["default_tokens"] for slug in ("basic", "pro", "enterprise")] == [
        100,
        500,
        2000,
    ]
    assert (plans["pro"].trial_days, plans["basic"].trial_days) == (14, 0)
    assert {plan.currency for plan in plans.values()} == {"EUR"}
    main = Category.objects.get(slug="main")
    assert main.is_single is True
    assert sorted(main.plans.values_list("slug", flat=True)) == ["basic", "enterprise", "pro"]
    assert sorted(AddOn.objects.values_list("name", "price")) == [
        ("Premium Analytics", Decimal("25.0000")),
        ("Priority Support", Decimal("15.0000")),
    ]
    assert not AddOn.objects.filter(plans__isnull=False).exists()
    assert sorted(TokenBundle.objects.values_list("token_amount", "price")) == [
        (500, Decimal("5.0000")),
        (1000, Decimal("10.0000")),
        (5000, Decimal("45.0000")),
    ]
    assert sorted(TaxRate.objects.values_list("country_code", "rate")) == [
        ("AT", Decimal("20.00")),
        ("DE", Decimal("19.00")),
    ]
    assert list(PaymentMethod.objects.values_list("code", "is_default")) == [("invoice", True)]
    assert is_enabled("demo") is True
    assert is_enabled("analytics") is True


@pytest.mark.django_db
def test_seed_demo_leaves_a_demo_plugin_that_staff_disabled_disabled(capsys):
    from plugins.services import plugin_disable
    from plugins.state import is_enabled

    call_command("seed_demo")
    first = capsys.readouterr().out
    plugin_disable(name="analytics")
    call_command("seed_demo")
    second = capsys.readouterr().out

    assert "analytics plugin enabled: GET /api/v1/admin/analytics/dashboard (staff)" in first
    assert "demo plugin enabled: GET /api/v1/plugins/demo/" in first
    assert "plugin enabled" not in second
    assert (is_enabled("demo"), is_enabled("analytics")) == (True, False)


@pytest.mark.django_db
def test_banner_and_languages():
    banner = APIClient().get("/")
    languages = APIClient().get("/api/v1/config/languages")

    assert banner.json() == {"message": "VBWD API", "version": "1.0.0", "health": "/api/v1/health"}
    assert [language["code"] for language in languages.json()["languages"]] == [
        "en",
        "de",
        "ru",
        "th",
        "zh",
        "es",
        "fr",
        "ja",
    ]
    assert languages.json()["default"] == "en"


@pytest.mark.django_db
def test_terms_come_from_the_platform_settings():
    from platform_settings.selectors import platform_settings_get
    from platform_settings.services import platform_settings_update

    platform_settings_get()  # cached with the defaults
    platform_settings_update(data={"terms_title": "AGB", "terms_content": "# Terms"}, actor=None)

    response = APIClient().get("/api/v1/settings/terms", HTTP_AUTHORIZATION="Bearer broken")

    assert response.json() == {"title": "AGB", "content": "# Terms"}


@pytest.mark.django_db
def test_health_reports_each_check():
    response = APIClient().get("/api/v1/health", HTTP_AUTHORIZATION="Bearer expired")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "service": "vbwd-api",
        "version": "1.0.0",
        "checks": {"database": "ok", "cache": "ok"},
    }


@pytest.mark.django_db
def test_health_is_503_when_the_cache_is_down(monkeypatch):
    def broken_set(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr("vbwd.views.cache.set", broken_set)

    response = APIClient().get("/api/v1/health")

    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "service": "vbwd-api",
        "version": "1.0.0",
        "checks": {"database": "ok", "cache": "error"},
        "error": "Service unavailable",
        "code": "service_unavailable",
    }


@pytest.mark.django_db
def test_health_is_503_when_the_database_is_down(monkeypatch):
    class BrokenConnection:
        vendor = "postgresql"

        def cursor(self):
            raise OSError("connection refused")

    monkeypatch.setattr("vbwd.catalog_cache.connections", {"default": BrokenConnection()})

    response = APIClient().get("/api/v1/health")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "error", "cache": "ok"}


@pytest.mark.django_db
def test_no_cors_headers_by_default():
    response = APIClient().get("/api/v1/health", HTTP_ORIGIN="https://app.example.com")

    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.django_db
def test_configured_cors_origins_are_allowed_with_the_documented_headers(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    preflight = APIClient().options(
        "/api/v1/auth/login",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="idempotency-key",
    )
    simple = APIClient().get("/api/v1/health", HTTP_ORIGIN="https://app.example.com")
    stranger = APIClient().get("/api/v1/health", HTTP_ORIGIN="https://evil.example.com")

    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "idempotency-key" in preflight.headers["Access-Control-Allow-Headers"]
    assert simple.headers["Access-Control-Expose-Headers"] == (
        "Retry-After, Idempotent-Replayed, X-Request-ID, Content-Disposition"
    )
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_describe_stack_names_database_cache_and_broker_without_passwords(settings):
    from io import StringIO

    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://:hunter2@cache.internal:6380/3",
        }
    }
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "amqp://billing:hunter2@mq.internal:5672//"
    out = StringIO()

    call_command("describe_stack", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].strip().startswith("Database: ")
    assert lines[1].strip() == "Cache:    Redis at redis://:***@cache.internal:6380/3"
    assert lines[2].strip() == (
        "Broker:   amqp://billing:***@mq.internal:5672// (run a Celery worker and beat)"
    )
    assert "hunter2" not in out.getvalue()


def test_describe_stack_on_the_embedded_default(settings):
    from io import StringIO

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    out = StringIO()

    call_command("describe_stack", stdout=out)

    assert "Cache:    in-process memory" in out.getvalue()
    assert "Broker:   none: background tasks run inside the process that queues them" in (
        out.getvalue()
    )


def test_make_run_on_a_busy_port_stops_at_once_and_names_port():
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        result = subprocess.run(
            ["make", "--no-print-directory", "port-free", f"PORT={port}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    finally:
        busy.close()

    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use. Pick another one: make run PORT=5001" in (
        result.stderr
    )


def test_make_run_goes_on_when_the_port_is_free():
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()

    result = subprocess.run(
        ["make", "--no-print-directory", "port-free", f"PORT={port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def _cookie_settings(**env: str) -> list[str]:
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS)",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split()


def test_production_cookies_are_https_only_by_default():
    assert _cookie_settings(**SECURE_ENV) == ["True", "True", "True", "31536000"]


def test_a_plain_http_trial_keeps_cookies_usable_and_the_deploy_check_says_so():
    env = {**SECURE_ENV, "VBWD_HTTPS": "0"}

    assert _cookie_settings(**env) == ["False", "False", "False", "0"]
    result = _manage("check", "--deploy", **env)
    assert "security.W012" in result.stderr  # SESSION_COOKIE_SECURE
    assert "security.W008" in result.stderr  # SECURE_SSL_REDIRECT


def _variables_read_by_settings() -> set[str]:
    import re

    source = (ROOT / "vbwd" / "settings.py").read_text()
    return set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"', source))


def test_every_variable_the_settings_read_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()

    undocumented = sorted(
        name for name in _variables_read_by_settings() if f"`{name}`" not in readme
    )

    assert undocumented == []


def test_env_example_names_only_variables_the_stack_reads():
    import re

    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))

    assert {"SECRET_KEY", "VBWD_JWT_SIGNING_KEY", "DJANGO_ALLOWED_HOSTS", "VBWD_HTTPS"} <= named
    assert sorted(named - _variables_read_by_settings()) == []

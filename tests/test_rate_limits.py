"""Rate limits: fixed windows in the shared cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from vbwd.throttling import hit, parse_rate

LOGIN = "/api/v1/auth/login"
ROOT = Path(__file__).resolve().parent.parent


def _login(email="nobody@example.com", ip="198.51.100.7", **extra):
    return APIClient().post(
        LOGIN,
        data=json.dumps({"email": email, "password": "Wrong!pass1"}),
        content_type="application/json",
        REMOTE_ADDR=ip,
        **extra,
    )


@pytest.mark.django_db
def test_the_eleventh_login_in_a_minute_from_one_ip_is_429():
    with time_machine.travel("2026-11-26 10:00:05", tick=False):
        statuses = [_login(email=f"user{n}@example.com").status_code for n in range(10)]
        response = _login(email="user10@example.com")

    assert statuses == [401] * 10
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "55"
    assert response.json() == {
        "success": False,
        "error": "Rate limit exceeded. Try again in 55 seconds.",
        "code": "rate_limited",
        "retry_after": 55,
    }


@pytest.mark.django_db
def test_a_new_window_starts_after_the_minute():
    with time_machine.travel("2026-11-26 10:00:05", tick=False):
        for _ in range(11):
            _login()
    with time_machine.travel("2026-11-26 10:01:01", tick=False):
        assert _login().status_code == 401


@pytest.mark.django_db
def test_login_is_also_limited_per_email_across_ips():
    with time_machine.travel("2026-11-26 10:00:00", tick=False):
        for n in range(10):
            assert _login(email="Target@Example.com", ip=f"192.0.2.{n}").status_code == 401
        blocked = _login(email="target@example.com ", ip="192.0.2.200")
        other_email = _login(email="someone@example.com", ip="192.0.2.201")

    assert blocked.status_code == 429
    assert other_email.status_code == 401


@pytest.mark.django_db
def test_limits_can_be_switched_off(settings):
    settings.VBWD_RATE_LIMIT_ENABLED = False

    statuses = {_login().status_code for _ in range(15)}

    assert statuses == {401}


@pytest.mark.django_db
def test_limits_are_configurable(settings):
    settings.VBWD_RATE_LIMITS = {"register_ip": "2/minute"}
    body = {"email": "bad", "password": "x"}

    with time_machine.travel("2026-11-26 10:00:00", tick=False):
        statuses = [
            APIClient().post("/api/v1/auth/register", body, format="json").status_code
            for _ in range(3)
        ]

    assert statuses == [400, 400, 429]


@pytest.mark.django_db
def test_the_client_ip_comes_from_x_forwarded_for_behind_trusted_proxies(settings):
    settings.VBWD_TRUSTED_PROXY_COUNT = 1
    with time_machine.travel("2026-11-26 10:00:00", tick=False):
        for _ in range(10):
            _login(ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
        same_client = _login(ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
        other_client = _login(
            ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5, 203.0.113.6", email="x@example.com"
        )

    assert same_client.status_code == 429
    assert other_client.status_code == 401


@pytest.mark.django_db
def test_health_is_exempt():
    statuses = {
        APIClient().get("/api/v1/health", REMOTE_ADDR="198.51.100.9").status_code
        for _ in range(350)
    }

    assert statuses == {200}


@pytest.mark.django_db
def test_authenticated_requests_are_counted_per_user(settings):
    settings.VBWD_RATE_LIMITS = {"authenticated": "3/minute"}
    user = UserFactory()
    from accounts.jwt import issue_pair

    with time_machine.travel("2026-11-26 10:00:00", tick=False):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")
        other = APIClient()
        other.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(UserFactory())['token']}")
        statuses = [client.get("/api/v1/user/profile").status_code for _ in range(4)]
        other_status = other.get("/api/v1/user/profile").status_code

    assert statuses == [200, 200, 200, 429]
    assert other_status == 200


@pytest.mark.django_db
def test_a_counter_is_one_cache_integer_per_window_that_expires_after_it():
    user = UserFactory()
    from accounts.jwt import issue_pair

    with time_machine.travel("2026-11-26 10:00:30", tick=False):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")
        window = int(time.time() // 60)
        for _ in range(3):
            assert client.get("/api/v1/user/profile").status_code == 200
        key = f"rl:authenticated:user:{user.pk}:{window}"

        assert cache.get(key) == 3
        assert hit("authenticated", f"user:{user.pk}") is None
        assert cache.get(key) == 4
        if hasattr(cache, "ttl"):  # Redis: created with the window's length plus a second
            assert 0 < cache.ttl(key) <= 61


@pytest.mark.django_db
def test_the_counter_of_an_expired_window_starts_again_at_one():
    with time_machine.travel("2026-11-26 10:00:30", tick=False):
        window = int(time.time() // 60)
        key = f"rl:login_ip:198.51.100.9:{window}"
        cache.set(key, 10, timeout=61)
        assert hit("login_ip", "198.51.100.9") == 30  # the eleventh: 30 s left in the window
        cache.delete(key)  # expired

        assert hit("login_ip", "198.51.100.9") is None
        assert cache.get(key) == 1


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("10/minute", (10, 60)),
        ("5/hour", (5, 3600)),
        ("100/day", (100, 86400)),
        ("3/5minute", (3, 300)),
    ],
)
def test_parse_rate(rate, expected):
    assert parse_rate(rate) == expected


SUBPROCESS_LOGINS = """
import json, django, time_machine
django.setup()
from django.test import Client
statuses = []
with time_machine.travel("2026-11-26 10:00:01", tick=False):
    for _ in range(6):
        response = Client().post(
            "/api/v1/auth/login",
            data=json.dumps({"email": "nobody@example.com", "password": "Wrong!pass1"}),
            content_type="application/json",
            REMOTE_ADDR="198.51.100.77",
        )
        statuses.append(response.status_code)
print(json.dumps(statuses))
"""


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_processes_share_the_counters_in_redis():
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vbwd.test_settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
    }
    # Both processes travel into the same fixed window (the other process at 10:00:01).
    with time_machine.travel("2026-11-26 10:00:02", tick=False):
        result = subprocess.run(
            [sys.executable, "-c", SUBPROCESS_LOGINS],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        other_process = json.loads(result.stdout.strip().splitlines()[-1])
        here = [_login(ip="198.51.100.77").status_code for _ in range(5)]

    assert other_process == [401] * 6
    assert here == [401, 401, 401, 401, 429]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/schema/?format=json"),
        ("get", "/api/v1/no-such-route"),
        ("options", "/api/v1/config/languages"),
    ],
)
def test_docs_unknown_routes_and_options_count_too(settings, method, path):
    settings.VBWD_RATE_LIMITS = {"anonymous": "3/minute"}

    with time_machine.travel("2026-11-26 10:00:00", tick=False):
        statuses = [
            getattr(APIClient(), method)(path, REMOTE_ADDR="198.51.100.50").status_code
            for _ in range(4)
        ]

    assert statuses[3] == 429
    assert statuses[:3] != [429, 429, 429]


class _BrokenCache:
    def add(self, *args, **kwargs):
        raise ConnectionError("redis is down")

    incr = add


@pytest.mark.django_db
def test_when_the_counters_are_down_ordinary_requests_pass(monkeypatch):
    monkeypatch.setattr("vbwd.throttling.cache", _BrokenCache())

    response = APIClient().get("/api/v1/config/languages")

    assert response.status_code == 200


@pytest.mark.django_db
def test_when_the_counters_are_down_login_fails_closed_with_503(monkeypatch):
    monkeypatch.setattr("vbwd.throttling.cache", _BrokenCache())

    response = _login()

    assert response.status_code == 503
    assert response.json() == {
        "success": False,
        "error": "Service unavailable",
        "code": "service_unavailable",
    }

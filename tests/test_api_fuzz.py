"""Schemathesis against the live OpenAPI document, as a customer and as an admin.

Every operation of the schema is called with generated requests (examples, the coverage of
each constraint's edges, random fuzzing, chains of operations), with every check Schemathesis
has: no 5xx, every status, content type, header and body as documented, schema-invalid input
refused, schema-valid input not refused for a reason the schema could state, a missing token
answered 401, an undocumented method answered 405. ``tests/schemathesis.toml`` lists the few
answers the schema cannot express and why.

The server is gunicorn, as deployed, serving this test's freshly seeded database; each role runs
on its own database, so the admin run may delete what it likes. Rate limits are off (they are
tested on their own) so the requests reach the views. The seed and the number of examples per
operation are fixed, so a run is repeatable and bounded. The number of requests served is read
from gunicorn's access log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import pytest
from django.conf import settings
from django.core.management import call_command

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261207
MAX_EXAMPLES = 4
TIMEOUT_SECONDS = 600
# The admin calls every operation (an admin is also a customer of its own account). A customer
# calls every operation but the staff ones, which only answer it 403: tests/test_access_matrix.py
# proves that for every staff route and method.
# A customer is not sent to staff routes: those under /admin/ and a plugin's own /…/admin/.
SCOPE = {"customer": ["--exclude-path-regex", "/admin/"], "admin": []}
LOGINS = {
    "customer": ("test@example.com", "TestPass123@"),
    "admin": ("admin@example.com", "AdminPass123@"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url() -> str:
    database = settings.DATABASES["default"]
    user = database.get("USER") or "postgres"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{database['NAME']}"


@contextmanager
def _gunicorn(access_log: Path):
    """gunicorn with two workers on a free port, serving the test database."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "vbwd.test_settings",
        "DJANGO_DEBUG": "0",
        "VBWD_RATE_LIMIT_ENABLED": "0",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "vbwd.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(access_log),
            "--log-level",
            "warning",
            # A machine busy with other test workers can slow one request down a lot; that is
            # not what this test measures.
            "--timeout",
            "300",
            # The longest query strings the schema allows (a coupon preview's id lists, every
            # character percent-encoded) pass gunicorn's default request-line limit; its 414 is
            # the HTTP server's answer, not the API's, so the limit is lifted here.
            "--limit-request-line",
            "0",
        ],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urlopen(f"{base_url}/api/v1/health", timeout=30):
                    break
            except (URLError, OSError):  # refused while starting, or slow on a busy machine
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {server.stderr.read()}") from None
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _operations(client) -> list[str]:
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    return [
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    ]


def _token(client, role: str) -> str:
    email, password = LOGINS[role]
    response = client.post(
        "/api/v1/auth/login",
        {"email": email, "password": password},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _run_schemathesis(
    base_url: str, token: str, report: Path, extra: list[str]
) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/api/v1/schema/?format=json",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        "--request-timeout",
        "120",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        *extra,
    ]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""}
    # Run from the report's folder: Schemathesis keeps its cache beside where it runs.
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        env=env,
        cwd=report.parent,
        check=False,
    )


@pytest.mark.parametrize("role", ["customer", "admin"])
def test_every_operation_answers_as_documented(role, client, settings, tmp_path):
    # given the demo data and a token of the role, rate limits off
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    settings.VBWD_RATE_LIMIT_ENABLED = False
    token = _token(client, role)
    access_log = tmp_path / "access.log"

    # when Schemathesis calls every operation of the live schema
    with _gunicorn(access_log) as base_url:
        result = _run_schemathesis(base_url, token, tmp_path / "junit.xml", SCOPE[role])
    (tmp_path / "schemathesis.txt").write_text(result.stdout)

    # then no check failed: no 5xx, no schema violation, no undocumented answer
    requests = [
        line for line in access_log.read_text().splitlines() if "/api/v1/schema" not in line
    ]
    server_errors = [
        line
        for line in requests
        if '" 5' in line and not ("/webhook" in line and '" 503 ' in line)  # see schemathesis.toml
    ]
    summary = result.stdout[result.stdout.find("SUMMARY") :] if "SUMMARY" in result.stdout else ""
    print(f"\nschemathesis as {role}: {len(requests)} requests\n{summary}")  # noqa: T201
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert server_errors == []
    # and the run was not a no-op: every operation was reached, with many requests
    operations = _operations(client)
    in_scope = operations if role == "admin" else [op for op in operations if "/admin/" not in op]
    assert f"Selected: {len(in_scope)}/{len(operations)}" in result.stdout
    assert f"Tested: {len(in_scope)}" in result.stdout, "an operation was left out"
    assert len(requests) > 1000, len(requests)

"""Enable / disable take effect in another running process without a restart, through the
shared cache on Redis and the database on PostgreSQL.

A second Django process stays up for the whole test and, for every line it reads on stdin,
reports what it sees of the demo plugin; this process changes the state through each channel
(service, management command, admin API, Django admin) and asks it again.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.jwt import issue_pair
from accounts.tests.factories import AdminFactory
from audit.models import AuditEntry
from plugins.models import Plugin
from plugins.services import plugin_configure, plugin_enable

ROOT = Path(__file__).resolve().parents[2]
READ_TIMEOUT = 60

OTHER_PROCESS = """
import json
import sys

import django

django.setup()

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from plugins import state

client = Client()
print("ready", flush=True)
for _ in sys.stdin:
    enabled = state.is_enabled("demo")
    response = client.get("/api/v1/plugins/demo/")
    connection.ensure_connection()
    with CaptureQueriesContext(connection) as queries:
        state.is_enabled("demo")
    print(
        json.dumps(
            {
                "enabled": enabled,
                "status": response.status_code,
                "body": response.json(),
                "queries": len(queries),
            }
        ),
        flush=True,
    )
"""

NOT_ENABLED = {"error": "Plugin 'demo' is not enabled", "code": "not_found"}
GREETING = "Hello from the VBWD demo plugin"


def _database_url() -> str:
    database = connection.settings_dict
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return (
        f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}"
    )


class OtherProcess:
    """A running Django process on the same database and cache (same REDIS_URL, same prefix)."""

    def __init__(self) -> None:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "vbwd.test_settings",
            "DATABASE_URL": _database_url(),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", OTHER_PROCESS],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        assert self._read_line() == "ready"

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_line(self) -> str:
        try:
            line = self.lines.get(timeout=READ_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"the other process said nothing for {READ_TIMEOUT} seconds")
        if line is None:
            self.process.wait(timeout=READ_TIMEOUT)
            pytest.fail(f"the other process exited: {self.process.stderr.read()}")
        return line

    def sees(self) -> dict:
        self.process.stdin.write("?\n")
        self.process.stdin.flush()
        return json.loads(self._read_line())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=READ_TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


def _disabled() -> dict:
    return {"enabled": False, "status": 404, "body": NOT_ENABLED, "queries": 0}


def _enabled(greeting: str = GREETING) -> dict:
    return {
        "enabled": True,
        "status": 200,
        "body": {"success": True, "greeting": greeting},
        "queries": 0,
    }


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_every_channel_takes_effect_in_a_running_process_without_restart():
    other = OtherProcess()
    try:
        initially = other.sees()

        plugin_enable(name="demo")
        after_service_enable = other.sees()

        plugin_configure(name="demo", values={"greeting": "Hi from elsewhere"})
        after_configure = other.sees()

        call_command("plugins", "disable", "demo")
        after_command_disable = other.sees()

        admin = AdminFactory()
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(admin)['token']}")
        api_response = api.post("/api/v1/admin/plugins/demo/enable")
        after_api_enable = other.sees()

        back_office = Client()
        back_office.force_login(admin)
        admin_response = back_office.post(
            "/admin/plugins/plugin/",
            {"action": "disable_plugins", "_selected_action": ["demo"]},
        )
        after_admin_disable = other.sees()
    finally:
        other.stop()

    assert initially == _disabled()
    assert after_service_enable == _enabled()
    assert after_configure == _enabled("Hi from elsewhere")
    assert after_command_disable == _disabled()
    assert api_response.status_code == 200
    assert api_response.json()["status"] == "enabled"
    assert after_api_enable == _enabled("Hi from elsewhere")
    assert admin_response.status_code == 302
    assert after_admin_disable == _disabled()
    # One row changed by every channel, one audit entry per change, with who made it.
    # (The Django admin's list adds a disabled row for every other installed plugin.)
    assert list(Plugin.objects.filter(name="demo").values_list("enabled", flat=True)) == [False]
    entries = AuditEntry.objects.filter(object_type="plugin", object_id="demo").order_by(
        "created_at"
    )
    assert [(entry.action, entry.actor_type, entry.actor_id) for entry in entries] == [
        ("plugin.enabled", "SYSTEM", None),
        ("plugin.configured", "SYSTEM", None),
        ("plugin.disabled", "SYSTEM", None),
        ("plugin.enabled", "STAFF", admin.pk),
        ("plugin.disabled", "STAFF", admin.pk),
    ]

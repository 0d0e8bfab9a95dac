"""A settings change made in one process is seen by another at once (PostgreSQL + Redis)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from platform_settings.selectors import platform_settings_get
from platform_settings.services import platform_settings_update

ROOT = Path(__file__).resolve().parents[2]

# Reads the company name (filling its cache), waits for a line on stdin, reads it again.
READER = """
import sys, django
django.setup()
from platform_settings.selectors import platform_settings_get
print("first:" + platform_settings_get().company_name, flush=True)
sys.stdin.readline()
print("second:" + platform_settings_get().company_name, flush=True)
"""


def _database_url() -> str:
    database = connection.settings_dict
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return (
        f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}"
    )


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no output from the other process within {timeout} s")
    line = process.stdout.readline()
    if not line:
        raise AssertionError(f"the other process ended: {process.stderr.read()}")
    return line.rstrip("\n")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_another_process_sees_a_settings_change_at_once(admin_user):
    platform_settings_update(data={"company_name": "Before GmbH"}, actor=admin_user)
    assert platform_settings_get().company_name == "Before GmbH"  # cached here too
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vbwd.test_settings",
        "DATABASE_URL": _database_url(),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", READER],
        cwd=ROOT,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = _read_line(process, timeout=120)

        # committed at once: transaction=True runs no surrounding test transaction
        platform_settings_update(data={"company_name": "After AG"}, actor=admin_user)
        process.stdin.write("go\n")
        process.stdin.flush()
        second = _read_line(process, timeout=60)
        process.stdin.close()
        assert process.wait(timeout=30) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr, process.stdin):
            if stream and not stream.closed:
                stream.close()

    assert first == "first:Before GmbH"
    assert second == "second:After AG"
    assert platform_settings_get().company_name == "After AG"

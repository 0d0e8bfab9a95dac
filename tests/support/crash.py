"""One API request sent by a process of its own that dies at a chosen point.

``post_and_die`` runs ``python -m tests.support.crash`` against the test database pytest created
(so it sees the rows a ``django_db(transaction=True)`` test committed). The child sends one POST
through Django's test client with one function replaced by a stand-in that ends the process with
``os._exit``, before or after calling the real one: no exception handler, ``finally`` block or
transaction exit runs, exactly as when a worker is killed. The database connection closes with
the process, so whatever the request had not committed is rolled back by the server.

The child inherits the environment (the provider settings a test set with ``monkeypatch.setenv``
included), so it talks to the same Redis and the same local provider server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EXIT_CODE = 75  # distinct from Python's own error exits
CRASH_MARK = "crash point reached: "


@dataclass(frozen=True)
class Outcome:
    returncode: int
    output: str

    @property
    def crashed(self) -> bool:
        """The process died at the crash point (and not of an error on the way there)."""
        return self.returncode == EXIT_CODE and CRASH_MARK in self.output


def _test_database_url() -> str:
    from django.db import connection

    settings = connection.settings_dict
    auth = settings.get("USER") or ""
    if settings.get("PASSWORD"):
        auth += f":{settings['PASSWORD']}"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{settings['NAME']}"


def post_and_die(
    path: str,
    body: dict,
    *,
    token: str,
    key: str,
    crash_at: str,
    after: bool = False,
    timeout: float = 90.0,
) -> Outcome:
    """POSTs ``body`` to ``path`` as the bearer of ``token`` with Idempotency-Key ``key`` in a
    child process that exits when it reaches ``crash_at`` (``"package.module:function"``):
    before the function runs, or right after it returned with ``after``."""
    spec = {
        "path": path,
        "body": body,
        "token": token,
        "key": key,
        "crash_at": crash_at,
        "after": after,
    }
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "DJANGO_SETTINGS_MODULE": "vbwd.test_settings",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.crash", json.dumps(spec)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Outcome(completed.returncode, completed.stdout + completed.stderr)


def _install_crash_point(target: str, *, after: bool) -> None:
    import importlib

    module_name, name = target.split(":")
    module = importlib.import_module(module_name)
    real = getattr(module, name)

    def dies(*args, **kwargs):
        if after:
            real(*args, **kwargs)
        sys.stdout.write(f"{CRASH_MARK}{target}\n")
        sys.stdout.flush()
        os._exit(EXIT_CODE)

    setattr(module, name, dies)


def _main(spec: dict) -> None:
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host and the in-memory mail outbox
    from rest_framework.test import APIClient

    _install_crash_point(spec["crash_at"], after=spec["after"])
    response = APIClient().post(
        spec["path"],
        data=json.dumps(spec["body"]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {spec['token']}",
        HTTP_IDEMPOTENCY_KEY=spec["key"],
    )
    # Not reached when the crash point is: the request answered.
    sys.stdout.write(
        json.dumps({"status": response.status_code, "body": response.content.decode()})
    )


if __name__ == "__main__":
    _main(json.loads(sys.argv[1]))

"""Serving the product with gunicorn on the benchmark's database and loading it with ``wrk``:
the pieces the HTTP benchmarks share."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

REPO = Path(__file__).resolve().parents[1]
# Counted as always, but never reached by the load.
UNLIMITED = json.dumps({"anonymous": "100000000/minute", "authenticated": "100000000/minute"})
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
DEMO_CUSTOMER = "test@example.com"
DEMO_ADMIN = "admin@example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    database = settings.DATABASES["default"]
    return (
        f"postgres://{database['USER']}:{database.get('PASSWORD') or ''}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}"
    )


def server(
    port: int, settings_module: str, prefix: str, args: list[str], **env
) -> subprocess.Popen:
    """gunicorn with the project's ``gunicorn.conf.py`` (as deployed) and ``args`` over it."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url(),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "VBWD_LOG_LEVEL": "WARNING",
        "VBWD_CACHE_PREFIX": prefix,
        "VBWD_RATE_LIMITS": UNLIMITED,
        "GUNICORN_ACCESS_LOG": "",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "vbwd.wsgi", "-c", str(REPO / "gunicorn.conf.py"),
         "-b", f"127.0.0.1:{port}", *args, "--log-level", "warning"],
        cwd=REPO, env=environment,
    )  # fmt: skip


def stop(servers: list[subprocess.Popen]) -> None:
    for process in servers:
        process.terminate()
    for process in servers:
        process.wait(timeout=30)


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as failed:
            raise AssertionError(f"{url}: {failed.code} {failed.read()[:500]!r}") from failed
        except OSError as failed:
            error = failed
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer {url}: {error}")


def wrk(url: str, *, options: str, seconds: int, token: str | None = None) -> dict[str, float]:
    """``wrk`` on ``url``: requests per second and the median and 99th percentile latency (ms)."""
    header = ["-H", f"Authorization: Bearer {token}"] if token else []
    result = subprocess.run(
        ["wrk", *options.split(), *header, "-d", f"{seconds}s", "--latency", url],
        capture_output=True, text=True,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, f"wrk failed on {url}: {out}{result.stderr}"
    assert "Non-2xx" not in out, out

    def percentile(name: str) -> float:
        value, unit = re.search(rf"{name}%\s+([0-9.]+)(us|ms|s)", out).groups()
        return float(value) * _UNITS[unit]

    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    return {"rps": rps, "p50": percentile("50"), "p99": percentile("99")}


def seed_demo() -> dict[str, str]:
    """The demo data (``manage.py seed_demo``) and access tokens of its customer and its admin."""
    from django.core.management import call_command

    from accounts.jwt import issue_pair
    from accounts.models import User

    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", stdout=quiet)
    customer = User.objects.get(email=DEMO_CUSTOMER)
    admin = User.objects.get(email=DEMO_ADMIN)
    return {"customer": issue_pair(customer)["token"], "admin": issue_pair(admin)["token"]}

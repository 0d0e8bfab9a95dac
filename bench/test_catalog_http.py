"""Public catalog reads over HTTP: gunicorn serving the demo catalog (``manage.py seed_demo``),
driven by ``wrk``, beside a bare Django JSON view served by the same gunicorn configuration.

Measured in three interleaved rounds (catalog, health, bare view; then again), so a busy moment
of a shared machine weighs on all three alike. Printed: requests per second and median latency
of each, their ratios to the bare view and the target (the catalog list at least half the bare
view's requests per second).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.benchmark(group="catalog")]

REPO = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("VBWD_CATALOG_BENCH_SERVER", "-w 5")
WRK = os.environ.get("VBWD_CATALOG_BENCH_WRK", "-t 2 -c 10")
SECONDS = int(os.environ.get("VBWD_CATALOG_BENCH_SECONDS", "5"))
ROUNDS = 3
TARGET = float(os.environ.get("VBWD_CATALOG_TARGET", "0.5"))
PATHS = {
    "catalog": "/api/v1/tarif-plans",
    "health": "/api/v1/health",
}
LABELS = {
    "catalog": "GET /api/v1/tarif-plans",
    "health": "GET /api/v1/health",
    "bare": "bare Django JSON view",
}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server(port: int, settings_module: str, prefix: str) -> subprocess.Popen:
    database = settings.DATABASES["default"]
    url = (
        f"postgres://{database['USER']}:{database.get('PASSWORD') or ''}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "VBWD_LOG_LEVEL": "WARNING",
        "VBWD_CACHE_PREFIX": prefix,
        # Counted as always, but never reached by the load.
        "VBWD_RATE_LIMITS": '{"anonymous": "100000000/minute"}',
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "vbwd.wsgi", "-b", f"127.0.0.1:{port}",
         *SERVER.split(), "--log-level", "warning"],
        cwd=REPO, env=env,
    )  # fmt: skip


def _wait(url: str) -> None:
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


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str) -> tuple[float, float]:
    """Requests per second and the median latency (ms) of ``wrk`` on ``url``."""
    result = subprocess.run(
        ["wrk", *WRK.split(), "-d", f"{SECONDS}s", "--latency", url],
        capture_output=True, text=True,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, f"wrk failed on {url}: {out}{result.stderr}"
    assert "Non-2xx" not in out, out
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    value, unit = re.search(r"50%\s+([0-9.]+)(us|ms|s)", out).groups()
    return rps, float(value) * _UNITS[unit]


def test_catalog_reads_beside_a_bare_view(benchmark, capsys):
    if shutil.which("wrk") is None:
        pytest.skip("needs wrk (apt-get install wrk): the HTTP load generator")
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL), as in production")
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    prefix = f"vbwd-bench-{uuid.uuid4().hex[:8]}"
    api_port, bare_port = _free_port(), _free_port()
    servers = [
        _server(api_port, "vbwd.settings", prefix),
        _server(bare_port, "bench.bare_settings", prefix),
    ]
    urls = {name: f"http://127.0.0.1:{api_port}{path}" for name, path in PATHS.items()}
    urls["bare"] = f"http://127.0.0.1:{bare_port}/bare"
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
    try:
        for url in urls.values():
            _wait(url)
        with urllib.request.urlopen(urls["catalog"]) as answer:
            assert json.loads(answer.read())["plans"], "seed_demo made no plans"

        def rounds():
            for _ in range(ROUNDS):
                for name, url in urls.items():
                    results[name].append(_wrk(url))

        benchmark.pedantic(rounds, rounds=1, iterations=1)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)

    rps = {name: statistics.median(r for r, _ in runs) for name, runs in results.items()}
    p50 = {name: statistics.median(p for _, p in runs) for name, runs in results.items()}
    ratio = rps["catalog"] / rps["bare"]
    with capsys.disabled():
        print()
        print(
            f"Catalog reads over HTTP, median of {ROUNDS} interleaved rounds of {SECONDS} s "
            f"(gunicorn {SERVER}, wrk {WRK}, {os.cpu_count()} CPUs, "
            f"PostgreSQL {connection.pg_version // 10000}, Redis cache)"
        )
        print(f"  {'':<26}{'req/s':>9}{'p50 ms':>9}   ratio to the bare view (req/s, p50)")
        for name, label in LABELS.items():
            print(
                f"  {label:<26}{rps[name]:>9.0f}{p50[name]:>9.2f}   "
                f"{rps[name] / rps['bare']:.2f}x, {p50[name] / p50['bare']:.2f}x   "
                f"rounds: {', '.join(f'{r:.0f}' for r, _ in results[name])}"
            )
        verdict = "met" if ratio >= TARGET else "MISSED"
        print(f"  target: catalog >= {TARGET:.2f}x the bare view's req/s: {verdict} ({ratio:.2f}x)")
    assert ratio >= TARGET, f"catalog at {ratio:.2f}x the bare view, target {TARGET:.2f}x"

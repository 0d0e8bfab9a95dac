"""API reads over HTTP: gunicorn serving the demo data (``manage.py seed_demo``), driven by
``wrk``, beside a bare Django JSON view served by the same gunicorn configuration.

Measured in three interleaved rounds (every route in turn, then again), so a busy moment of a
shared machine weighs on all of them alike. Printed: requests per second and median latency of
each, their ratios to the bare view and the targets: the public catalog at least half the bare
view's requests per second, each authenticated read at least a quarter. The bare view sits under
``/api/`` like the API, so it passes the same middleware. Three floors served beside it (see
``bench/bare_urls.py``) show what a read pays before its own work: the API framework, the
``user`` access level, and three more database round trips with nothing to build or render.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import urllib.request
import uuid

import pytest
from django.db import connection

from bench import httpload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.benchmark(group="http")]

# The targets were set against 5 sync workers (a new connection per request). The deployed
# defaults' threaded workers keep connections alive, which saves every route the same fixed
# cost, so the bare view gains the most in proportion and every ratio falls while every rate
# rises. VBWD_HTTP_BENCH_SERVER="" measures the defaults.
SERVER = os.environ.get("VBWD_HTTP_BENCH_SERVER", "-k sync -w 5")
WRK = os.environ.get("VBWD_HTTP_BENCH_WRK", "-t 2 -c 10")
SECONDS = int(os.environ.get("VBWD_HTTP_BENCH_SECONDS", "5"))
ROUNDS = 3
CATALOG_TARGET = float(os.environ.get("VBWD_CATALOG_TARGET", "0.5"))
AUTHENTICATED_TARGET = float(os.environ.get("VBWD_AUTHENTICATED_TARGET", "0.25"))
# name: (label, path, caller, target)
ROUTES = {
    "catalog": ("GET /tarif-plans", "/api/v1/tarif-plans", None, CATALOG_TARGET),
    "health": ("GET /health", "/api/v1/health", None, None),
    "profile": ("GET /user/profile", "/api/v1/user/profile", "customer", AUTHENTICATED_TARGET),
    "subscriptions": ("GET /user/subscriptions", "/api/v1/user/subscriptions", "customer",
                      AUTHENTICATED_TARGET),
    "invoices": ("GET /user/invoices", "/api/v1/user/invoices", "customer", AUTHENTICATED_TARGET),
    "balance": ("GET /user/tokens/balance", "/api/v1/user/tokens/balance", "customer",
                AUTHENTICATED_TARGET),
    "admin_invoice": ("GET /admin/invoices/<id>", "/api/v1/admin/invoices/{invoice}", "admin",
                      AUTHENTICATED_TARGET),
}  # fmt: skip
BARE_LABEL = "bare Django JSON view"
# Served beside the bare view (bench/bare_urls.py): what an API read costs before its own work.
FLOORS = {
    "framework": ("floor: API view, no work", "/api/bench/framework", None),
    "authenticated": ("floor: + user level", "/api/bench/authenticated", "customer"),
    "round_trips": ("floor: + 3 round trips", "/api/bench/round-trips", "customer"),
}


def _customers_invoice() -> str:
    """One of the demo customer's invoices."""
    from billing.invoices.models import Invoice

    invoice = (
        Invoice.objects.filter(user__email=httpload.DEMO_CUSTOMER).order_by("created_at").first()
    )
    assert invoice is not None, "seed_demo made no invoice for the demo customer"
    return str(invoice.pk)


def test_reads_beside_a_bare_view(benchmark, capsys, bench_target):
    if shutil.which("wrk") is None:
        pytest.skip("needs wrk (apt-get install wrk): the HTTP load generator")
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL), as in production")
    tokens = httpload.seed_demo()
    invoice = _customers_invoice()
    prefix = f"vbwd-bench-{uuid.uuid4().hex[:8]}"
    api_port, bare_port = httpload.free_port(), httpload.free_port()
    servers = [
        httpload.server(api_port, "vbwd.settings", prefix, SERVER.split()),
        httpload.server(bare_port, "bench.bare_settings", prefix, SERVER.split()),
    ]
    targets = {"bare": (f"http://127.0.0.1:{bare_port}/api/bench/bare", None)}
    for name, (_label, path, caller) in FLOORS.items():
        targets[name] = (f"http://127.0.0.1:{bare_port}{path}", tokens.get(caller))
    for name, (_label, path, caller, _target) in ROUTES.items():
        url = f"http://127.0.0.1:{api_port}{path.format(invoice=invoice)}"
        targets[name] = (url, tokens.get(caller))
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
    try:
        httpload.wait_until_up(targets["bare"][0])
        httpload.wait_until_up(targets["health"][0])
        with urllib.request.urlopen(targets["catalog"][0]) as answer:
            assert json.loads(answer.read())["plans"], "seed_demo made no plans"

        def rounds():
            for _ in range(ROUNDS):
                for name, (url, token) in targets.items():
                    figures = httpload.wrk(url, options=WRK, seconds=SECONDS, token=token)
                    results[name].append((figures["rps"], figures["p50"]))

        benchmark.pedantic(rounds, rounds=1, iterations=1)
    finally:
        httpload.stop(servers)

    rps = {name: statistics.median(r for r, _ in runs) for name, runs in results.items()}
    p50 = {name: statistics.median(p for _, p in runs) for name, runs in results.items()}
    missed = []
    with capsys.disabled():
        print()
        print(
            f"API reads over HTTP, median of {ROUNDS} interleaved rounds of {SECONDS} s "
            f"(gunicorn.conf.py {SERVER or 'defaults'}, wrk {WRK}, {os.cpu_count()} CPUs, "
            f"PostgreSQL {connection.pg_version // 10000}, Redis cache)"
        )
        print(f"  {'':<26}{'req/s':>9}{'p50 ms':>9}   ratio to the bare view: req/s  target")
        labels = {"bare": (BARE_LABEL, None)}
        labels.update({name: (floor[0], None) for name, floor in FLOORS.items()})
        labels.update({name: (route[0], route[3]) for name, route in ROUTES.items()})
        for name, (label, target) in labels.items():
            ratio = rps[name] / rps["bare"]
            verdict = ""
            if target is not None:
                verdict = f">= {target:.2f}x {'met' if ratio >= target else 'MISSED'}"
                if ratio < target:
                    missed.append(f"{label} at {ratio:.2f}x (target {target:.2f}x)")
                measured = f"{ratio:.2f}x ({rps[name]:.0f} / {rps['bare']:.0f} req/s)"
                bench_target(label, measured, f">= {target:.2f}x bare", ratio >= target)
            print(
                f"  {label:<26}{rps[name]:>9.0f}{p50[name]:>9.2f}   {ratio:>5.2f}x  {verdict:<16}"
                f"rounds: {', '.join(f'{r:.0f}' for r, _ in results[name])}"
            )
    assert not missed, "; ".join(missed)

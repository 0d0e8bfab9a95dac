"""The server's configuration, measured: gunicorn worker classes, worker and thread counts,
keep-alive and the database connection's lifetime (``CONN_MAX_AGE``), each serving the demo
data, all started together and loaded in interleaved rounds with ``wrk``: a public catalog read
and an authenticated read.

Printed per configuration: requests per second, median and 99th percentile latency of each read,
and a score (the mean of the two reads' requests per second, each relative to the best
configuration's). The deployed defaults (``gunicorn.conf.py`` with no environment) must score
within ``VBWD_SERVER_CONFIG_TOLERANCE`` (15 %) of the best: the defaults are a measured choice.
"""

from __future__ import annotations

import os
import shutil
import statistics
import uuid

import pytest
from django.db import connection

from bench import httpload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.benchmark(group="server")]

WRK = os.environ.get("VBWD_SERVER_CONFIG_WRK", "-t 2 -c 16")
SECONDS = int(os.environ.get("VBWD_SERVER_CONFIG_SECONDS", "4"))
ROUNDS = int(os.environ.get("VBWD_SERVER_CONFIG_ROUNDS", "2"))
TOLERANCE = float(os.environ.get("VBWD_SERVER_CONFIG_TOLERANCE", "0.15"))
DEFAULT = "defaults"
# label: (gunicorn arguments over gunicorn.conf.py, environment)
CONFIGS: dict[str, tuple[list[str], dict[str, str]]] = {
    DEFAULT: ([], {}),
    "sync, 3 workers": (["-k", "sync", "-w", "3"], {}),
    "sync, 9 workers": (["-k", "sync", "-w", "9"], {}),
    "gthread, 2 workers x 8 threads": (["-k", "gthread", "-w", "2", "--threads", "8"], {}),
    "gthread, 5 workers x 2 threads": (["-k", "gthread", "-w", "5", "--threads", "2"], {}),
    "defaults, no keep-alive": (["--keep-alive", "0"], {}),
    "defaults, CONN_MAX_AGE=0": ([], {"VBWD_DB_CONN_MAX_AGE": "0"}),
}
READS = {"catalog": "/api/v1/tarif-plans", "profile": "/api/v1/user/profile"}


def test_server_configurations(benchmark, capsys, bench_target):
    if shutil.which("wrk") is None:
        pytest.skip("needs wrk (apt-get install wrk): the HTTP load generator")
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL), as in production")
    token = httpload.seed_demo()["customer"]
    prefix = f"vbwd-bench-{uuid.uuid4().hex[:8]}"
    ports = {label: httpload.free_port() for label in CONFIGS}
    servers = [
        httpload.server(ports[label], "vbwd.settings", prefix, args, **env)
        for label, (args, env) in CONFIGS.items()
    ]
    results = {label: {read: [] for read in READS} for label in CONFIGS}
    try:
        for label in CONFIGS:
            httpload.wait_until_up(f"http://127.0.0.1:{ports[label]}/api/v1/health")

        def rounds():
            for _ in range(ROUNDS):
                for label in CONFIGS:
                    for read, path in READS.items():
                        url = f"http://127.0.0.1:{ports[label]}{path}"
                        caller = token if read == "profile" else None
                        figures = httpload.wrk(url, options=WRK, seconds=SECONDS, token=caller)
                        results[label][read].append(figures)

        benchmark.pedantic(rounds, rounds=1, iterations=1)
    finally:
        httpload.stop(servers)

    def median(label, read, figure):
        return statistics.median(run[figure] for run in results[label][read])

    best = {read: max(median(label, read, "rps") for label in CONFIGS) for read in READS}
    score = {
        label: statistics.mean(median(label, read, "rps") / best[read] for read in READS)
        for label in CONFIGS
    }
    with capsys.disabled():
        print()
        print(
            f"Server configurations, median of {ROUNDS} interleaved rounds of {SECONDS} s "
            f"(wrk {WRK}, {os.cpu_count()} CPUs, PostgreSQL {connection.pg_version // 10000})"
        )
        print(
            f"  {'configuration':<34}{'catalog req/s':>14}{'p50':>7}{'p99':>7}"
            f"{'profile req/s':>15}{'p50':>7}{'p99':>7}{'score':>7}"
        )
        for label in CONFIGS:
            cells = "".join(
                f"{median(label, read, 'rps'):>14.0f}{median(label, read, 'p50'):>7.1f}"
                f"{median(label, read, 'p99'):>7.1f}" + (" " if read == "catalog" else "")
                for read in READS
            )
            print(f"  {label:<34}{cells}{score[label]:>7.2f}")
        top = max(score.values())
        verdict = "met" if score[DEFAULT] >= top * (1 - TOLERANCE) else "MISSED"
        print(
            f"  target: the defaults within {TOLERANCE:.0%} of the best score: {verdict} "
            f"({score[DEFAULT]:.2f} against {top:.2f})"
        )
    met = score[DEFAULT] >= top * (1 - TOLERANCE)
    bench_target(
        "gunicorn.conf.py defaults vs the best config",
        f"score {score[DEFAULT]:.2f} of {top:.2f}",
        f">= {1 - TOLERANCE:.2f} of the best",
        met,
    )
    assert met, f"defaults score {score[DEFAULT]:.2f}"

"""The server's own yardstick, measured in the same run as a benchmark: pgbench's simple-update
TPS on a scratch database of the same PostgreSQL server."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import connection


def _target() -> tuple[list[str], dict[str, str]]:
    params = settings.DATABASES["default"]
    env = {**os.environ, "PGPASSWORD": str(params.get("PASSWORD") or "")}
    target = ["-h", str(params.get("HOST") or "localhost"), "-p", str(params.get("PORT") or 5432),
              "-U", str(params.get("USER") or "postgres")]  # fmt: skip
    return target, env


@contextlib.contextmanager
def pgbench_runner() -> Iterator[Callable[..., float] | None]:
    """A scratch database of the same server, initialised by ``pgbench -i`` once (created here
    and dropped on exit), and a function ``run(seconds, clients=2)`` that returns the TPS of
    ``pgbench -N -T <seconds> -c <clients> -j <clients>`` on it: for a benchmark that measures
    several rounds. None when pgbench is not installed."""
    if shutil.which("pgbench") is None:
        yield None
        return
    scratch = f"vbwd_pgbench_{uuid.uuid4().hex[:8]}"
    target, env = _target()
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{scratch}"')
    try:
        subprocess.run(
            ["pgbench", "-i", "-q", *target, scratch], env=env, check=True, capture_output=True
        )

        def run(seconds: int = 10, clients: int = 2) -> float:
            result = subprocess.run(
                ["pgbench", "-N", "-T", str(seconds), "-c", str(clients), "-j", str(clients),
                 *target, scratch],
                env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            match = re.search(r"tps = ([0-9.]+)", result.stdout)
            assert match, result.stdout
            return float(match.group(1))

        yield run
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')


def pgbench_tps(seconds: int = 10, clients: int = 2) -> float | None:
    """TPS of ``pgbench -N -T <seconds> -c <clients> -j <clients>`` on a scratch database of the
    same server (created and dropped here); None when pgbench is not installed."""
    with pgbench_runner() as run:
        return None if run is None else run(seconds, clients)

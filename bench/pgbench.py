"""The server's own yardstick, measured in the same run as a benchmark: pgbench's simple-update
TPS on a scratch database of the same PostgreSQL server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid

from django.conf import settings
from django.db import connection


def pgbench_tps(seconds: int = 10) -> float | None:
    """TPS of ``pgbench -N -T <seconds> -c 2 -j 2`` on a scratch database of the same server
    (created and dropped here); None when pgbench is not installed."""
    if shutil.which("pgbench") is None:
        return None
    params = settings.DATABASES["default"]
    scratch = f"vbwd_pgbench_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PGPASSWORD": str(params.get("PASSWORD") or "")}
    target = ["-h", str(params.get("HOST") or "localhost"), "-p", str(params.get("PORT") or 5432),
              "-U", str(params.get("USER") or "postgres")]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{scratch}"')
    try:
        subprocess.run(
            ["pgbench", "-i", "-q", *target, scratch], env=env, check=True, capture_output=True
        )
        result = subprocess.run(
            ["pgbench", "-N", "-T", str(seconds), "-c", "2", "-j", "2", *target, scratch],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
    match = re.search(r"tps = ([0-9.]+)", result.stdout)
    assert match, result.stdout
    return float(match.group(1))

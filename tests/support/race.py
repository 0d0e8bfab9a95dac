"""One harness for tests that need real concurrency (PostgreSQL row locks).

``run_together`` starts every callable in its own thread, releases them at the same instant with
a barrier, and returns what each returned or the exception it raised, in the order given. Each
thread closes its own database connection, so none is left open for the test database teardown.
Use it inside ``pytest.mark.django_db(transaction=True)`` tests marked ``postgres``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.db import connection

ResultT = TypeVar("ResultT")


def run_together(
    actions: Sequence[Callable[[], ResultT]], *, timeout: float | None = None
) -> list[ResultT | Exception]:
    """Runs ``actions`` at once; returns, in order, each one's result or the exception it raised.

    With ``timeout`` (seconds) a thread that never reaches the barrier or never finishes fails
    the test instead of hanging it.
    """
    barrier = threading.Barrier(len(actions), timeout=timeout)
    results: list[ResultT | Exception] = [None] * len(actions)  # type: ignore[list-item]

    def run(index: int, action: Callable[[], ResultT]) -> None:
        try:
            barrier.wait()
            try:
                results[index] = action()
            except Exception as error:  # recorded for the test's assertions
                results[index] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(index, action), daemon=True)
        for index, action in enumerate(actions)
    ]
    for thread in threads:
        thread.start()
    deadline = None if timeout is None else time.monotonic() + 2 * timeout
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a racing action did not finish"
    return results

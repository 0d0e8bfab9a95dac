"""The fixed cost of a request: a bare Django JSON view, the health probe and the authenticated
reads, each sent many times through the full middleware chain (``django.test.Client``), beside
one another in the same run.

Two clocks, as in the PDF benchmark: pytest-benchmark's table is wall time; ``Cpu`` keeps the
CPU time of each call (``time.process_time``), which counts this process only, so the database
and Redis servers' own work is left out of it and the wall column shows the round trips. The
summary prints per route the medians, the number of SQL queries of one request and the ratio of
each median to the bare view's.

``VBWD_REQUEST_BENCH_PROFILE=1`` also prints, per route, the SQL of one request and the functions
that take the most time over as many more requests (cProfile; ``VBWD_REQUEST_BENCH_SORT=tottime``
sorts by own time). ``VBWD_REQUEST_BENCH_ROUNDS`` sets the number of measured requests (400).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import statistics
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import include, path
from rest_framework.response import Response

from accounts.jwt import issue_pair
from accounts.tests.factories import AdminFactory, UserFactory
from bench.bare_urls import bare
from billing.invoices.tests.factories import issue_invoice, subscription
from billing.subscriptions.models import SubscriptionStatus
from vbwd.api import ApiView, PublicMixin, UserMixin

pytestmark = [pytest.mark.django_db, pytest.mark.benchmark(group="request-cost")]

ROUNDS = int(os.environ.get("VBWD_REQUEST_BENCH_ROUNDS", "400"))
PROFILE = os.environ.get("VBWD_REQUEST_BENCH_PROFILE", "") not in {"", "0"}
PROFILE_SORT = os.environ.get("VBWD_REQUEST_BENCH_SORT", "cumulative")
CALL_COUNT_ROUNDS = 20


class BareApiView(PublicMixin, ApiView):
    """The project's API view class with nothing to do: DRF's own cost over the bare view."""

    throttle_classes: list = []

    def get(self, request):
        return Response({"status": "ok"})


class AuthenticatedEmptyView(UserMixin, ApiView):
    """The fixed cost of the ``user`` level: the token, the user row and the rate limit,
    with an empty body."""

    def get(self, request):
        return Response({"status": "ok"})


# The product's URLs plus the three views above, used as ROOT_URLCONF for this module only.
# Under /api/ so the request passes the same middleware as the API's.
urlpatterns = [
    path("api/bench/bare", bare),  # the floor: Django and the middleware, no DRF, no query
    path("api/bench/api", BareApiView.as_view()),
    path("api/bench/authenticated", AuthenticatedEmptyView.as_view()),
    path("", include("vbwd.urls")),
]

ROUTES = {
    "bare": ("bare Django JSON view", "/api/bench/bare", None),
    "api": ("bare API view (DRF)", "/api/bench/api", None),
    "authenticated": ("authenticated, empty body", "/api/bench/authenticated", "user"),
    "health": ("GET /health", "/api/v1/health", None),
    "profile": ("GET /user/profile", "/api/v1/user/profile", "user"),
    "subscriptions": ("GET /user/subscriptions", "/api/v1/user/subscriptions", "user"),
    "invoices": ("GET /user/invoices", "/api/v1/user/invoices", "user"),
    "token_balance": ("GET /user/tokens/balance", "/api/v1/user/tokens/balance", "user"),
    "admin_invoice": ("GET /admin/invoices/<id>", "/api/v1/admin/invoices/{invoice}", "admin"),
}


class Cpu:
    """Wraps the benchmarked callable and keeps the CPU time of every call."""

    def __init__(self, function):
        self.function, self.seconds = function, []

    def __call__(self):
        started = time.process_time()
        result = self.function()
        self.seconds.append(time.process_time() - started)
        return result


@pytest.fixture
def world(settings):
    settings.ROOT_URLCONF = __name__
    # The counters are still taken on every request; only the limit is out of the way.
    settings.VBWD_RATE_LIMITS = {"authenticated": "1000000/minute", "anonymous": "1000000/minute"}
    user, admin = UserFactory(), AdminFactory()
    subscription(user, status=SubscriptionStatus.TRIALING)
    invoices = [issue_invoice(user) for _ in range(3)]
    return {
        "user": {"HTTP_AUTHORIZATION": f"Bearer {issue_pair(user)['token']}"},
        "admin": {"HTTP_AUTHORIZATION": f"Bearer {issue_pair(admin)['token']}"},
        "invoice": invoices[0].pk,
    }


@pytest.mark.parametrize("name", list(ROUTES))
def test_request_cost(benchmark, world, request_cost_results, name):
    label, url, who = ROUTES[name]
    url = url.format(invoice=world["invoice"])
    headers = world[who] if who else {}
    client = Client()

    def get():
        return client.get(url, **headers)

    response = get()
    assert response.status_code == 200, response.content
    # Counted by a wrapper: the query log is emptied when each request starts.
    queries: list[str] = []

    def count(execute, sql, *args):
        queries.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(count):
        get()

    cpu = Cpu(get)
    benchmark.pedantic(cpu, rounds=ROUNDS, warmup_rounds=20)

    # Python function calls per request: the same on a busy machine as on an idle one.
    profiler = cProfile.Profile()
    profiled = ROUNDS if PROFILE else CALL_COUNT_ROUNDS
    profiler.runcall(lambda: [get() for _ in range(profiled)])
    profile = pstats.Stats(profiler)
    calls = profile.total_calls / profiled
    if PROFILE:
        out = io.StringIO()
        profile.stream = out
        profile.sort_stats(PROFILE_SORT).print_stats(60)
        print(f"\n--- {label}\n" + "\n".join(queries) + f"\n{out.getvalue()}")

    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is None:  # benchmarks disabled
        return
    request_cost_results[name] = {
        "label": label,
        "median": stats.median * 1000,
        "min": stats.min * 1000,
        "cpu": statistics.median(cpu.seconds[20:] or cpu.seconds) * 1000,
        "queries": len(queries),
        "calls": calls,
        "rounds": stats.rounds,
    }

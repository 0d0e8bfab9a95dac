"""The public catalog's versioned answer cache: every committed change is visible in the very
next read, conditional requests, what is stored and what a hit costs.

Most tests run inside the test's transaction, where ``on_commit`` never runs: the cached version
number is then never refreshed by the writers, the worst case a reader can meet (a worker that
died between its commit and the refresh). Answers must follow the change anyway.
"""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory
from billing.catalog.models import Currency, Plan, TaxRate
from billing.catalog.services import plans as plan_services
from billing.catalog.services.geography import currencies as currency_services
from billing.catalog.services.geography import tax_rates as tax_services
from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from platform_settings.selectors import platform_settings_get
from platform_settings.services import platform_settings_update
from tokens.tests.factories import TokenBundleFactory
from vbwd import catalog_cache
from vbwd.exceptions import ServiceUnavailable

pytestmark = pytest.mark.django_db

PLANS = "/api/v1/tarif-plans"
QUERIES = [{}, {"country": "DE"}, {"currency": "USD"}, {"country": "DE", "currency": "USD"}]
# An anonymous hit with Redis as the cache is answered early and trusts the published version
# while no writer has marked it (no query); otherwise one query confirms the version.
HIT_QUERIES = 0 if catalog_cache._redis() is not None else 1


def _probe(api_client):
    """The health probe publishes the committed version (as on a fresh cache, or after a
    commit whose refresh of the number was lost)."""
    assert api_client.get("/api/v1/health").status_code == 200
    assert cache.get(catalog_cache.VERSION_KEY) == catalog_cache.committed_version()


@pytest.fixture
def warm(api_client):
    _probe(api_client)


def _tax(rate: str) -> TaxRate:
    return TaxRate.objects.create(
        country_code="DE", name="VAT", code=f"VAT_DE_{rate}", rate=Decimal(rate),
        is_inclusive=False, valid_from=datetime.date(2020, 1, 1),
    )  # fmt: skip


def _plan(api_client, query, slug="pro"):
    plans = api_client.get(PLANS, query).json()["plans"]
    return next((plan for plan in plans if plan["slug"] == slug), None)


def _cached(api_client, path, query=None, **headers):
    """GET twice: the second answer must be a hit (one query, the version check)."""
    api_client.get(path, query or {}, **headers)
    return api_client.get(path, query or {}, **headers)


# --- hits -----------------------------------------------------------------------------------


def test_a_hit_runs_one_query_and_repeats_the_body(api_client, warm, django_assert_num_queries):
    PlanFactory(slug="pro", price=Decimal("29.99"))
    _tax("19.00")
    _probe(api_client)
    first = api_client.get(PLANS, {"country": "DE", "currency": "USD"})

    with django_assert_num_queries(HIT_QUERIES):
        again = api_client.get(PLANS, {"currency": "USD", "country": "DE"})  # other order

    assert again.status_code == 200
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"] == "application/json; charset=utf-8"
    assert again["ETag"] == first["ETag"] == catalog_cache.etag_for(first.content)
    assert again["Cache-Control"] == "public, max-age=0, must-revalidate"
    assert again.json()["plans"][0]["display_price"] == 38.54  # 32.39 USD + 19 % VAT


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tarif-plans/pro",
        "/api/v1/addons",
        "/api/v1/token-bundles",
        "/api/v1/config/currencies",
        "/api/v1/settings/countries",
        "/api/v1/settings/terms",
    ],
)
def test_every_cached_route_hits_with_one_query(api_client, warm, path, django_assert_num_queries):
    PlanFactory(slug="pro")
    AddOnFactory()
    TokenBundleFactory()
    platform_settings_get()  # its row is made on the first read
    _probe(api_client)
    first = api_client.get(path)

    with django_assert_num_queries(HIT_QUERIES):
        again = api_client.get(path)

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]


def test_a_cold_cache_answers_without_storing_and_without_a_query(
    api_client, django_assert_num_queries
):
    api_client.get("/api/v1/config/currencies")

    # No version number in the cache yet (nothing committed or probed since it was emptied):
    # rendered again, at the view's own single query.
    with django_assert_num_queries(1):
        response = api_client.get("/api/v1/config/currencies")

    assert response.status_code == 200
    assert response["ETag"] == catalog_cache.etag_for(response.content)
    assert cache.get(catalog_cache.VERSION_KEY) is None


# --- changes are visible in the very next read -----------------------------------------------


@pytest.mark.parametrize("query", QUERIES)
def test_a_price_change_is_visible_at_once(api_client, admin_user, warm, query):
    _tax("19.00")
    plan = PlanFactory(slug="pro", price=Decimal("10.00"))
    before = _cached(api_client, PLANS, query)

    plan_services.plan_update(plan=plan, data={"price": Decimal("20.00")}, actor=admin_user)
    after = api_client.get(PLANS, query)

    assert before.json()["plans"][0]["price"]["price_decimal"] == "10.00"
    assert after.json()["plans"][0]["price"]["price_decimal"] == "20.00"
    assert after["ETag"] != before["ETag"]


@pytest.mark.parametrize("query", [{"country": "DE"}, {"country": "DE", "currency": "USD"}])
def test_a_tax_rate_change_is_visible_at_once(api_client, admin_user, warm, query):
    tax = _tax("19.00")
    PlanFactory(slug="pro", price=Decimal("10.00"))
    before = _plan(api_client, query)
    assert _plan(api_client, query) == before

    tax_services.tax_rate_update(tax_rate=tax, data={"rate": Decimal("7.00")}, actor=admin_user)

    assert (before["tax_rate"], _plan(api_client, query)["tax_rate"]) == ("19.00", "7.00")


@pytest.mark.parametrize("query", [{"currency": "USD"}, {"country": "DE", "currency": "USD"}])
def test_an_exchange_rate_change_is_visible_at_once(api_client, admin_user, warm, query):
    PlanFactory(slug="pro", price=Decimal("10.00"))
    before = _plan(api_client, query)
    assert _plan(api_client, query) == before
    usd = Currency.objects.get(code="USD")

    currency_services.currency_update(
        currency=usd, data={"exchange_rate": Decimal("1.500000")}, actor=admin_user
    )
    after = _plan(api_client, query)

    assert (before["exchange_rate"], after["exchange_rate"]) == ("1.080000", "1.500000")
    assert (before["display_price"], after["display_price"]) == (10.8, 15.0)


@pytest.mark.parametrize("query", QUERIES)
def test_a_deactivation_in_the_django_admin_is_visible_at_once(api_client, warm, query):
    plan = PlanFactory(slug="pro")
    assert _plan(api_client, query) is not None
    assert _plan(api_client, query) is not None  # served from the cache
    staff = Client()
    staff_user = AdminFactory()
    assert staff.login(username=staff_user.email, password=DEFAULT_PASSWORD)
    version = catalog_cache.committed_version()

    response = staff.post(
        "/admin/catalog/plan/", {"action": "deactivate", "_selected_action": [str(plan.pk)]}
    )

    assert response.status_code == 302
    assert Plan.objects.get(pk=plan.pk).is_active is False
    assert catalog_cache.committed_version() > version
    assert _plan(api_client, query) is None


def test_a_service_change_bumps_the_version(admin_user):
    plan = PlanFactory()
    version = catalog_cache.committed_version()

    plan_services.plan_deactivate(plan=plan, actor=admin_user)

    assert catalog_cache.committed_version() > version


def test_other_catalog_answers_follow_their_changes(api_client, admin_user, warm):
    bundle = TokenBundleFactory(name="Starter")
    _cached(api_client, "/api/v1/token-bundles")
    _cached(api_client, "/api/v1/settings/terms")

    bundle.name = "Bigger"
    bundle.save()
    platform_settings_update(data={"terms_title": "New terms"}, actor=admin_user)

    assert api_client.get("/api/v1/token-bundles").json()["bundles"][0]["name"] == "Bigger"
    assert api_client.get("/api/v1/settings/terms").json()["title"] == "New terms"


def test_a_plan_added_to_a_category_is_listed_at_once(api_client, warm):
    from billing.catalog.tests.factories import CategoryFactory

    category = CategoryFactory(slug="main")
    plan = PlanFactory(slug="pro")
    assert _plan(api_client, {"category": "main"}) is None
    assert _plan(api_client, {"category": "main"}) is None

    category.plans.add(plan)  # a many-to-many change alone

    assert _plan(api_client, {"category": "main"})["slug"] == "pro"


@pytest.mark.django_db(transaction=True)
def test_a_committed_change_refreshes_the_cached_number(api_client, admin_user):
    plan = PlanFactory(slug="pro", price=Decimal("10.00"))  # commits: publishes the version
    assert cache.get(catalog_cache.VERSION_KEY) == catalog_cache.committed_version()
    _cached(api_client, PLANS)

    plan_services.plan_update(plan=plan, data={"price": Decimal("12.00")}, actor=admin_user)

    assert cache.get(catalog_cache.VERSION_KEY) == catalog_cache.committed_version()
    assert _plan(api_client, {})["price"]["price_decimal"] == "12.00"


# --- conditional requests -------------------------------------------------------------------


def test_if_none_match(api_client, admin_user, warm, django_assert_num_queries):
    plan = PlanFactory(slug="pro", price=Decimal("10.00"))
    current = _cached(api_client, PLANS)["ETag"]

    with django_assert_num_queries(HIT_QUERIES):
        not_modified = api_client.get(PLANS, HTTP_IF_NONE_MATCH=current)
    listed = api_client.get(PLANS, HTTP_IF_NONE_MATCH=f'"other", {current}')
    plan_services.plan_update(plan=plan, data={"price": Decimal("11.00")}, actor=admin_user)
    changed = api_client.get(PLANS, HTTP_IF_NONE_MATCH=current)

    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == current
    assert not_modified["Cache-Control"] == "public, max-age=0, must-revalidate"
    assert listed.status_code == 304
    assert changed.status_code == 200
    assert changed["ETag"] != current
    assert changed.json()["plans"][0]["price"]["price_decimal"] == "11.00"
    # The first answer after the change (a miss) honours the new tag as well.
    assert api_client.get(PLANS, HTTP_IF_NONE_MATCH=changed["ETag"]).status_code == 304


# --- what is not stored ---------------------------------------------------------------------


def test_error_answers_are_not_stored(api_client, warm):
    assert api_client.get(PLANS, {"currency": "XYZ"}).status_code == 400
    assert api_client.get(PLANS, {"currency": "XYZ"}).status_code == 400
    assert "ETag" not in api_client.get(PLANS, {"currency": "XYZ"})
    Currency.objects.create(code="XYZ", name="Test", symbol="X", exchange_rate=Decimal("2"))

    assert api_client.get(PLANS, {"currency": "XYZ"}).status_code == 200
    assert api_client.get("/api/v1/tarif-plans/nothing").status_code == 404
    PlanFactory(slug="nothing")
    assert api_client.get("/api/v1/tarif-plans/nothing").status_code == 200


def test_an_identified_callers_add_ons_are_not_served_from_the_cache(
    api_client, user_client, warm, monkeypatch
):
    from billing.catalog import extensions

    plan = PlanFactory()
    bound = AddOnFactory(name="Bound")
    bound.plans.add(plan)
    AddOnFactory(name="Free")
    monkeypatch.setattr(extensions, "subscribed_plan_ids", lambda user: [plan.pk])

    def names(client):
        return [addon["name"] for addon in client.get("/api/v1/addons").json()["addons"]]

    assert names(api_client) == names(api_client) == ["Free"]
    assert names(user_client) == ["Bound", "Free"]
    assert names(api_client) == ["Free"]


def test_the_rate_limit_counts_cached_answers(api_client, warm, settings):
    settings.VBWD_RATE_LIMITS = {"anonymous": "3/minute"}
    client = APIClient()

    with time_machine.travel("2026-11-26 10:00:00", tick=False):
        statuses = [client.get(PLANS, REMOTE_ADDR="198.51.100.60").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


# --- anonymous reads answered before the view -----------------------------------------------

CACHED_ROUTES = [
    (PLANS, {"country": "DE"}),
    ("/api/v1/tarif-plans/pro", {}),
    ("/api/v1/addons", {}),
    ("/api/v1/token-bundles", {}),
    ("/api/v1/config/currencies", {}),
    ("/api/v1/settings/countries", {}),
    ("/api/v1/settings/terms", {}),
]


def _headers(response) -> dict:
    return {name: value for name, value in response.items() if name != "X-Request-ID"}


@pytest.mark.redis
@pytest.mark.parametrize(("path", "query"), CACHED_ROUTES)
def test_an_anonymous_hit_is_answered_before_the_view_as_the_view_answers_it(
    api_client, warm, path, query, monkeypatch, django_assert_num_queries
):
    from vbwd.api import ApiView

    PlanFactory(slug="pro")
    AddOnFactory()
    TokenBundleFactory()
    platform_settings_get()  # its row is made on the first read
    _probe(api_client)
    first = api_client.get(path, query)
    # Another caller's hit through the view (a token sent to a route that ignores it or
    # identifies nobody with it) gives the reference answer.
    by_view = api_client.get(path, query, HTTP_AUTHORIZATION="Bearer not-a-token")
    dispatch = ApiView.dispatch
    monkeypatch.setattr(ApiView, "dispatch", lambda *a, **k: pytest.fail("the view ran"))

    with django_assert_num_queries(HIT_QUERIES):
        early = api_client.get(path, query)

    monkeypatch.setattr(ApiView, "dispatch", dispatch)
    assert first.status_code == by_view.status_code == early.status_code == 200
    assert early.content == by_view.content == first.content
    assert _headers(early) == _headers(by_view) == _headers(first)
    assert "Allow" in early


def test_an_early_answer_counts_the_rate_limit_once_and_the_view_answers_429(
    api_client, warm, settings
):
    settings.VBWD_RATE_LIMITS = {"anonymous": "2/minute"}
    client = APIClient()

    with time_machine.travel("2026-11-26 10:00:00", tick=False):
        first = client.get(PLANS, REMOTE_ADDR="198.51.100.61")  # a miss: rendered, stored
        second = client.get(PLANS, REMOTE_ADDR="198.51.100.61")  # answered before the view
        third = client.get(PLANS, REMOTE_ADDR="198.51.100.61")
        other = client.get(PLANS, REMOTE_ADDR="198.51.100.62")
        window = int(datetime.datetime(2026, 11, 26, 10, tzinfo=datetime.UTC).timestamp() // 60)
        counted = cache.get(f"rl:anonymous:198.51.100.61:{window}")

    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert third.json() == {
        "error": "Rate limit exceeded. Try again in 60 seconds.",
        "code": "rate_limited",
        "retry_after": 60,
    }
    assert third["Retry-After"] == "60"
    assert other.status_code == 200
    assert counted == 3


def test_a_stale_entry_is_rendered_anew_with_one_version_query(api_client, admin_user, warm):
    plan = PlanFactory(slug="pro", price=Decimal("10.00"))
    _cached(api_client, PLANS)
    plan_services.plan_update(plan=plan, data={"price": Decimal("13.00")}, actor=admin_user)
    api_client.get("/api/v1/health")

    with CaptureQueriesContext(connection) as captured:
        fresh = api_client.get(PLANS)

    versions = [q for q in captured.captured_queries if "vbwd_catalogversion" in q["sql"]]
    assert len(versions) == 1
    assert fresh.json()["plans"][0]["price"]["price_decimal"] == "13.00"


def test_only_the_products_own_catalog_routes_are_answered_early():
    from billing.catalog.views.plans.public import TariffPlansView
    from plugins.mounting import _guard

    urlconf = type("urlconf", (), {})()
    urlconf.urlpatterns = [
        path("api/v1/own", TariffPlansView.as_view()),
        path("api/v1/plugins/demo/plans", _guard(TariffPlansView.as_view(), "demo")),
        path("api/v1/other", lambda request: None),
    ]

    assert catalog_cache._is_catalog_route(urlconf, "/api/v1/own") is True
    assert catalog_cache._is_catalog_route(urlconf, "/api/v1/plugins/demo/plans") is False
    assert catalog_cache._is_catalog_route(urlconf, "/api/v1/other") is False
    assert catalog_cache._is_catalog_route(urlconf, "/api/v1/missing") is False


# --- trusting the published version (Redis, PostgreSQL) -------------------------------------


def _trust() -> dict[str, str]:
    redis = catalog_cache._redis()
    fields = redis.hgetall(cache.make_key(catalog_cache.TRUST_KEY))
    return {name.decode(): value.decode() for name, value in fields.items()}


def _trusted() -> bool:
    return _trust() == {"ok": "1"}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_writer_marks_the_version_untrusted_until_it_has_published(admin_user):
    plan = PlanFactory(slug="pro", price=Decimal("10.00"))
    assert catalog_cache.reconcile() == catalog_cache.committed_version()
    assert _trusted()

    with transaction.atomic():
        plan_services.plan_update(plan=plan, data={"price": Decimal("11.00")}, actor=admin_user)
        marks = [name for name in _trust() if name.startswith("w:")]
        assert len(marks) >= 1
        assert not _trusted()

    assert _trusted()
    assert cache.get(catalog_cache.VERSION_KEY) == catalog_cache.committed_version()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_writer_that_never_published_is_reconciled_by_the_next_reader(
    api_client, django_assert_num_queries
):
    PlanFactory(slug="pro", price=Decimal("10.00"))
    _cached(api_client, PLANS)
    # A writer that committed and died before publishing: its mark stays, its number is lost.
    catalog_cache._redis().hset(cache.make_key(catalog_cache.TRUST_KEY), "w:lost", 1)
    Plan.objects.filter(slug="pro").update(price=Decimal("14.00"))
    with transaction.atomic():
        catalog_cache.bump()
    catalog_cache._redis().hset(cache.make_key(catalog_cache.TRUST_KEY), "w:lost", 1)
    cache.set(catalog_cache.VERSION_KEY, catalog_cache.committed_version() - 1, None)

    fresh = api_client.get(PLANS)

    assert fresh.json()["plans"][0]["price"]["price_decimal"] == "14.00"
    assert _trusted()
    assert cache.get(catalog_cache.VERSION_KEY) == catalog_cache.committed_version()
    with django_assert_num_queries(0):
        assert api_client.get(PLANS).content == fresh.content


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_readers_confirm_by_query_while_a_writer_holds_the_version(api_client, admin_user):
    plan = PlanFactory(slug="pro", price=Decimal("10.00"))
    _cached(api_client, PLANS)
    updated, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                plan_services.plan_update(
                    plan=Plan.objects.get(pk=plan.pk), data={"price": Decimal("12.00")},
                    actor=admin_user,
                )  # fmt: skip
                updated.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert updated.wait(30)
        # Uncommitted: the old price, confirmed by a query (the row is locked, nothing trusted).
        with CaptureQueriesContext(connection) as captured:
            during = api_client.get(PLANS)
        assert during.json()["plans"][0]["price"]["price_decimal"] == "10.00"
        assert any("NOWAIT" in query["sql"] for query in captured.captured_queries)
        assert not _trusted()
    finally:
        release.set()
        thread.join(30)

    assert _plan(api_client, {})["price"]["price_decimal"] == "12.00"


@pytest.mark.postgres
@pytest.mark.redis
def test_a_lost_trust_state_is_rebuilt_by_the_next_reader(
    api_client, warm, django_assert_num_queries
):
    PlanFactory(slug="pro")
    _probe(api_client)
    first = _cached(api_client, PLANS)
    cache.delete(catalog_cache.TRUST_KEY)  # evicted, or the cache restarted

    again = api_client.get(PLANS)  # confirmed under the row's lock, and trusted again

    assert again.content == first.content
    assert _trusted()
    with django_assert_num_queries(0):
        api_client.get(PLANS)


@pytest.mark.redis
def test_a_catalog_change_is_refused_while_the_cache_is_unreachable(admin_user, monkeypatch):
    import redis

    plan = PlanFactory(slug="pro", price=Decimal("10.00"))

    class Unreachable:
        def hset(self, *args):
            raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(catalog_cache, "_redis", Unreachable)

    with pytest.raises(ServiceUnavailable) as refused, transaction.atomic():
        plan_services.plan_update(plan=plan, data={"price": Decimal("20.00")}, actor=admin_user)

    assert refused.value.message == (
        "The cache is unreachable; catalog changes are refused until it is back"
    )
    assert Plan.objects.get(pk=plan.pk).price == Decimal("10.00")

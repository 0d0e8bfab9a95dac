"""Fixtures shared by every app's tests."""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

DEFAULT_PASSWORD = "Passw0rd!x"


def pytest_collection_modifyitems(config, items):
    on_postgres = connection.vendor == "postgresql"
    has_redis = bool(os.environ.get("REDIS_URL"))
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL to a PostgreSQL database")
    skip_redis = pytest.mark.skip(reason="needs Redis as the shared cache: set REDIS_URL")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not has_redis:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests end with a flush that also removes the rows data migrations created
    (EUR, the countries, the root category, the invoice method); put them back for the next
    test that uses the database, whichever kind it is: under pytest-xdist a worker that takes
    over tests queued for another may run plain database tests after transactional ones."""
    marker = request.node.get_closest_marker("django_db")
    if (marker is not None and marker.kwargs.get("transaction")) or (
        "transactional_db" in request.fixturenames
    ):
        request.getfixturevalue("transactional_db")
    elif marker is not None or "db" in request.fixturenames:
        request.getfixturevalue("db")
    else:
        yield
        return
    _seed_reference_data()
    yield


def _seed_reference_data() -> None:
    import importlib

    from django.apps import apps

    from billing.catalog.models import Currency

    if not Currency.objects.exists():
        seed = importlib.import_module("billing.catalog.migrations.0002_seed_reference_data").seed
        seed(apps, None)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and cached values never leak from one test into the next."""
    _clear_cache()
    yield
    _clear_cache()


def _clear_cache() -> None:
    from billing.catalog.selectors import currency_places_for_text_forget

    currency_places_for_text_forget()
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # only this run's prefix, never the whole Redis database
    else:
        cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def admin_user(db):
    from accounts.tests.factories import AdminFactory

    return AdminFactory()


def bearer(user) -> dict[str, str]:
    from accounts.jwt import issue_pair

    return {"HTTP_AUTHORIZATION": f"Bearer {issue_pair(user)['token']}"}


@pytest.fixture
def user_client(user) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(user))
    client.user = user
    return client


@pytest.fixture
def admin_client(admin_user) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(admin_user))
    client.user = admin_user
    return client

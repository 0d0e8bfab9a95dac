"""UI events posted by the frontends: checked, logged, never stored."""

from __future__ import annotations

import logging

import pytest
from django.apps import apps

from vbwd.frontend_events import EVENT_TYPES

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.label not in ("auth.Permission", "contenttypes.ContentType")
    }


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def logged():
    logger = logging.getLogger("vbwd.frontend_events")
    handler, level = _Collected(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_valid_events_are_logged_and_nothing_is_stored(user_client, logged):
    before = _row_counts()
    events = [
        {"type": "auth:login", "data": {"via": "password"}, "timestamp": "2027-01-01T10:00:00Z"},
        {"type": "payment:initiated"},
    ]
    response = user_client.post(URL, {"events": events}, format="json")

    assert (response.status_code, response.json()) == (
        200,
        {"received": 2, "processed": 2, "errors": None},
    )
    assert logged == [
        f"frontend event auth:login user={user_client.user.pk} "
        f'timestamp=2027-01-01T10:00:00Z data={{"via": "password"}}',
        f"frontend event payment:initiated user={user_client.user.pk} timestamp=None data={{}}",
    ]
    assert _row_counts() == before


def test_refused_events_are_reported_by_index_and_the_rest_processed(api_client):
    events = [
        {"type": "auth:logout"},
        {"type": "shop:opened"},
        "not an object",
        {"data": {}},
        {"type": "plugin:error", "data": [1]},
        {"type": "user:updated", "timestamp": "yesterday"},
        {"type": "x" * 101},
    ]
    response = api_client.post(URL, {"events": events}, format="json")

    assert response.json() == {
        "received": 7,
        "processed": 1,
        "errors": [
            {"index": 1, "type": "shop:opened", "error": "Unknown event type: shop:opened"},
            {"index": 2, "type": None, "error": "Event must be an object"},
            {"index": 3, "type": None, "error": "type is required"},
            {"index": 4, "type": "plugin:error", "error": "data must be an object"},
            {"index": 5, "type": "user:updated", "error": "timestamp must be a datetime"},
            {"index": 6, "type": "x" * 100, "error": "type must be at most 100 characters"},
        ],
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "events must be a list"),
        ({"events": {"type": "auth:login"}}, "events must be a list"),
        ({"events": None}, "events must be a list"),
        ({"events": [{"type": "auth:login"}] * 101}, "At most 100 events per request"),
    ],
)
def test_the_list_itself_must_be_a_list_of_at_most_100(api_client, body, message):
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == message
    assert response.json()["code"] == "validation_error"


def test_exactly_100_events_are_accepted(api_client):
    response = api_client.post(URL, {"events": [{"type": "auth:login"}] * 100}, format="json")
    assert response.json()["processed"] == 100


def test_an_invalid_token_is_anonymous_not_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    response = api_client.post(URL, {"events": []}, format="json")
    assert (response.status_code, response.json()) == (
        200,
        {"received": 0, "processed": 0, "errors": None},
    )


def test_the_types_are_listed_sorted(api_client):
    response = api_client.get(f"{URL}/types")
    assert response.json() == {"event_types": sorted(EVENT_TYPES)}
    assert len(EVENT_TYPES) == 21


def test_events_are_limited_to_100_a_minute_per_caller(settings, api_client):
    settings.VBWD_RATE_LIMIT_ENABLED = True
    for _ in range(100):
        assert api_client.post(URL, {"events": []}, format="json").status_code == 200
    response = api_client.post(URL, {"events": []}, format="json")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0

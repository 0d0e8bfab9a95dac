"""UI events posted by the frontends: checked, logged, never stored."""

from __future__ import annotations

import logging

import pytest
from django.apps import apps

from vbwd.frontend_events import EVENT_TYPES

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"
BIDI = "auth:\u202elogin"  # a well-formed string, but no type the server knows


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


def test_unknown_types_are_reported_by_index_and_the_rest_processed(api_client):
    events = [
        {"type": "auth:logout"},
        {"type": "shop:opened"},
        {"type": "user:updated", "data": {"field": "name"}},
        {"type": "Auth:Login"},
        {"type": BIDI},
    ]
    response = api_client.post(URL, {"events": events}, format="json")

    assert response.json() == {
        "received": 5,
        "processed": 2,
        "errors": [
            {"index": 1, "type": "shop:opened", "error": "Unknown event type: shop:opened"},
            {"index": 3, "type": "Auth:Login", "error": "Unknown event type: Auth:Login"},
            {
                "index": 4,
                "type": "auth:\u202elogin",
                "error": "Unknown event type: auth:\u202elogin",
            },
        ],
    }


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("not an object", "Event 1: must be an object"),
        (None, "Event 1: must be an object"),
        ({"data": {}}, "Event 1: type is required"),
        ({"type": ""}, "Event 1: type is required"),
        ({"type": 5}, "Event 1: type is required"),
        ({"type": "x" * 101}, "Event 1: type must be at most 100 characters"),
        ({"type": "plugin:error", "data": None}, "Event 1: data must be an object"),
        ({"type": "auth:login", "timestamp": None}, "Event 1: timestamp must be a datetime"),
        ({"type": "plugin:error", "data": [1]}, "Event 1: data must be an object"),
        (
            {"type": "user:updated", "timestamp": "yesterday"},
            "Event 1: timestamp must be a datetime",
        ),
    ],
)
def test_a_malformed_event_refuses_the_request(api_client, logged, event, message):
    body = {"events": [{"type": "auth:login"}, event]}
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"events": [message]}
    assert logged == []


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

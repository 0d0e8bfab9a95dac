"""Records API calls made through Django's test client and renders them as Markdown examples.

Everything that would change from one run to the next is pinned or replaced, so the same code
always renders the same examples:

- the clock is frozen (time-machine) and moved to a fixed instant before each request; every
  ``timezone.now()`` call moves it on by one millisecond, so rows written in one request still
  get distinct, ordered timestamps;
- ids (UUIDs) are renumbered in order of first appearance: ``00000000-0000-4000-8000-000000000001``
  and so on, the same id getting the same number in every example;
- JWTs become ``<access token>`` / ``<refresh token>``, download-link signatures
  ``<signature>`` and the request ids the server made ``<request id>``;
- the keys of free-form JSON objects (``FREE_FORM_KEYS``: plan features, configs, …) are
  sorted, because PostgreSQL's jsonb keeps them in an order of its own.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from unittest import mock

from django.utils import timezone
from rest_framework.test import APIClient

API = "/api/v1"
UTC = datetime.UTC
START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEP = datetime.timedelta(milliseconds=1)

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
SIGNATURE_RE = re.compile(r"signature=[^\"&\s]+")
# A request id the server made (an audit entry's ``request_id``), 32 hex digits.
REQUEST_ID_RE = re.compile(r'"request_id": "[0-9a-f]{32}"')
# Response headers an example shows when the response carries them (``Allow`` only on a 405,
# ``X-Request-ID`` only when the request sent one: otherwise it is a new random id each time).
SHOWN_HEADERS = ("Content-Disposition", "Idempotent-Replayed", "Retry-After", "WWW-Authenticate")


# Objects stored as JSON whose key order depends on the database.
FREE_FORM_KEYS = frozenset(
    {"config", "features", "extra_data", "provider_data", "savedConfig", "before", "after"}
)


class SteppingClock:
    """Frozen time: ``set(section, minute)`` moves it to ``START`` + section hours + minutes; each
    ``timezone.now()`` then adds one millisecond."""

    def __init__(self) -> None:
        try:
            import time_machine  # a development requirement, like the test suite that runs this
        except ImportError as error:
            raise RuntimeError(
                "The API examples need the development requirements (time-machine): "
                "pip install -r requirements-dev.txt"
            ) from error

        self._travel = time_machine.travel(START, tick=False)
        self._coordinates = None
        self._patch = None

    def __enter__(self) -> SteppingClock:
        self._coordinates = self._travel.start()
        real_now = timezone.now

        def stepping_now():
            self._coordinates.shift(STEP)
            return real_now()

        self._patch = mock.patch.object(timezone, "now", stepping_now)
        self._patch.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._patch.stop()
        self._travel.stop()

    def set(self, moment: datetime.datetime) -> None:
        current = datetime.datetime.now(tz=UTC)
        if moment < current:
            raise ValueError(f"The example clock cannot go back from {current} to {moment}")
        self._coordinates.move_to(moment)

    def shift(self, delta: datetime.timedelta) -> None:
        self._coordinates.shift(delta)


@dataclass
class Example:
    name: str
    method: str
    path: str
    request_headers: list[tuple[str, str]]
    body: object
    status: int
    response_headers: list[tuple[str, str]]
    response: object
    note: str | None = None


@dataclass
class Recorder:
    """Performs requests and keeps each one that has a name as an example."""

    clock: SteppingClock
    examples: dict[str, Example] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # who -> email
    _section_start: datetime.datetime = START
    _waited: datetime.timedelta = datetime.timedelta(0)
    _minute: int = 0
    # One client for every request: a client builds the middleware chain once.
    client: APIClient = field(default_factory=APIClient)

    def section(self, hour: int) -> None:
        """A group of examples starts at ``START`` + ``hour`` hours (sections never overlap, so
        adding a request to one section leaves the other sections' timestamps alone)."""
        self._section_start = START + self._waited + datetime.timedelta(hours=hour)
        self._minute = 0
        self.clock.set(self._section_start)

    def wait(self, delta: datetime.timedelta) -> None:
        """Time passes: this section's next request and every later section move by ``delta``."""
        self._waited += delta
        self._section_start += delta
        self.clock.shift(delta)

    def tick(self) -> None:
        """The next request starts one minute later."""
        self._minute += 1
        self.clock.set(self._section_start + datetime.timedelta(minutes=self._minute))

    def call(
        self,
        name: str | None,
        method: str,
        path: str,
        body: object = None,
        *,
        who: str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        same_minute: bool = False,
        show: Callable[[object], object] | None = None,
        expect: int | None = None,
    ):
        """One request (``path`` below ``/api/v1`` unless it starts with ``/``); returns the
        decoded JSON body. ``body`` is sent as JSON, or as it is (a string) with
        ``content_type``; ``show`` trims the response body for the example only."""
        if not same_minute:
            self.tick()
        url = path if path.startswith("/") else f"{API}/{path}"
        request_headers: list[tuple[str, str]] = []
        extra: dict[str, str] = {}
        if who is not None:
            token = _access_token(self.users[who])
            request_headers.append(("Authorization", f"Bearer {token}"))
            extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        for header, value in (headers or {}).items():
            request_headers.append((header, value))
            extra["HTTP_" + header.upper().replace("-", "_")] = value
        sender = getattr(self.client, method.lower())
        if body is None:
            response = sender(url, **extra)
        elif content_type is not None:
            request_headers.append(("Content-Type", content_type))
            response = sender(url, body, content_type=content_type, **extra)
        else:
            request_headers.append(("Content-Type", "application/json"))
            response = sender(url, body, format="json", **extra)
        decoded = _decode(response)
        if expect is not None and response.status_code != expect:
            raise AssertionError(
                f"{method} {url} answered {response.status_code}, expected {expect}: {decoded}"
            )
        if name is not None:
            if name in self.examples:
                raise ValueError(f"Two examples are called {name!r}")
            self.examples[name] = Example(
                name=name,
                method=method.upper(),
                path=url,
                request_headers=request_headers,
                body=body,
                status=response.status_code,
                response_headers=_shown_headers(response, headers or {}),
                response=show(decoded) if show is not None else decoded,
            )
        return decoded


def _shown_headers(response, sent: dict[str, str]) -> list[tuple[str, str]]:
    shown = list(SHOWN_HEADERS)
    if response.status_code == 405:
        shown.insert(0, "Allow")
    if "X-Request-ID" in sent:
        shown.append("X-Request-ID")
    return [(header, response[header]) for header in shown if response.has_header(header)]


def _access_token(email: str) -> str:
    """A fresh access token of the user (tokens live an hour; the example clock runs longer)."""
    from accounts.jwt import issue_pair
    from accounts.models import User

    return issue_pair(User.objects.get(email=email))["token"]


def _decode(response) -> object:
    content_type = response.get("Content-Type", "")
    if content_type.startswith("application/json"):
        return json.loads(response.content or b"null")
    return f"<{len(response.content)} bytes of {content_type.split(';')[0]}>"


class Normaliser:
    """Replaces the values that differ between runs, consistently across every example."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def _id(self, match: re.Match) -> str:
        value = match.group(0)
        if value not in self._ids:
            self._ids[value] = f"00000000-0000-4000-8000-{len(self._ids) + 1:012d}"
        return self._ids[value]

    def text(self, value: str) -> str:
        value = JWT_RE.sub(_jwt_placeholder, value)
        value = SIGNATURE_RE.sub("signature=<signature>", value)
        value = REQUEST_ID_RE.sub('"request_id": "<request id>"', value)
        return UUID_RE.sub(self._id, value)


def _jwt_placeholder(match: re.Match) -> str:
    payload = match.group(0).split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return "<token>"
    return f"<{claims.get('token_type', 'access')} token>"


def render(example: Example, normaliser: Normaliser) -> str:
    """The example as two fenced ``http`` blocks: the request and the response."""
    request_lines = [f"{example.method} {example.path}"]
    request_lines += [f"{name}: {value}" for name, value in example.request_headers]
    if isinstance(example.body, str):
        request_lines += ["", example.body]
    elif example.body is not None:
        request_lines += ["", _json(example.body)]
    reason = HTTPStatus(example.status).phrase
    response_lines = [f"HTTP/1.1 {example.status} {reason}"]
    response_lines += [f"{name}: {value}" for name, value in example.response_headers]
    if isinstance(example.response, str):
        response_lines += ["", example.response]
    elif example.response is not None:
        response_lines += ["", _json(example.response)]
    text = "\n".join(["```http", *request_lines, "```", "", "```http", *response_lines, "```"])
    return normaliser.text(text)


def _json(value: object) -> str:
    return json.dumps(_stable(value), indent=2, ensure_ascii=False)


def _stable(value: object, key: str | None = None) -> object:
    """``value`` with the keys of every free-form JSON object in sorted order."""
    if isinstance(value, dict):
        items = sorted(value.items()) if key in FREE_FORM_KEYS else value.items()
        return {name: _stable(item, name) for name, item in items}
    if isinstance(value, list):
        return [_stable(item, key) for item in value]
    return value

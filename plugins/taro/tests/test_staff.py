"""Staff routes, the disabled plugin, secrets, the deck and the back office."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.tests.factories import AdminFactory
from audit.models import AuditEntry
from conftest import bearer
from plugins.services import plugin_disable
from plugins.taro.deck import CARDS
from plugins.taro.models import Arcana, TaroSession, TaroSessionStatus
from plugins.taro.tests.conftest import API_KEY, fund
from plugins.taro.tests.test_api import ask, create_session

pytestmark = pytest.mark.django_db

SOMEONE = "00000000-0000-4000-8000-000000000001"
USER_ROUTES = [
    ("post", "session"),
    ("post", f"session/{SOMEONE}/follow-up"),
    ("get", "history"),
    ("get", "limits"),
]
STAFF_ROUTES = [
    ("get", f"admin/users/{SOMEONE}/sessions"),
    ("post", f"admin/users/{SOMEONE}/reset-sessions"),
    ("get", "admin/prompts"),
    ("put", "admin/prompts"),
]
PREFIXES = ["/api/v1/plugins/taro/", "/api/v1/taro/"]


def staff_path(prefix: str, rest: str) -> str:
    return f"{prefix}{rest}"


# --- disabled -------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("method", "rest"), USER_ROUTES + STAFF_ROUTES)
def test_a_disabled_taro_answers_404_on_every_route_before_authentication(
    taro, api_client, prefix, method, rest
):
    plugin_disable(name="taro")

    response = getattr(api_client, method)(f"{prefix}{rest}", {}, format="json")

    assert response.status_code == 404
    assert response.json() == {"error": "Plugin 'taro' is not enabled", "code": "not_found"}


def test_a_disabled_taro_answers_404_to_a_signed_in_user_too(taro, user, user_client):
    fund(user, 50)
    plugin_disable(name="taro")

    response = create_session(user_client)

    assert response.status_code == 404
    assert TaroSession.objects.count() == 0


def test_the_api_key_appears_in_no_answer_and_no_log_line(
    taro, user, user_client, admin_client, captured_logs
):
    fund(user, 50)
    session = create_session(user_client).json()["session"]
    taro.fail(429)
    taro.fail(500)
    answers = [
        ask(user_client, session["session_id"]),
        ask(user_client, session["session_id"]),
        ask(user_client, session["session_id"]),
        user_client.get("/api/v1/plugins/taro/limits"),
        admin_client.get("/api/v1/taro/admin/prompts"),
        admin_client.get(f"/api/v1/taro/admin/users/{user.pk}/sessions"),
        admin_client.get("/api/v1/admin/plugins/taro"),
    ]

    assert [answer.status_code for answer in answers] == [502, 502, 201, 200, 200, 200, 200]
    assert taro.requests[-1]["headers"]["authorization"] == f"Bearer {API_KEY}"
    for answer in answers:
        assert API_KEY not in answer.content.decode()
    assert any("LLM endpoint answered HTTP 429" in line for line in captured_logs)
    assert any(line.startswith("openai") for line in captured_logs)
    assert not [line for line in captured_logs if API_KEY in line]


# --- staff routes ---------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("method", "rest"), STAFF_ROUTES)
def test_staff_routes_refuse_users_403_and_anonymous_callers_401(
    taro, api_client, user_client, prefix, method, rest
):
    anonymous = getattr(api_client, method)(f"{prefix}{rest}", {}, format="json")
    user = getattr(user_client, method)(f"{prefix}{rest}", {}, format="json")

    assert anonymous.status_code == 401
    assert anonymous.json()["success"] is False
    assert user.status_code == 403
    assert user.json() == {
        "success": False,
        "error": "Admin access required",
        "message": "Admin access required",
        "code": "permission_denied",
    }


def test_staff_list_a_users_sessions(taro, user, user_client, admin_client):
    fund(user, 50)
    first = create_session(user_client).json()["session"]
    second = create_session(user_client).json()["session"]

    response = admin_client.get(f"/api/v1/taro/admin/users/{user.pk}/sessions")
    unknown = admin_client.get(f"/api/v1/plugins/taro/admin/users/{SOMEONE}/sessions")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [row["session_id"] for row in body["sessions"]] == [
        second["session_id"],
        first["session_id"],
    ]
    assert body["pagination"] == {"limit": 10, "offset": 0, "total": 2}
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "User not found"


def test_reset_sessions_closes_active_sessions_resets_the_count_and_is_audited(
    taro, user, user_client, admin_user, admin_client
):
    fund(user, 100)
    for _ in range(3):
        create_session(user_client)
    assert create_session(user_client).status_code == 429

    response = admin_client.post(f"/api/v1/plugins/taro/admin/users/{user.pk}/reset-sessions")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Closed 1 active session(s); today's session count is reset",
        "closed": 1,
    }
    assert not TaroSession.objects.filter(user=user, status=TaroSessionStatus.ACTIVE).exists()
    entry = AuditEntry.objects.get(action="taro.sessions_reset")
    assert entry.actor_id == admin_user.pk
    assert entry.after == {"closed": 1, "daily_count_cleared": 3}
    assert (
        AuditEntry.objects.filter(action="taro_session.closed", actor_id=admin_user.pk).count() == 1
    )
    limits = user_client.get("/api/v1/taro/limits").json()["limits"]
    assert limits["daily_used"] == 0
    assert create_session(user_client).status_code == 201


def test_prompts_are_read_and_replaced_by_staff_and_used_by_the_next_reading(
    taro, user, user_client, admin_user, admin_client
):
    fund(user, 50)
    session = create_session(user_client).json()["session"]

    shown = admin_client.get("/api/v1/taro/admin/prompts").json()
    changed = admin_client.put(
        "/api/v1/plugins/taro/admin/prompts",
        {"prompts": {"follow_up": "Answer as a poet, in two lines."}},
        format="json",
    )
    ask(user_client, session["session_id"])

    assert shown["success"] is True
    assert set(shown["prompts"]) == {"reading", "follow_up"}
    assert changed.status_code == 200
    assert changed.json() == {
        "success": True,
        "prompts": {
            "reading": shown["prompts"]["reading"],
            "follow_up": "Answer as a poet, in two lines.",
        },
    }
    system = taro.requests[-1]["body"]["messages"][0]
    assert system == {"role": "system", "content": "Answer as a poet, in two lines."}
    entry = AuditEntry.objects.get(action="plugin.configured", actor_id=admin_user.pk)
    assert entry.after == {"follow_up_prompt": "Answer as a poet, in two lines."}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "prompts is required"),
        ({"prompts": "x"}, "prompts must be an object"),
        ({"prompts": {}}, "At least one prompt is required"),
        ({"prompts": {"greeting": "hi"}}, "Unknown prompt: greeting"),
        ({"prompts": {"reading": "   "}}, "Prompt 'reading' must be a non-empty string"),
        (
            {"prompts": {"reading": "x" * 4001}},
            "Prompt 'reading' exceeds the maximum length of 4000 characters",
        ),
    ],
)
def test_prompts_refuse_bad_input_and_change_nothing(taro, admin_client, body, message):
    before = admin_client.get("/api/v1/taro/admin/prompts").json()

    response = admin_client.put("/api/v1/taro/admin/prompts", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert response.json()["code"] == "validation_error"
    assert admin_client.get("/api/v1/taro/admin/prompts").json() == before
    assert (
        not AuditEntry.objects.filter(action="plugin.configured")
        .exclude(after__has_key="llm_api_endpoint")
        .exists()
    )


# --- the deck -------------------------------------------------------------------------------


def test_the_deck_holds_78_distinct_cards_each_with_its_image(taro):
    cards = list(Arcana.objects.all())

    assert len(cards) == 78
    assert sum(card.arcana_type == "MAJOR_ARCANA" for card in cards) == 22
    for suit in ("Wands", "Cups", "Swords", "Pentacles"):
        ranks = [card.rank for card in cards if card.suit == suit]
        assert ranks == [
            "Ace", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten",
            "Page", "Knight", "Queen", "King",
        ]  # fmt: skip
    assert len({card.name for card in cards}) == 78
    assert all(card.upright_meaning and card.reversed_meaning for card in cards)
    images = Path(settings.BASE_DIR) / "plugins" / "taro" / "static" / "taro" / "cards"
    for card in cards:
        svg = (images / f"{card.slug}.svg").read_text(encoding="utf-8")
        assert svg.startswith("<svg ")
        assert card.name in svg
        assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_image_command_draws_the_committed_files(tmp_path, monkeypatch):
    from plugins.taro.management.commands import taro_card_images

    monkeypatch.setattr(taro_card_images, "OUTPUT", tmp_path)
    from django.core.management import call_command

    call_command("taro_card_images", stdout=open("/dev/null", "w"))  # noqa: SIM115

    committed = Path(settings.BASE_DIR) / "plugins" / "taro" / "static" / "taro" / "cards"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        f"{card.slug}.svg" for card in CARDS
    )
    for path in tmp_path.iterdir():
        assert path.read_text() == (committed / path.name).read_text()


# --- back office ----------------------------------------------------------------------------


@pytest.fixture
def back_office() -> Client:
    client = Client()
    client.force_login(AdminFactory())
    return client


def test_the_back_office_edits_a_cards_meanings_only(taro, back_office):
    card = Arcana.objects.get(pk=1)
    url = f"/admin/taro/arcana/{card.pk}/change/"

    page = back_office.get(url)
    saved = back_office.post(
        url,
        {"upright_meaning": "New upright.", "reversed_meaning": "New reversed.", "name": "X"},
    )

    assert page.status_code == 200
    assert saved.status_code == 302
    card.refresh_from_db()
    assert (card.upright_meaning, card.reversed_meaning, card.name) == (
        "New upright.",
        "New reversed.",
        "The Fool",
    )
    assert back_office.get("/admin/taro/arcana/").status_code == 200
    assert back_office.get("/admin/taro/arcana/add/").status_code == 403


def test_the_back_office_shows_sessions_read_only(taro, user, user_client, back_office):
    fund(user, 50)
    session = create_session(user_client).json()["session"]

    listing = back_office.get("/admin/taro/tarosession/")
    page = back_office.get(f"/admin/taro/tarosession/{session['session_id']}/change/")
    changed = back_office.post(f"/admin/taro/tarosession/{session['session_id']}/change/", {})

    assert listing.status_code == 200
    assert session["session_id"] in listing.content.decode()
    assert page.status_code == 200
    assert changed.status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/plugins/taro/admin/users/not-a-uuid/reset-sessions",
        "/api/v1/plugins/taro/session/not-a-uuid/follow-up",
        "/api/v1/taro/session/not-a-uuid/follow-up",
    ],
)
def test_a_post_to_a_malformed_id_answers_the_json_404(taro, user, path):
    client = APIClient(enforce_csrf_checks=True)  # as a real caller: no CSRF exemption
    client.credentials(**bearer(user))

    response = client.post(path, {"question": "x"}, format="json")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_found"

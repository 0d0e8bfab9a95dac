"""The signed-in user and messages serve the back office only: API requests skip them, the
Django admin still signs in, remembers its user and has its messages."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory
from conftest import bearer

pytestmark = pytest.mark.django_db


def test_api_requests_get_no_session_user_or_messages(user):
    response = Client().get("/api/v1/user/profile", **bearer(user))

    assert response.status_code == 200
    django_request = response.wsgi_request
    assert not django_request.session.accessed
    assert not hasattr(django_request, "_messages")
    # The user is the bearer token's, set by the API's authentication.
    assert django_request.user == user
    assert response.cookies == {}
    assert "Cookie" not in response.headers.get("Vary", "")


def test_the_back_office_signs_in_keeps_the_session_and_shows_messages():
    admin = AdminFactory()
    client = Client()

    login_page = client.get("/admin/login/")
    assert login_page.status_code == 200
    signed_in = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin.email, "password": DEFAULT_PASSWORD, "next": "/admin/"},
    )
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/admin/"
    assert "sessionid" in signed_in.cookies

    index = client.get("/admin/")
    assert index.status_code == 200
    assert index.context["user"] == admin
    assert index.wsgi_request.session.session_key == signed_in.cookies["sessionid"].value
    assert hasattr(index.wsgi_request, "_messages")

    logged_out = client.post("/admin/logout/")
    assert logged_out.status_code == 200
    assert client.get("/admin/").status_code == 302

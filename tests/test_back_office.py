"""The back office as a whole: its look on every page, what ordinary staff and superusers see in
the index, and where "View site" leads."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from unfold.admin import ModelAdmin

from accounts.tests.factories import AdminFactory

FRAMEWORK_PAGES = [
    "/admin/token_blacklist/outstandingtoken/",
    "/admin/token_blacklist/blacklistedtoken/",
    "/admin/auth/group/",
]


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_registered_model_admin_is_the_styled_one():
    plain = [
        type(model_admin).__name__
        for model_admin in admin.site._registry.values()
        if not isinstance(model_admin, ModelAdmin)
    ]
    assert plain == []
    assert type(admin.site).__name__ == "UnfoldAdminSite"


@pytest.mark.django_db
def test_staff_do_not_see_sign_in_tokens_or_groups():
    client = _signed_in(AdminFactory())

    index = client.get("/admin/").content.decode()

    assert "/admin/accounts/user/" in index
    for page in FRAMEWORK_PAGES:
        assert page not in index
        assert client.get(page).status_code == 403


@pytest.mark.django_db
def test_superusers_see_and_open_sign_in_tokens_and_groups():
    client = _signed_in(AdminFactory(is_superuser=True))

    index = client.get("/admin/").content.decode()

    for page in FRAMEWORK_PAGES:
        assert page in index
        assert client.get(page).status_code == 200


@pytest.mark.django_db
def test_view_site_opens_the_api_docs():
    page = _signed_in(AdminFactory()).get("/admin/").content.decode()

    assert 'href="/api/v1/docs/"' in page


@pytest.mark.django_db
def test_the_pages_load_the_styles_and_scripts_served_here():
    page = _signed_in(AdminFactory()).get("/admin/").content.decode()

    assert '<link href="/static/unfold/css/styles.css"' in page
    assert '<script src="/static/unfold/js/alpine/alpine.js"' in page

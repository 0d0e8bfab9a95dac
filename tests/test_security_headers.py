"""The Content-Security-Policy every page is served with, and pages that keep to it: the back
office and the API docs load scripts, styles and images from this host only and run no inline
script."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse

EXPECTED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# The back office's interface library compiles its HTML attributes in the browser; its scripts
# still come from this host only and never inline.
BACK_OFFICE_POLICY = {**EXPECTED_POLICY, "script-src": "'self' 'unsafe-eval'"}
# Script types a browser does not execute (data blocks); any other type would run.
DATA_SCRIPT_TYPES = {"application/json"}


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


class _PageAudit(HTMLParser):
    """Collects what would break under the policy: inline scripts, inline event handlers,
    ``javascript:`` links and resources from another host."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.resources: list[str] = []
        self._inline_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> inline event handler")
            if name in {"href", "src", "action"} and (value or "").strip().startswith(
                "javascript:"
            ):
                self.problems.append(f"<{tag} {name}={value!r}>")
        for name in ("src", "href"):
            value = attributes.get(name)
            if value and tag in {"script", "link", "img", "iframe"}:
                self.resources.append(value)
        if tag == "script" and not attributes.get("src"):
            self._inline_script = attributes.get("type") not in DATA_SCRIPT_TYPES

    def handle_data(self, data):
        if self._inline_script and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._inline_script = False


def _audit(response) -> _PageAudit:
    audit = _PageAudit()
    audit.feed(response.content.decode())
    return audit


def _request_of(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _assert_keeps_to_the_policy(response, page: str = "") -> None:
    assert response.status_code == 200, page
    back_office = response.wsgi_request.path_info.startswith("/admin/")
    assert _policy(response) == (BACK_OFFICE_POLICY if back_office else EXPECTED_POLICY), page
    audit = _audit(response)
    assert audit.problems == [], page
    foreign = [url for url in audit.resources if "//" in url.split("?")[0]]
    assert foreign == [], f"{page}: resources from another host"


@pytest.mark.django_db
def test_an_api_answer_carries_the_policy(api_client):
    response = api_client.get("/api/v1/health")
    assert _policy(response) == EXPECTED_POLICY


@pytest.mark.django_db
def test_the_admin_login_page_keeps_to_the_policy():
    _assert_keeps_to_the_policy(Client().get(reverse("admin:login")))


@pytest.mark.django_db
def test_every_back_office_list_and_add_page_keeps_to_the_policy(admin_user):
    # A superuser: the sign-in token and group pages are theirs only.
    admin_user.is_superuser = True
    admin_user.save(update_fields=["is_superuser"])
    client = Client()
    client.force_login(admin_user)
    pages = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        pages.append(reverse("admin:{}_{}_changelist".format(*info)))
        if model_admin.has_add_permission(_request_of(admin_user)):
            pages.append(reverse("admin:{}_{}_add".format(*info)))
    assert len(pages) > 30
    for page in pages:
        _assert_keeps_to_the_policy(client.get(page, follow=True), page)


@pytest.mark.django_db
def test_a_customer_change_page_keeps_to_the_policy(admin_user, user):
    client = Client()
    client.force_login(admin_user)
    _assert_keeps_to_the_policy(client.get(reverse("admin:accounts_user_change", args=[user.pk])))


@pytest.mark.django_db
def test_the_api_docs_load_swagger_ui_from_this_host():
    response = Client().get("/api/v1/docs/")
    _assert_keeps_to_the_policy(response)
    scripts = _audit(response).resources
    assert [url for url in scripts if url.endswith(".js")] == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
    ]
    # The start-up script is a file of its own, not an inline block.
    assert '<script src="/api/v1/docs/?script="></script>' in response.content.decode()
    script = Client().get("/api/v1/docs/", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b'url: "/api/v1/schema/?format\\u003Djson"' in script.content


@pytest.mark.django_db
def test_redoc_loads_from_this_host():
    response = Client().get("/api/v1/redoc/")
    _assert_keeps_to_the_policy(response)
    assert _audit(response).resources == [
        "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
    ]
    assert '<redoc spec-url="/api/v1/schema/?format=json"></redoc>' in response.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_every_asset_of_the_api_docs_is_served_by_this_server(live_server, page):
    """Nothing the docs need comes from another host: with the network cut off they still load."""
    from urllib.request import urlopen

    with urlopen(live_server.url + page, timeout=10) as response:
        audit = _PageAudit()
        audit.feed(response.read().decode())
    assets = audit.resources
    assert assets, page
    for asset in assets:
        assert asset.startswith("/"), asset
        with urlopen(live_server.url + asset, timeout=10) as response:
            assert response.status == 200, asset
            assert len(response.read()) > 0, asset

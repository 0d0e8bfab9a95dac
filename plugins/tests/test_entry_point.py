"""A plugin packaged outside the repository, discovered through its entry point.

Each test lays out an installed package in ``tmp_path`` exactly as pip leaves it in
site-packages (the package and its ``.dist-info`` with a ``vbwd.plugins`` entry point), then runs
``manage.py`` in a fresh process with that directory on ``PYTHONPATH``: settings are read once
per process, so discovery can only be observed from a new one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.discovery import ENTRY_POINT_GROUP, entry_point_apps

ROOT = Path(__file__).resolve().parents[2]

HELLO_APPS = '''
from plugins.base import PluginConfig, SettingSpec


class HelloConfig(PluginConfig):
    """A third-party plugin installed as a package."""

    name = "vbwd_hello"
    label = "hello"
    verbose_name = "Hello plugin"

    plugin_name = "hello"
    version = "0.1.0"
    author = "Someone Else"
    description = "Says hello from outside the repository."
    urls = "vbwd_hello.urls"
    settings_schema = {
        "greeting": SettingSpec(type="string", default="hi", description="Shown to callers"),
        "api_key": SettingSpec(type="string", secret=True, description="Provider key"),
    }
'''

HELLO_URLS = """
from rest_framework.response import Response

from vbwd.api import ApiView, PublicMixin, route


class HelloView(PublicMixin, ApiView):
    def get(self, request):
        return Response({"hello": True})


urlpatterns = [
    route(r"", HelloView.as_view(), name="hello"),
]
"""

REQUEST_HELLO = """
import json

import django

django.setup()

from django.test import Client

response = Client().get("/api/v1/plugins/hello/")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def _write_distribution(
    site: Path, *, distribution: str, version: str, entry_points: dict[str, str]
) -> None:
    dist_info = site / f"{distribution}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    (dist_info / "RECORD").write_text("")


@pytest.fixture
def site(tmp_path) -> Path:
    """A site-packages directory holding the installed ``vbwd_hello`` distribution."""
    site = tmp_path / "site"
    package = site / "vbwd_hello"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "apps.py").write_text(HELLO_APPS)
    (package / "urls.py").write_text(HELLO_URLS)
    _write_distribution(
        site, distribution="vbwd_hello", version="0.1.0", entry_points={"hello": "vbwd_hello"}
    )
    return site


def _environment(tmp_path: Path, site: Path | None, **extra: str) -> dict[str, str]:
    """This process's environment on SQLite in ``tmp_path`` with the local-memory cache."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "PYTHONPATH", "VBWD_DISCOVER_PLUGINS"}
        and not name.startswith("VBWD_PLUGIN_")
    }
    environment["DJANGO_SETTINGS_MODULE"] = "vbwd.settings"
    environment["VBWD_SQLITE_PATH"] = str(tmp_path / "db.sqlite3")
    environment["CELERY_BROKER_URL"] = ""
    if site is not None:
        environment["PYTHONPATH"] = str(site)
    environment.update(extra)
    return environment


def _run(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _manage(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess:
    return _run(environment, "manage.py", *arguments)


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _request_hello(environment: dict[str, str]) -> dict:
    output = _ok(_run(environment, "-c", REQUEST_HELLO))
    return json.loads(output.strip().splitlines()[-1])


# --- discovery in the settings of a new process ------------------------------------------------


def test_an_installed_package_is_discovered_listed_and_can_be_enabled(tmp_path, site):
    environment = _environment(tmp_path, site)
    _ok(_manage(environment, "migrate", "--no-input", "-v", "0"))

    listed_before = _ok(_manage(environment, "plugins", "list"))
    before = _request_hello(environment)
    enabled = _ok(_manage(environment, "plugins", "enable", "hello"))
    listed_after = _ok(_manage(environment, "plugins", "list"))
    after = _request_hello(environment)

    assert listed_before.splitlines() == [
        "analytics  1.0.0     inactive",
        "chat       1.0.0     inactive",
        "demo       1.0.0     inactive",
        "hello      0.1.0     inactive",
        "paypal     1.0.0     inactive",
        "stripe     1.0.0     inactive",
        "taro       1.0.0     inactive",
        "yookassa   1.0.0     inactive",
    ]
    assert before == {
        "status": 404,
        "body": {"error": "Plugin 'hello' is not enabled", "code": "not_found"},
    }
    assert enabled.strip() == "Plugin hello enabled"
    assert listed_after.splitlines() == [
        "analytics  1.0.0     inactive",
        "chat       1.0.0     inactive",
        "demo       1.0.0     inactive",
        "hello      0.1.0     active",
        "paypal     1.0.0     inactive",
        "stripe     1.0.0     inactive",
        "taro       1.0.0     inactive",
        "yookassa   1.0.0     inactive",
    ]
    assert after == {"status": 200, "body": {"hello": True}}


def test_info_reports_the_secret_as_set_and_never_its_value(tmp_path, site):
    environment = _environment(tmp_path, site)
    _ok(_manage(environment, "migrate", "--no-input", "-v", "0"))
    _ok(_manage(environment, "plugins", "enable", "hello"))

    configured = _ok(_manage(environment, "plugins", "config", "hello", "api_key=s3cr3t"))
    info_output = _ok(_manage(environment, "plugins", "info", "hello"))

    assert configured.splitlines() == [
        "Configuration saved",
        "  greeting = 'hi'",
        "  api_key = (set)",
    ]
    info = json.loads(info_output)
    assert info["name"] == "hello"
    assert info["version"] == "0.1.0"
    assert info["author"] == "Someone Else"
    assert info["status"] == "active"
    assert info["enabled"] is True
    assert info["savedConfig"] == {"greeting": "hi"}
    assert info["secretsSet"] == {"api_key": True}
    assert info["configSchema"]["api_key"] == {
        "type": "string",
        "default": None,
        "description": "Provider key",
        "secret": True,
    }
    assert "s3cr3t" not in info_output
    with sqlite3.connect(tmp_path / "db.sqlite3") as database:
        (stored,) = database.execute(
            "SELECT secrets FROM plugins_plugin WHERE name = ?", ("hello",)
        ).fetchone()
    assert stored != ""
    assert "s3cr3t" not in stored


def test_without_the_package_on_the_path_the_plugin_is_not_installed(tmp_path, site):
    result = _manage(_environment(tmp_path, None), "plugins", "info", "hello")

    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: Plugin not found"


def test_discovery_switched_off_skips_the_installed_package(tmp_path, site):
    result = _manage(
        _environment(tmp_path, site, VBWD_DISCOVER_PLUGINS="0"), "plugins", "info", "hello"
    )

    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: Plugin not found"


def test_the_discovered_app_is_appended_to_installed_apps(tmp_path, site):
    show = "from django.conf import settings; print(settings.INSTALLED_APPS[-6:])"

    output = _ok(_run(_environment(tmp_path, site), "-c", f"import django; django.setup(); {show}"))

    assert output.strip() == (
        "['plugins.yookassa', 'plugins.paypal', 'plugins.analytics', 'plugins.chat', "
        "'plugins.taro', 'vbwd_hello']"
    )


# --- plugins.discovery.entry_point_apps --------------------------------------------------------


def test_entry_point_apps_finds_the_package_on_the_path(monkeypatch, site):
    monkeypatch.syspath_prepend(str(site))

    assert entry_point_apps() == ["vbwd_hello"]


def test_entry_point_apps_finds_nothing_without_the_package():
    assert "vbwd_hello" not in entry_point_apps()


def test_entry_point_apps_are_sorted_by_name_and_the_first_of_a_name_wins(
    monkeypatch, tmp_path, site
):
    shadowed = tmp_path / "later"
    _write_distribution(
        site,
        distribution="vbwd_zeta",
        version="2.0",
        entry_points={"alpha": "vbwd_zeta.apps.ZetaConfig"},
    )
    _write_distribution(
        shadowed, distribution="vbwd_other", version="1.0", entry_points={"hello": "vbwd_other"}
    )
    # syspath_prepend puts the last call first: ``site`` is searched before ``shadowed``.
    monkeypatch.syspath_prepend(str(shadowed))
    monkeypatch.syspath_prepend(str(site))

    assert entry_point_apps() == ["vbwd_zeta.apps.ZetaConfig", "vbwd_hello"]

"""The taro plugin enabled and pointed at a local OpenAI-compatible server."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from plugins import state
from plugins.services import plugin_configure, plugin_enable
from tests.support.llm_server import LLMServer, LogCapture
from tokens.services import tokens_credit

API_KEY = "sk-taro-local-secret-51c2e8"


@pytest.fixture(scope="session")
def _llm_server_process():
    server = LLMServer.start()
    yield server
    server.stop()


@pytest.fixture
def llm_server(_llm_server_process):
    _llm_server_process.reset()
    return _llm_server_process


def load_deck() -> None:
    """The deck a data migration loads; put back after a transactional test's flush."""
    from plugins.taro.models import Arcana

    if Arcana.objects.count() < 78:
        importlib.import_module("plugins.taro.migrations.0002_load_deck").load_deck(apps, None)


@pytest.fixture
def taro(db, llm_server, django_capture_on_commit_callbacks):
    """Enabled, with the local server as endpoint and the secret key stored encrypted."""
    load_deck()
    with django_capture_on_commit_callbacks(execute=True):
        plugin_enable(name="taro")
        plugin_configure(
            name="taro",
            values={
                "llm_api_endpoint": llm_server.url,
                "llm_api_key": API_KEY,
                "llm_model": "local-model",
                "llm_timeout_seconds": 2,
            },
        )
    state.forget()
    llm_server.reply("The cards counsel patience.")
    return llm_server


def configure(**values) -> None:
    plugin_configure(name="taro", values=values)
    state.forget()


def fund(user, amount: int) -> None:
    tokens_credit(user=user, amount=amount, description="Test tokens")


@pytest.fixture
def captured_logs():
    with LogCapture() as lines:
        yield lines

"""The chat plugin enabled and pointed at a local OpenAI-compatible server."""

from __future__ import annotations

import pytest

from plugins import state
from plugins.services import plugin_configure, plugin_enable
from tests.support.llm_server import LLMServer, LogCapture

API_KEY = "sk-local-secret-7f3a9c"


@pytest.fixture(scope="session")
def _llm_server_process():
    server = LLMServer.start()
    yield server
    server.stop()


@pytest.fixture
def llm_server(_llm_server_process):
    _llm_server_process.reset()
    return _llm_server_process


@pytest.fixture
def chat(db, llm_server, django_capture_on_commit_callbacks):
    """Enabled, with the local server as endpoint and the secret key stored encrypted."""
    with django_capture_on_commit_callbacks(execute=True):
        plugin_enable(name="chat")
        plugin_configure(
            name="chat",
            values={
                "llm_api_endpoint": llm_server.url,
                "llm_api_key": API_KEY,
                "llm_model": "local-model",
                "llm_timeout_seconds": 2,
                "system_prompt": "Answer briefly.",
            },
        )
    state.forget()
    return llm_server


def configure(**values) -> None:
    plugin_configure(name="chat", values=values)
    state.forget()


@pytest.fixture
def captured_logs():
    with LogCapture() as lines:
        yield lines

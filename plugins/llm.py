"""Access to a language model, shared by the plugins that bill for answers (chat, taro).

One way in: ``llm_complete`` sends a list of chat messages to any OpenAI-compatible endpoint
through the official ``openai`` client and returns the reply text with the endpoint's usage
counts. The client never retries on its own (a silent second call could be answered twice and
billed twice); the caller decides. Calls are refused inside a database transaction: a plugin
claims what it needs, commits, calls, then records the outcome.

Errors become the API's: no endpoint configured → 503 ``service_unavailable``; anything the
endpoint answers other than a reply (429, 5xx, a timeout, a refused connection, a malformed
body) → 502 ``provider_error`` with the caller's message. The API key is never logged and never
part of an error message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import openai

from plugins.base import SettingSpec
from vbwd.exceptions import DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)

NOT_CONFIGURED_MESSAGE = "LLM API endpoint is not configured"


def llm_settings_schema(*, default_model: str = "gpt-4o-mini") -> dict[str, SettingSpec]:
    """The configuration keys every LLM-billing plugin declares (endpoint, key, model, timeout)."""
    return {
        "llm_api_endpoint": SettingSpec(
            default="",
            description="Base URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1",
            label="LLM API endpoint",
        ),
        "llm_api_key": SettingSpec(
            secret=True,
            description="API key sent as a bearer token to the endpoint",
            label="LLM API key",
        ),
        "llm_model": SettingSpec(
            default=default_model, description="Model name sent with every request", label="Model"
        ),
        "llm_timeout_seconds": SettingSpec(
            type="number",
            default=30,
            description="How long one model call may take before it counts as failed",
            label="Request timeout (s)",
        ),
    }


def llm_admin_fields() -> list[dict]:
    """The back office's fields for the keys of ``llm_settings_schema`` (a plugin's *Model*
    tab starts with them)."""
    return [
        {"key": "llm_api_endpoint", "label": "LLM API endpoint", "component": "input"},
        {
            "key": "llm_api_key",
            "label": "LLM API key",
            "component": "input",
            "inputType": "password",
        },
        {"key": "llm_model", "label": "Model", "component": "input"},
        {"key": "llm_timeout_seconds", "label": "Request timeout (s)", "component": "number"},
    ]


@dataclass(frozen=True)
class LLMConfig:
    endpoint: str
    model: str
    timeout: float
    api_key: str = field(repr=False)  # never printed, never logged


@dataclass(frozen=True)
class Completion:
    """A model's reply and the endpoint's own usage counts (0 when it sent none)."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class ProviderError(DomainError):
    status_code = 502
    code = "provider_error"
    default_message = "LLM service unavailable"


def llm_config(plugin_name: str) -> LLMConfig:
    """The effective LLM settings of a plugin; 503 when no endpoint is configured."""
    from plugins import state  # not at import time: app configs import this module

    endpoint = (state.config_value(plugin_name, "llm_api_endpoint") or "").strip()
    if not endpoint:
        raise ServiceUnavailable(NOT_CONFIGURED_MESSAGE)
    timeout = state.config_value(plugin_name, "llm_timeout_seconds")
    return LLMConfig(
        endpoint=endpoint,
        model=state.config_value(plugin_name, "llm_model") or "gpt-4o-mini",
        timeout=float(timeout) if timeout else 30.0,
        # The SDK refuses an empty key; an endpoint without authentication ignores this one.
        api_key=state.config_value(plugin_name, "llm_api_key") or "unused",
    )


def llm_complete(
    *, config: LLMConfig, messages: list[dict[str, str]], error_message: str
) -> Completion:
    """One model call, never inside a transaction and never retried; a ProviderError
    (502, ``error_message``) when the endpoint gives no usable reply."""
    from vbwd.idempotency import in_transaction  # not at import time (it loads models)

    if in_transaction():
        raise RuntimeError("A model is never called inside a database transaction")
    client = openai.OpenAI(
        base_url=config.endpoint,
        api_key=config.api_key,
        timeout=config.timeout,
        max_retries=0,
    )
    try:
        with client:
            answer = client.chat.completions.create(model=config.model, messages=messages)
    except openai.APIStatusError as error:
        logger.warning("LLM endpoint answered HTTP %s", error.status_code)
        raise ProviderError(error_message) from None
    except openai.APITimeoutError:
        logger.warning("LLM endpoint did not answer within %s s", config.timeout)
        raise ProviderError(error_message) from None
    except openai.APIError as error:
        logger.warning("LLM call failed: %s", type(error).__name__)
        raise ProviderError(error_message) from None
    choices = getattr(answer, "choices", None) or []
    text = choices[0].message.content if choices and choices[0].message else None
    if not isinstance(text, str) or not text.strip():
        logger.warning("LLM endpoint answered without a reply text")
        raise ProviderError(error_message)
    usage = getattr(answer, "usage", None)
    return Completion(
        text=text,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )

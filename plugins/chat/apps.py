from plugins.base import PluginConfig, SettingSpec
from plugins.llm import llm_admin_fields, llm_settings_schema

COUNTING_MODES = ("words", "data_volume", "tokenizer")


class ChatConfig(PluginConfig):
    """A chat with a language model, each message and reply billed in tokens."""

    name = "plugins.chat"
    label = "chat"
    verbose_name = "LLM chat"

    plugin_name = "chat"
    version = "1.0.0"
    author = "VBWD"
    description = "Chat with a language model; every message and its reply are paid in tokens."
    urls = "plugins.chat.urls"
    settings_schema = {
        **llm_settings_schema(),
        "system_prompt": SettingSpec(
            default="You are a helpful assistant.",
            description="Instructions sent before the conversation with every message",
            label="System prompt",
        ),
        "counting_mode": SettingSpec(
            default="words",
            enum=COUNTING_MODES,
            description="How a text's token cost is counted: words (words ÷ words per token), "
            "data_volume (megabytes ÷ MB per token) or tokenizer (about four characters a "
            "model token, ÷ model tokens per token)",
            label="Counting mode",
        ),
        "words_per_token": SettingSpec(
            type="number", default=10, description="Words per token (words mode)",
            label="Words per token",
        ),
        "mb_per_token": SettingSpec(
            type="number", default=0.001,
            description="Megabytes of UTF-8 text per token (data_volume mode)",
            label="MB per token",
        ),
        "tokens_per_token": SettingSpec(
            type="number", default=100,
            description="Model tokens per token (tokenizer mode)", label="Model tokens per token",
        ),
        "max_message_length": SettingSpec(
            type="integer", default=4000, description="Longest message accepted, in characters",
            label="Maximum message length",
        ),
        "max_history_messages": SettingSpec(
            type="integer", default=20,
            description="How many of the latest history messages are sent with a message",
            label="History messages sent",
        ),
    }  # fmt: skip
    admin_config = {
        "tabs": [
            {
                "id": "model",
                "label": "Model",
                "fields": [
                    *llm_admin_fields(),
                    {"key": "system_prompt", "label": "System prompt", "component": "textarea"},
                ],
            },
            {
                "id": "billing",
                "label": "Billing",
                "fields": [
                    {"key": "counting_mode", "label": "Counting mode", "component": "select"},
                    {"key": "words_per_token", "label": "Words per token", "component": "number"},
                    {"key": "mb_per_token", "label": "MB per token", "component": "number"},
                    {"key": "tokens_per_token", "label": "Model tokens per token",
                     "component": "number"},
                    {"key": "max_message_length", "label": "Maximum message length",
                     "component": "number"},
                    {"key": "max_history_messages", "label": "History messages sent",
                     "component": "number"},
                ],
            },
        ]
    }  # fmt: skip

from plugins.base import PluginConfig, SettingSpec
from plugins.llm import llm_admin_fields, llm_settings_schema

DEFAULT_READING_PROMPT = (
    "You are a thoughtful tarot reader. Read the cards on the table for the querent's "
    "question: name each card, its position and orientation, and tie them together in a few "
    "short paragraphs. Be kind and practical; never predict health, legal or financial outcomes."
)
DEFAULT_FOLLOW_UP_PROMPT = (
    "You are a thoughtful tarot reader continuing a reading. Answer the querent's follow-up "
    "question from the cards on the table, briefly and kindly, in a few short paragraphs."
)


class TaroConfig(PluginConfig):
    """Tarot readings: three cards per session and follow-up questions answered by a language
    model, each billed in tokens."""

    name = "plugins.taro"
    label = "taro"
    verbose_name = "Tarot readings"

    plugin_name = "taro"
    version = "1.0.0"
    author = "VBWD"
    description = "Tarot readings with follow-up answers from a language model, paid in tokens."
    urls = "plugins.taro.urls"
    api_urls = "plugins.taro.api_urls"
    settings_schema = {
        **llm_settings_schema(),
        "reading_prompt": SettingSpec(
            default=DEFAULT_READING_PROMPT,
            description="System prompt of a reading of newly laid cards (a new spread)",
            label="Reading prompt",
        ),
        "follow_up_prompt": SettingSpec(
            default=DEFAULT_FOLLOW_UP_PROMPT,
            description="System prompt of a follow-up question about the cards on the table",
            label="Follow-up prompt",
        ),
        "session_cost": SettingSpec(
            type="integer", default=10, description="Tokens a new session costs",
            label="Session cost",
        ),
        "follow_up_cost": SettingSpec(
            type="integer", default=5, description="Tokens an answered follow-up costs",
            label="Follow-up cost",
        ),
        "session_minutes": SettingSpec(
            type="integer", default=30, description="Minutes a session stays open",
            label="Session length (minutes)",
        ),
        "default_daily_limit": SettingSpec(
            type="integer", default=3,
            description="Sessions per UTC day when no plan sets daily_taro_limit",
            label="Default daily limit",
        ),
        "default_max_follow_ups": SettingSpec(
            type="integer", default=3,
            description="Follow-ups per session when no plan sets max_taro_follow_ups",
            label="Default follow-ups per session",
        ),
    }  # fmt: skip
    admin_config = {
        "tabs": [
            {
                "id": "model",
                "label": "Model",
                "fields": [
                    *llm_admin_fields(),
                    {"key": "reading_prompt", "label": "Reading prompt", "component": "textarea"},
                    {"key": "follow_up_prompt", "label": "Follow-up prompt",
                     "component": "textarea"},
                ],
            },
            {
                "id": "limits",
                "label": "Costs and limits",
                "fields": [
                    {"key": "session_cost", "label": "Session cost", "component": "number"},
                    {"key": "follow_up_cost", "label": "Follow-up cost", "component": "number"},
                    {"key": "session_minutes", "label": "Session length (minutes)",
                     "component": "number"},
                    {"key": "default_daily_limit", "label": "Default daily limit",
                     "component": "number"},
                    {"key": "default_max_follow_ups", "label": "Default follow-ups per session",
                     "component": "number"},
                ],
            },
        ]
    }  # fmt: skip

    def ready(self) -> None:
        super().ready()
        from plugins.taro import jobs

        jobs.register()

from plugins.base import PluginConfig


class AnalyticsConfig(PluginConfig):
    """Business figures for staff: MRR, ARR, revenue, active subscriptions, user growth, churn,
    trial conversion and ARPU over a period, each compared with the period before it."""

    name = "plugins.analytics"
    label = "analytics"
    verbose_name = "Analytics"

    plugin_name = "analytics"
    version = "1.0.0"
    author = "VBWD"
    description = "MRR, ARR, revenue, churn, trial conversion and ARPU for staff."
    urls = "plugins.analytics.urls"
    api_urls = "plugins.analytics.api_urls"

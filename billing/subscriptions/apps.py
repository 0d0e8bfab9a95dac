from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    """Subscriptions to plans and add-ons: their states, periods and line-type handlers."""

    name = "billing.subscriptions"
    label = "subscriptions"
    verbose_name = "Subscriptions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.subscriptions import hooks, lines, receivers  # noqa: F401

        lines.register()
        hooks.register()

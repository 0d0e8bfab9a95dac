from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    """Subscriptions to plans and add-ons: their states, periods and line-type handlers."""

    name = "billing.subscriptions"
    label = "subscriptions"
    verbose_name = "Subscriptions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.extensions import CUSTOMER_ADMIN_SECTIONS
        from billing.subscriptions import admin, hooks, lines, receivers  # noqa: F401

        lines.register()
        for section in admin.CUSTOMER_SECTIONS:
            CUSTOMER_ADMIN_SECTIONS.register(section)
        hooks.register()

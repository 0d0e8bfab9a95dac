from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks: endpoints staff register, the outbox of deliveries written with each
    domain event, and their signed delivery with retries."""

    name = "webhooks"
    verbose_name = "Outbound webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webhooks import jobs, receivers  # noqa: F401

        jobs.register()

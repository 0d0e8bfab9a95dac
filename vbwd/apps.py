from django.apps import AppConfig


class VbwdConfig(AppConfig):
    """Cross-cutting API plumbing (idempotency records); no business rules live here."""

    name = "vbwd"
    verbose_name = "API plumbing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from vbwd import catalog_cache

        # Data migrations write through historical models, which send no signals.
        post_migrate.connect(
            catalog_cache.publish_committed, sender=self, dispatch_uid="catalog-version:migrate"
        )

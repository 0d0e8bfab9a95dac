from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, billing details, roles, JWT authentication and the password flows."""

    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import receivers, schema  # noqa: F401

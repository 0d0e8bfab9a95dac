from django.apps import AppConfig


class TokensConfig(AppConfig):
    """Token bundles (what can be bought) and, later, balances and the ledger."""

    name = "tokens"
    verbose_name = "Tokens"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class TokensConfig(AppConfig):
    """Token bundles (what can be bought) and, later, balances and the ledger."""

    name = "tokens"
    verbose_name = "Tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.catalog.extensions import register_usage_counter
        from tokens.selectors import bundle_count_in_currency

        # A currency that prices bundles cannot be deleted (deactivate it instead).
        register_usage_counter("currency", bundle_count_in_currency)

from django.apps import AppConfig


class TokensConfig(AppConfig):
    """Token bundles, one balance per user and the append-only ledger."""

    name = "tokens"
    verbose_name = "Tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.extensions import CUSTOMER_ADMIN_SECTIONS
        from billing.catalog.extensions import CURRENCY_USAGE
        from tokens import admin, lines, receivers  # noqa: F401
        from tokens.models import TokenBundle
        from tokens.selectors import bundle_count_in_currency
        from tokens.services.ledger import register_account_hooks
        from vbwd import catalog_cache

        # A currency that prices bundles cannot be deleted (deactivate it instead).
        CURRENCY_USAGE.register(bundle_count_in_currency)
        register_account_hooks()
        for section in admin.CUSTOMER_SECTIONS:
            CUSTOMER_ADMIN_SECTIONS.register(section)
        # Paying a TOKEN_BUNDLE line credits the bundle; refunds claw back through the ledger.
        lines.register()
        # The public bundle list is a cached catalog answer.
        catalog_cache.track(TokenBundle)

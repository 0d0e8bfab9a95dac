from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    """Invoices, payments, credit notes, number sequences, tax, capture, refunds and PDFs."""

    name = "billing.invoices"
    label = "invoices"
    verbose_name = "Invoices"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.extensions import CUSTOMER_ADMIN_SECTIONS
        from billing.invoices import admin, checks, lines, receivers  # noqa: F401 (checks)

        lines.register_core_types()
        for section in admin.CUSTOMER_SECTIONS:
            CUSTOMER_ADMIN_SECTIONS.register(section)
        receivers.register_account_hooks()

from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    """Invoices, payments, credit notes, number sequences, tax, capture, refunds and PDFs."""

    name = "billing.invoices"
    label = "invoices"
    verbose_name = "Invoices"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.invoices import lines, receivers

        lines.register_core_types()
        receivers.register_account_hooks()

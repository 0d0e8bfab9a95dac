"""Creates the demo data; safe to run again (existing rows are left as they are)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.demo import seed_accounts
from billing.catalog.demo import seed_catalog
from billing.demo import seed_billing
from platform_settings.demo import seed_seller
from tokens.demo import seed_bundles

# The plugins the demo turns on (they need no keys), with where to see them.
DEMO_PLUGINS = {
    "demo": "GET /api/v1/plugins/demo/",
    "analytics": "GET /api/v1/admin/analytics/dashboard (staff)",
}


class Command(BaseCommand):
    help = (
        "Seeds the demo accounts, the demo seller details, the demo catalog and the demo "
        "customer's invoices, and enables the demo and analytics plugins."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            accounts = seed_accounts()
            seller_fields = seed_seller()
            catalog_rows = seed_catalog()
            bundles = self._token_bundles()
            plugins_enabled = self._demo_plugins()
            invoices = seed_billing()
        for email, password, created in accounts:
            state = "created" if created else "already there"
            self.stdout.write(f"{email} / {password} ({state})")
        if seller_fields:
            self.stdout.write(f"seller: {seller_fields} demo seller detail(s) filled in")
        self.stdout.write(f"catalog: {catalog_rows + bundles} row(s) created")
        self.stdout.write(f"billing: {invoices} demo invoice(s) issued")
        for name in plugins_enabled:
            self.stdout.write(f"{name} plugin enabled: {DEMO_PLUGINS[name]}")
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _token_bundles(self) -> int:
        return seed_bundles()

    def _demo_plugins(self) -> list[str]:
        """Enables each demo plugin once; a later disable by staff is respected."""
        from plugins import services as plugin_services
        from plugins.models import Plugin

        seen = set(Plugin.objects.filter(name__in=DEMO_PLUGINS).values_list("name", flat=True))
        enabled = [name for name in DEMO_PLUGINS if name not in seen]
        for name in enabled:
            plugin_services.plugin_enable(name=name, actor=None)
        return enabled

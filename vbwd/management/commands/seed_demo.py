"""Creates the demo data; safe to run again (existing rows are left as they are)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.demo import seed_accounts
from billing.catalog.demo import seed_catalog
from billing.demo import seed_billing
from platform_settings.demo import seed_seller
from tokens.demo import seed_bundles


class Command(BaseCommand):
    help = (
        "Seeds the demo accounts, the demo seller details, the demo catalog and the demo "
        "customer's invoices, and enables the demo plugin."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            accounts = seed_accounts()
            seller_fields = seed_seller()
            catalog_rows = seed_catalog()
            bundles = self._token_bundles()
            plugin_enabled = self._demo_plugin()
            invoices = seed_billing()
        for email, password, created in accounts:
            state = "created" if created else "already there"
            self.stdout.write(f"{email} / {password} ({state})")
        if seller_fields:
            self.stdout.write(f"seller: {seller_fields} demo seller detail(s) filled in")
        self.stdout.write(f"catalog: {catalog_rows + bundles} row(s) created")
        self.stdout.write(f"billing: {invoices} demo invoice(s) issued")
        if plugin_enabled:
            self.stdout.write("demo plugin enabled: GET /api/v1/plugins/demo/")
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _token_bundles(self) -> int:
        return seed_bundles()

    def _demo_plugin(self) -> bool:
        """Enables the demo plugin once; a later disable by staff is respected."""
        from plugins import services as plugin_services
        from plugins.models import Plugin

        if Plugin.objects.filter(name="demo").exists():
            return False
        plugin_services.plugin_enable(name="demo", actor=None)
        return True

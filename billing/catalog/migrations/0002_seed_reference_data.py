"""Reference data every installation starts with: EUR (default) and USD, the 36
countries of the original with DE, AT, CH enabled, the root category, and the offline payment
method `invoice` (active, default)."""

from decimal import Decimal

from django.db import migrations

COUNTRIES = [
    ("DE", "Germany", True), ("AT", "Austria", True), ("CH", "Switzerland", False),
    ("US", "United States", False), ("GB", "United Kingdom", False), ("FR", "France", True),
    ("IT", "Italy", True), ("ES", "Spain", True), ("NL", "Netherlands", True),
    ("BE", "Belgium", True), ("PL", "Poland", True), ("CZ", "Czech Republic", True),
    ("SE", "Sweden", True), ("NO", "Norway", False), ("DK", "Denmark", True),
    ("FI", "Finland", True), ("PT", "Portugal", True), ("IE", "Ireland", True),
    ("LU", "Luxembourg", True), ("GR", "Greece", True), ("HU", "Hungary", True),
    ("RO", "Romania", True), ("BG", "Bulgaria", True), ("HR", "Croatia", True),
    ("SK", "Slovakia", True), ("SI", "Slovenia", True), ("LT", "Lithuania", True),
    ("LV", "Latvia", True), ("EE", "Estonia", True), ("CY", "Cyprus", True),
    ("MT", "Malta", True), ("CA", "Canada", False), ("AU", "Australia", False),
    ("NZ", "New Zealand", False), ("JP", "Japan", False), ("SG", "Singapore", False),
]  # fmt: skip  (code, name, EU member)
ENABLED = ["DE", "AT", "CH"]


def seed(apps, schema_editor):
    Currency = apps.get_model("catalog", "Currency")
    Country = apps.get_model("catalog", "Country")
    Category = apps.get_model("catalog", "Category")
    PaymentMethod = apps.get_model("catalog", "PaymentMethod")

    Currency.objects.get_or_create(
        code="EUR",
        defaults={"name": "Euro", "symbol": "€", "decimal_places": 2,
                  "exchange_rate": Decimal("1"), "is_default": True, "is_active": True},
    )  # fmt: skip
    Currency.objects.get_or_create(
        code="USD",
        defaults={"name": "US Dollar", "symbol": "$", "decimal_places": 2,
                  "exchange_rate": Decimal("1.080000"), "is_default": False, "is_active": True},
    )  # fmt: skip
    for code, name, is_eu in COUNTRIES:
        enabled = code in ENABLED
        Country.objects.get_or_create(
            code=code,
            defaults={"name": name, "is_eu": is_eu, "is_enabled": enabled,
                      "position": ENABLED.index(code) if enabled else 999},
        )  # fmt: skip
    Category.objects.get_or_create(
        slug="root",
        defaults={"name": "Root", "description": "Top of the category tree",
                  "is_single": True, "is_root": True},
    )  # fmt: skip
    PaymentMethod.objects.get_or_create(
        code="invoice",
        defaults={
            "name": "Invoice",
            "description": "Pay by bank transfer within 14 days of the invoice date.",
            "short_description": "Bank transfer",
            "instructions": "Transfer the invoice total to the bank account on the invoice, "
            "quoting the invoice number.",
            "is_active": True,
            "is_default": True,
            "position": 0,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

"""The catalog: currencies, countries, tax rates, plans, categories, add-ons and
payment methods. Money is a Decimal with a 3-letter currency code on every row that carries it."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models


class BillingPeriod(models.TextChoices):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    YEARLY = "YEARLY"
    ONE_TIME = "ONE_TIME"


class FeeType(models.TextChoices):
    NONE = "none"
    FIXED = "fixed"
    PERCENTAGE = "percentage"


class FeeChargedTo(models.TextChoices):
    CUSTOMER = "customer"
    MERCHANT = "merchant"


class TimestampedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Currency(TimestampedModel):
    """A currency prices may be shown and invoiced in; exactly one is the default."""

    code = models.CharField(max_length=3, unique=True)  # ISO-4217, upper-case, immutable
    name = models.CharField(max_length=100)
    symbol = models.CharField(max_length=10)
    decimal_places = models.PositiveSmallIntegerField(default=2)  # 0..4
    # Units of this currency per 1 unit of the default currency; 1 for the default itself.
    exchange_rate = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("1"))
    is_default = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-is_default", "code"]
        verbose_name_plural = "currencies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="catalog_one_default_currency",
            ),
            models.CheckConstraint(
                condition=models.Q(exchange_rate__gt=0), name="catalog_currency_rate_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(decimal_places__lte=4), name="catalog_currency_places_le_4"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Country(TimestampedModel):
    code = models.CharField(max_length=2, unique=True)  # ISO-3166 alpha-2
    name = models.CharField(max_length=100)
    is_enabled = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=999)  # 999 while disabled
    is_eu = models.BooleanField(default=False)  # EU member state (reverse charge)

    class Meta:
        ordering = ["-is_enabled", "position", "name"]
        verbose_name_plural = "countries"

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TaxRate(TimestampedModel):
    """A rate for a country (and optional region) valid from one date to another, inclusive."""

    country_code = models.CharField(max_length=2, db_index=True)
    region_code = models.CharField(max_length=20, null=True, blank=True)
    name = models.CharField(max_length=100)
    code = models.CharField(max_length=50, unique=True)
    rate = models.DecimalField(max_digits=5, decimal_places=2)  # percent, 0..100
    # Catalog prices for this country already include the tax.
    is_inclusive = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)  # inclusive; null = open-ended
    description = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["country_code", "region_code", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate__gte=0) & models.Q(rate__lte=100),
                name="catalog_tax_rate_0_100",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="catalog_tax_rate_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.rate}%"


class Plan(TimestampedModel):
    """A tariff plan. Deactivated or archived, never deleted, once anything references it."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(null=True, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=4)  # in `currency`, per period
    currency = models.CharField(max_length=3)
    billing_period = models.CharField(
        max_length=16, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY
    )
    trial_days = models.PositiveSmallIntegerField(default=0)
    # Free-form; default_tokens = tokens granted per paid period.
    features = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True, db_index=True)
    is_archived = models.BooleanField(default=False)
    sort_order = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gte=0), name="catalog_plan_price_ge_0")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_recurring(self) -> bool:
        return self.billing_period != BillingPeriod.ONE_TIME


class Category(TimestampedModel):
    """A tree of plan categories; in an exclusive one (is_single) a user holds one subscription."""

    ROOT_SLUG = "root"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    is_single = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)
    is_root = models.BooleanField(default=False)
    registered_by = models.CharField(max_length=100, null=True, blank=True)  # plugin name
    plans = models.ManyToManyField(Plan, related_name="categories", blank=True)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class AddOn(TimestampedModel):
    """An extra bought alongside a plan; bound to plans, or (no plans) available to everyone."""

    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(null=True, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=4)
    currency = models.CharField(max_length=3)
    billing_period = models.CharField(
        max_length=16, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY
    )
    config = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True, db_index=True)
    sort_order = models.IntegerField(default=0)
    plans = models.ManyToManyField(Plan, related_name="addons", blank=True)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = "add-on"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="catalog_addon_price_ge_0"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_recurring(self) -> bool:
        return self.billing_period != BillingPeriod.ONE_TIME


class PaymentMethod(TimestampedModel):
    """How a customer pays: offline (no plugin, e.g. bank transfer) or through a gateway plugin."""

    code = models.CharField(max_length=50, unique=True)  # ^[a-z0-9_-]{2,50}$, immutable
    name = models.CharField(max_length=100)
    description = models.TextField(null=True, blank=True)
    short_description = models.CharField(max_length=255, null=True, blank=True)
    instructions = models.TextField(null=True, blank=True)
    icon = models.CharField(max_length=255, null=True, blank=True)
    plugin_id = models.CharField(max_length=100, null=True, blank=True)  # gateway plugin name
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    position = models.IntegerField(default=0)
    min_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    max_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currencies = models.JSONField(default=list, blank=True)  # empty = all
    countries = models.JSONField(default=list, blank=True)  # empty = all
    fee_type = models.CharField(max_length=16, choices=FeeType.choices, default=FeeType.NONE)
    # A fixed fee is in the default currency; a percentage is 0..100.
    fee_amount = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    fee_charged_to = models.CharField(
        max_length=16, choices=FeeChargedTo.choices, default=FeeChargedTo.CUSTOMER
    )
    config = models.JSONField(default=dict, blank=True)  # non-secret values only

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="catalog_one_default_payment_method",
            ),
            models.CheckConstraint(
                condition=models.Q(is_default=False) | models.Q(is_active=True),
                name="catalog_default_payment_method_active",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class PaymentMethodTranslation(TimestampedModel):
    payment_method = models.ForeignKey(
        PaymentMethod, on_delete=models.CASCADE, related_name="translations"
    )
    locale = models.CharField(max_length=10)  # de, pt-BR
    name = models.CharField(max_length=100, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    short_description = models.CharField(max_length=255, null=True, blank=True)
    instructions = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["locale"]
        constraints = [
            models.UniqueConstraint(
                fields=["payment_method", "locale"], name="catalog_translation_unique_locale"
            )
        ]

    def __str__(self) -> str:
        return f"{self.payment_method_id} [{self.locale}]"

"""Shapes of plans, categories and add-ons.

Money: decimal strings with the currency's places; the few `number` fields (price_float,
display_price) come from the rounded Decimal at the edge. Serializers expect
``context["currencies"]`` (code → Currency, one query per request).
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog import pricing
from billing.catalog.models import AddOn, BillingPeriod, Category, Plan
from vbwd.output import OutputModelSerializer, OutputSerializer


def _places(context, code: str) -> int:
    currency = context["currencies"].get(code)
    return currency.decimal_places if currency is not None else 2


class CategoryRefSerializer(OutputModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug", "is_single"]
        read_only_fields = fields


class PlanRefSerializer(OutputModelSerializer):
    class Meta:
        model = Plan
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class PlanPriceSerializer(OutputSerializer):
    price_decimal = serializers.CharField(help_text="money")
    price_float = serializers.FloatField()
    currency_code = serializers.CharField()
    currency_symbol = serializers.CharField()


class PlanSerializer(OutputModelSerializer):
    """Plan."""

    price = serializers.SerializerMethodField()
    price_float = serializers.SerializerMethodField()
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices, read_only=True)
    is_recurring = serializers.BooleanField(read_only=True)
    categories = CategoryRefSerializer(many=True, read_only=True)

    class Meta:
        model = Plan
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "price",
            "price_float",
            "currency",
            "billing_period",
            "is_recurring",
            "trial_days",
            "features",
            "is_active",
            "sort_order",
            "categories",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(PlanPriceSerializer)
    def get_price(self, plan: Plan) -> dict:
        places = _places(self.context, plan.currency)
        currency = self.context["currencies"].get(plan.currency)
        return {
            "price_decimal": pricing.format_money(plan.price, places),
            "price_float": pricing.as_json_number(plan.price, places),
            "currency_code": plan.currency,
            "currency_symbol": currency.symbol if currency is not None else plan.currency,
        }

    @extend_schema_field(serializers.FloatField())
    def get_price_float(self, plan: Plan) -> float:
        return pricing.as_json_number(plan.price, _places(self.context, plan.currency))


class AdminPlanSerializer(PlanSerializer):
    """AdminPlan: Plan + is_archived + subscriber_count (``context["subscriber_counts"]``)."""

    subscriber_count = serializers.SerializerMethodField()

    class Meta(PlanSerializer.Meta):
        fields = [*PlanSerializer.Meta.fields, "is_archived", "subscriber_count"]
        read_only_fields = fields

    def get_subscriber_count(self, plan: Plan) -> int:
        return int(self.context.get("subscriber_counts", {}).get(plan.pk, 0))


class PricedPlanSerializer(PlanSerializer):
    """PricedPlan: Plan + the price in the display currency, and tax when a country was given.

    Context: ``display`` (Currency), ``tax`` (TaxRate or None), ``with_tax`` (a country was given).
    """

    display_currency = serializers.SerializerMethodField()
    display_price = serializers.SerializerMethodField()
    exchange_rate = serializers.SerializerMethodField()
    net_price = serializers.SerializerMethodField()
    tax_amount = serializers.SerializerMethodField()
    gross_price = serializers.SerializerMethodField()
    tax_rate = serializers.SerializerMethodField()
    tax_inclusive = serializers.SerializerMethodField()

    TAX_KEYS = ("net_price", "tax_amount", "gross_price", "tax_rate", "tax_inclusive")
    # Present only when a country was given.
    schema_optional_fields = TAX_KEYS

    class Meta(PlanSerializer.Meta):
        fields = [
            *PlanSerializer.Meta.fields,
            "display_currency",
            "display_price",
            "exchange_rate",
            "net_price",
            "tax_amount",
            "gross_price",
            "tax_rate",
            "tax_inclusive",
        ]
        read_only_fields = fields

    def _priced(self, plan: Plan) -> dict:
        cache = self.context.setdefault("_priced", {})
        if plan.pk not in cache:
            display = self.context["display"]
            plan_currency = self.context["currencies"][plan.currency]
            converted = pricing.convert(
                plan.price,
                from_rate=plan_currency.exchange_rate,
                to_rate=display.exchange_rate,
                places=display.decimal_places,
            )
            tax = self.context.get("tax")
            taxed = pricing.apply_tax(
                converted,
                rate=tax.rate if tax is not None else None,
                inclusive=bool(tax and tax.is_inclusive),
                places=display.decimal_places,
            )
            rate = (display.exchange_rate / plan_currency.exchange_rate).quantize(
                Decimal("0.000001")
            )
            cache[plan.pk] = {"converted": converted, "taxed": taxed, "rate": rate}
        return cache[plan.pk]

    def to_representation(self, plan: Plan) -> dict:
        data = super().to_representation(plan)
        if not self.context.get("with_tax"):
            for key in self.TAX_KEYS:
                data.pop(key, None)
        return data

    def get_display_currency(self, plan: Plan) -> str:
        return self.context["display"].code

    @extend_schema_field(serializers.FloatField())
    def get_display_price(self, plan: Plan) -> float:
        priced = self._priced(plan)
        amount = priced["taxed"].gross if self.context.get("with_tax") else priced["converted"]
        return pricing.as_json_number(amount, self.context["display"].decimal_places)

    @extend_schema_field(serializers.CharField(help_text="rate, 6 decimals"))
    def get_exchange_rate(self, plan: Plan) -> str:
        return str(self._priced(plan)["rate"])

    def _money(self, amount: Decimal) -> str:
        return pricing.format_money(amount, self.context["display"].decimal_places)

    @extend_schema_field(serializers.CharField(help_text="money; only with ?country"))
    def get_net_price(self, plan: Plan) -> str:
        return self._money(self._priced(plan)["taxed"].net)

    @extend_schema_field(serializers.CharField(help_text="money; only with ?country"))
    def get_tax_amount(self, plan: Plan) -> str:
        return self._money(self._priced(plan)["taxed"].tax)

    @extend_schema_field(serializers.CharField(help_text="money; only with ?country"))
    def get_gross_price(self, plan: Plan) -> str:
        return self._money(self._priced(plan)["taxed"].gross)

    @extend_schema_field(serializers.CharField(help_text="percent; only with ?country"))
    def get_tax_rate(self, plan: Plan) -> str:
        return f"{self._priced(plan)['taxed'].rate:.2f}"

    @extend_schema_field(serializers.BooleanField(help_text="only with ?country"))
    def get_tax_inclusive(self, plan: Plan) -> bool:
        tax = self.context.get("tax")
        return bool(tax and tax.is_inclusive)


class CategorySerializer(OutputModelSerializer):
    """Category; ``plan_count`` from an annotation or ``context["plan_counts"]``."""

    parent_id = serializers.UUIDField(read_only=True, allow_null=True)
    plan_count = serializers.SerializerMethodField()

    class Meta:
        model = Category
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "parent_id",
            "is_single",
            "sort_order",
            "plan_count",
            "is_root",
            "registered_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_plan_count(self, category: Category) -> int:
        annotated = getattr(category, "plan_total", None)
        if annotated is not None:
            return annotated
        return int(self.context.get("plan_counts", {}).get(category.pk, 0))


class CategoryTreeSerializer(CategorySerializer):
    """Category with nested ``children`` (tree format)."""

    children = serializers.SerializerMethodField()
    # The admin list leaves it out with ?format=flat.
    schema_optional_fields = ("children",)

    class Meta(CategorySerializer.Meta):
        fields = [*CategorySerializer.Meta.fields, "children"]
        read_only_fields = fields

    @extend_schema_field(CategorySerializer(many=True))
    def get_children(self, category: Category) -> list:
        kids = self.context["children"].get(category.pk, [])
        return CategoryTreeSerializer(kids, many=True, context=self.context).data


class CategoryDetailSerializer(CategoryTreeSerializer):
    """Category with ``children`` and ``plans`` (detail)."""

    plans = PlanRefSerializer(many=True, read_only=True)
    schema_optional_fields = ()

    class Meta(CategoryTreeSerializer.Meta):
        fields = [*CategoryTreeSerializer.Meta.fields, "plans"]
        read_only_fields = fields


class AddOnSerializer(OutputModelSerializer):
    """AddOn; expects ``plans`` prefetched."""

    price = serializers.SerializerMethodField()
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices, read_only=True)
    is_recurring = serializers.BooleanField(read_only=True)
    tarif_plan_ids = serializers.SerializerMethodField()
    tarif_plans = PlanRefSerializer(source="plans", many=True, read_only=True)

    class Meta:
        model = AddOn
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "price",
            "currency",
            "billing_period",
            "is_recurring",
            "config",
            "is_active",
            "sort_order",
            "tarif_plan_ids",
            "tarif_plans",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(help_text="money"))
    def get_price(self, addon: AddOn) -> str:
        return pricing.format_money(addon.price, _places(self.context, addon.currency))

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_tarif_plan_ids(self, addon: AddOn) -> list[str]:
        return [str(plan.pk) for plan in addon.plans.all()]

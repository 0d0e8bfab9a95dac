"""Currencies and countries for everyone and their administration with tax rates.
Each view reads its object, calls one service and renders the shapes of
``serializers.geography``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from billing.catalog.selectors import default_currency
from billing.catalog.serializers.geography import (
    CountryListSerializer,
    CountrySerializer,
    CurrencyDefaultChangedSerializer,
    CurrencyDeletedSerializer,
    CurrencyEnvelopeSerializer,
    CurrencyListSerializer,
    CurrencySerializer,
    PublicCountryListSerializer,
    PublicCountrySerializer,
    PublicCurrencyListSerializer,
    PublicCurrencySerializer,
    TaxRateDeletedSerializer,
    TaxRateEnvelopeSerializer,
    TaxRateListSerializer,
    TaxRateSerializer,
)
from billing.catalog.serializers.geography_input import (
    CountryReorderInputSerializer,
    CurrencyInputSerializer,
    TaxRateInputSerializer,
    TaxRateQuerySerializer,
)
from billing.catalog.services import geography
from vbwd.api import AdminMixin, ApiView, PublicMixin
from vbwd.catalog_cache import CatalogCacheMixin
from vbwd.schema import errors, update_request

PUBLIC_TAGS = ["public"]
COUNTRY_TAGS = ["admin: countries"]
CURRENCY_TAGS = ["admin: currencies"]
TAX_TAGS = ["admin: tax rates"]
CODE_PARAMETER = OpenApiParameter(
    "code", str, OpenApiParameter.PATH, description="Case-insensitive code"
)


# --- public ---------------------------------------------------------------------------------


class PublicCurrenciesView(CatalogCacheMixin, PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC_TAGS,
        summary="Active currencies, default first",
        responses={200: PublicCurrencyListSerializer},
    )
    def get(self, request):
        currencies = list(geography.currencies_ordered().filter(is_active=True))
        default = next((currency.code for currency in currencies if currency.is_default), None)
        if default is None:  # the default is always active; only a broken database lacks one
            default = default_currency().code
        return Response(
            {
                "currencies": PublicCurrencySerializer(currencies, many=True).data,
                "default": default,
            }
        )


class PublicCountriesView(CatalogCacheMixin, PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC_TAGS,
        summary="Enabled countries by position",
        responses={200: PublicCountryListSerializer},
    )
    def get(self, request):
        countries = geography.countries_enabled()
        return Response({"countries": PublicCountrySerializer(countries, many=True).data})


# --- admin: countries -----------------------------------------------------------------------


class AdminCountriesView(AdminMixin, ApiView):
    @extend_schema(
        tags=COUNTRY_TAGS,
        summary="All countries: enabled by position, then disabled by name",
        responses={200: CountryListSerializer, **errors(401, 403)},
    )
    def get(self, request):
        countries = geography.countries_ordered()
        return Response({"countries": CountrySerializer(countries, many=True).data})


class AdminEnabledCountriesView(AdminMixin, ApiView):
    @extend_schema(
        tags=COUNTRY_TAGS,
        summary="Enabled countries by position",
        responses={200: CountryListSerializer, **errors(401, 403)},
    )
    def get(self, request):
        countries = geography.countries_enabled()
        return Response({"countries": CountrySerializer(countries, many=True).data})


class AdminDisabledCountriesView(AdminMixin, ApiView):
    @extend_schema(
        tags=COUNTRY_TAGS,
        summary="Disabled countries by name",
        responses={200: CountryListSerializer, **errors(401, 403)},
    )
    def get(self, request):
        countries = geography.countries_disabled()
        return Response({"countries": CountrySerializer(countries, many=True).data})


class AdminCountriesReorderView(AdminMixin, ApiView):
    @extend_schema(
        tags=COUNTRY_TAGS,
        summary="Set the positions of enabled countries (index in codes)",
        request=CountryReorderInputSerializer,
        responses={200: CountryListSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request):
        serializer = CountryReorderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        countries = geography.countries_reorder(
            codes=serializer.validated_data["codes"], actor=request.user
        )
        return Response({"countries": CountrySerializer(countries, many=True).data})

    patch = put


class AdminCountryEnableView(AdminMixin, ApiView):
    @extend_schema(
        tags=COUNTRY_TAGS,
        summary="Enable a country (appended after the enabled ones)",
        parameters=[CODE_PARAMETER],
        request=None,
        responses={200: CountrySerializer, **errors(401, 403, 404)},
    )
    def post(self, request, code):
        country = geography.country_enable(country=geography.country_get(code), actor=request.user)
        return Response(CountrySerializer(country).data)


class AdminCountryDisableView(AdminMixin, ApiView):
    @extend_schema(
        tags=COUNTRY_TAGS,
        summary="Disable a country (position 999)",
        parameters=[CODE_PARAMETER],
        request=None,
        responses={200: CountrySerializer, **errors(401, 403, 404)},
    )
    def post(self, request, code):
        country = geography.country_disable(country=geography.country_get(code), actor=request.user)
        return Response(CountrySerializer(country).data)


# --- admin: currencies ----------------------------------------------------------------------


def _all_currencies() -> list:
    return CurrencySerializer(geography.currencies_ordered(), many=True).data


class AdminCurrenciesView(AdminMixin, ApiView):
    @extend_schema(
        tags=CURRENCY_TAGS,
        summary="All currencies, default first",
        responses={200: CurrencyListSerializer, **errors(401, 403)},
    )
    def get(self, request):
        return Response({"currencies": _all_currencies()})

    @extend_schema(
        tags=CURRENCY_TAGS,
        summary="Create a currency",
        request=CurrencyInputSerializer,
        responses={201: CurrencyEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        serializer = CurrencyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        currency = geography.currency_create(data=serializer.validated_data, actor=request.user)
        return Response(
            {
                "currency": CurrencySerializer(currency).data,
                "message": "Currency created successfully",
            },
            status=201,
        )


class AdminCurrencyDetailView(AdminMixin, ApiView):
    @extend_schema(
        tags=CURRENCY_TAGS,
        summary="One currency",
        parameters=[CODE_PARAMETER],
        responses={200: CurrencyEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, code):
        return Response({"currency": CurrencySerializer(geography.currency_get(code)).data})

    @extend_schema(
        tags=CURRENCY_TAGS,
        summary="Update a currency (partial; code is immutable)",
        parameters=[CODE_PARAMETER],
        request=update_request(CurrencyInputSerializer, "currency"),
        responses={200: CurrencyEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, code):
        currency = geography.currency_get(code)
        serializer = CurrencyInputSerializer(data=request.data, context={"currency": currency})
        serializer.is_valid(raise_exception=True)
        currency = geography.currency_update(
            currency=currency, data=serializer.validated_data, actor=request.user
        )
        return Response(
            {
                "currency": CurrencySerializer(currency).data,
                "message": "Currency updated successfully",
            }
        )

    patch = put

    @extend_schema(
        tags=CURRENCY_TAGS,
        summary="Delete a currency nothing uses",
        parameters=[CODE_PARAMETER],
        responses={200: CurrencyDeletedSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def delete(self, request, code):
        geography.currency_delete(currency=geography.currency_get(code), actor=request.user)
        return Response({"message": "Currency deleted successfully"})


class AdminCurrencySetDefaultView(AdminMixin, ApiView):
    @extend_schema(
        tags=CURRENCY_TAGS,
        summary="Make a currency the default and rebase every exchange rate on it",
        parameters=[CODE_PARAMETER],
        request=None,
        responses={200: CurrencyDefaultChangedSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, code):
        geography.currency_set_default(currency=geography.currency_get(code), actor=request.user)
        return Response({"currencies": _all_currencies(), "message": "Default currency updated"})


# --- admin: tax rates -----------------------------------------------------------------------


class AdminTaxRatesView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAX_TAGS,
        summary="Tax rates by country, region and valid_from (newest first)",
        parameters=[TaxRateQuerySerializer],
        responses={200: TaxRateListSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = TaxRateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        tax_rates = list(geography.tax_rates_filtered(**query.validated_data))
        return Response(
            {"tax_rates": TaxRateSerializer(tax_rates, many=True).data, "total": len(tax_rates)}
        )

    @extend_schema(
        tags=TAX_TAGS,
        summary="Create a tax rate",
        request=TaxRateInputSerializer,
        responses={201: TaxRateEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        serializer = TaxRateInputSerializer(data=request.data, context={"creating": True})
        serializer.is_valid(raise_exception=True)
        tax_rate = geography.tax_rate_create(data=serializer.validated_data, actor=request.user)
        return Response(
            {
                "tax_rate": TaxRateSerializer(tax_rate).data,
                "message": "Tax rate created successfully",
            },
            status=201,
        )


class AdminTaxRateDetailView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAX_TAGS,
        summary="One tax rate",
        responses={200: TaxRateEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, tax_rate_id):
        return Response({"tax_rate": TaxRateSerializer(geography.tax_rate_get(tax_rate_id)).data})

    @extend_schema(
        tags=TAX_TAGS,
        summary="Update a tax rate (partial; limited once it is on invoices)",
        request=TaxRateInputSerializer,
        responses={200: TaxRateEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, tax_rate_id):
        tax_rate = geography.tax_rate_get(tax_rate_id)
        serializer = TaxRateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tax_rate = geography.tax_rate_update(
            tax_rate=tax_rate, data=serializer.validated_data, actor=request.user
        )
        return Response(
            {
                "tax_rate": TaxRateSerializer(tax_rate).data,
                "message": "Tax rate updated successfully",
            }
        )

    patch = put

    @extend_schema(
        tags=TAX_TAGS,
        summary="Delete a tax rate no invoice carries",
        responses={200: TaxRateDeletedSerializer, **errors(401, 403, 404, 409)},
    )
    def delete(self, request, tax_rate_id):
        geography.tax_rate_delete(tax_rate=geography.tax_rate_get(tax_rate_id), actor=request.user)
        return Response({"message": "Tax rate deleted successfully"})

"""Reads of token bundles shared by the API, the back office and other apps."""

from __future__ import annotations

from django.db.models import QuerySet

from tokens.models import TokenBundle, TokenBundlePurchase
from vbwd.exceptions import NotFound

BUNDLE_NOT_FOUND = "Token bundle not found"


def bundles_active() -> QuerySet[TokenBundle]:
    """The public catalog: active bundles by sort order, then name."""
    return TokenBundle.objects.filter(is_active=True).order_by("sort_order", "name", "id")


def bundles_for_staff(*, include_inactive: bool = False) -> QuerySet[TokenBundle]:
    queryset = TokenBundle.objects.all()
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    # id last so pages never overlap when sort order and name are equal.
    return queryset.order_by("sort_order", "name", "id")


def bundle_by_id(bundle_id) -> TokenBundle:
    """Any bundle, active or not; 404 "Token bundle not found"."""
    bundle = TokenBundle.objects.filter(pk=bundle_id).first()
    if bundle is None:
        raise NotFound(BUNDLE_NOT_FOUND)
    return bundle


def bundle_count_in_currency(currency) -> int:
    """Usage counter for the catalog: bundles priced in ``currency`` block its deletion."""
    return TokenBundle.objects.filter(currency=currency.code).count()


def purchase_count_of_bundle(bundle) -> int:
    """Purchases of ``bundle`` (any state): a bought bundle is kept, only deactivated."""
    return TokenBundlePurchase.objects.filter(bundle=bundle).count()

"""Token bundle use cases: create, update, delete, activate, deactivate.

Each function takes the values read by the bundle input serializer, keeps the currency rules,
runs in one transaction, locks the row it changes and writes the audit log. The API views and
the Django admin both call these.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.db import transaction

from audit.services import audit_record, changes
from billing.catalog.models import Currency
from billing.catalog.selectors import active_currency
from tokens.models import TokenBundle
from tokens.selectors import BUNDLE_NOT_FOUND, purchase_count_of_bundle
from vbwd.exceptions import HasDependencies, NotFound, ValidationFailed

HAS_PURCHASES = "Cannot delete token bundle with existing purchases. Deactivate instead."


# --- the currency and its places -----------------------------------------------------------


def significant_price(amount: Decimal) -> Decimal:
    """``amount`` without trailing zeros after the point ("5.0000" -> "5", "500" stays)."""
    if amount.as_tuple().exponent >= 0:
        return amount
    stripped = amount.normalize()
    return stripped if stripped.as_tuple().exponent < 0 else amount.quantize(Decimal(1))


def _price_places_error(amount: Decimal, currency: Currency) -> str | None:
    places = currency.decimal_places
    if amount.as_tuple().exponent < -places:
        return f"Price must have at most {places} decimal places"
    return None


def bundle_values_check(values: Mapping, *, bundle: TokenBundle | None = None) -> dict:
    """The write values (already read by ``TokenBundleWriteSerializer``) completed with the
    currency rules; a create when ``bundle`` is None.

    The currency must be active unless it is the bundle's own, and the price (the given one, or
    the stored one when only the currency changes) must have at most that currency's places;
    every refusal is raised together as one ``ValidationFailed``. ``currency`` comes back as the
    upper-case code (only when it changes), ``price`` quantised to the currency's places, and a
    create gets the defaults of the fields not given.
    """
    creating = bundle is None
    errors: dict[str, list[str]] = {}
    cleaned = dict(values)
    cleaned.pop("currency", None)
    prices_checked = creating or "price" in values or "currency" in values
    currency = _currency_for(values, bundle=bundle, errors=errors) if prices_checked else None
    if currency is not None:
        if creating or currency.code != bundle.currency:
            cleaned["currency"] = currency.code
        # The stored price carries four places in the column; only its significant ones count.
        price = cleaned.get("price", None if creating else significant_price(bundle.price))
        if price is not None:
            message = _price_places_error(price, currency)
            if message is not None:
                errors.setdefault("price", []).append(message)
            elif "price" in cleaned:
                cleaned["price"] = price.quantize(Decimal(1).scaleb(-currency.decimal_places))

    if errors:
        raise ValidationFailed.from_errors(errors)
    if creating:
        cleaned.setdefault("description", None)
        cleaned.setdefault("is_active", True)
        cleaned.setdefault("sort_order", 0)
    return cleaned


def _currency_for(values: Mapping, *, bundle: TokenBundle | None, errors: dict) -> Currency | None:
    """The currency the bundle will be priced in; None (and an error) when it is refused."""
    given = values.get("currency")
    if given in (None, "") and bundle is not None:
        # Not changing the currency: the stored one, even if it was deactivated since.
        return Currency.objects.filter(code=bundle.currency).first()
    try:
        return active_currency(given)
    except ValidationFailed as error:
        errors.setdefault("currency", []).append(error.message)
        return None


# --- use cases ------------------------------------------------------------------------------


def _snapshot(bundle: TokenBundle) -> dict:
    return {
        "name": bundle.name,
        "description": bundle.description,
        "token_amount": bundle.token_amount,
        "price": str(significant_price(Decimal(bundle.price))),
        "currency": bundle.currency,
        "is_active": bundle.is_active,
        "sort_order": bundle.sort_order,
    }


def _lock(bundle: TokenBundle) -> TokenBundle:
    """The bundle's row, locked; 404 when it was deleted meanwhile."""
    locked = TokenBundle.objects.select_for_update().filter(pk=bundle.pk).first()
    if locked is None:
        raise NotFound(BUNDLE_NOT_FOUND)
    return locked


def token_bundle_create(*, values: Mapping, actor=None) -> TokenBundle:
    """Creates the bundle from its write values (as read by ``TokenBundleWriteSerializer``) with
    an audit entry; nothing is written when the currency rules refuse them."""
    values = bundle_values_check(values)
    with transaction.atomic():
        bundle = TokenBundle.objects.create(**values)
        audit_record(
            action="token_bundle.created",
            object_type="token_bundle",
            object_id=bundle.pk,
            summary=f"Token bundle {bundle.name} created ({bundle.token_amount} tokens)",
            actor=actor,
            after=_snapshot(bundle),
        )
    return bundle


def token_bundle_update(*, bundle: TokenBundle, values: Mapping, actor=None) -> TokenBundle:
    """Applies the given write values (a partial update, as read by
    ``TokenBundleWriteSerializer(partial=True)``) and audits what changed; no write and no audit
    entry when nothing changes."""
    with transaction.atomic():
        locked = _lock(bundle)
        values = bundle_values_check(values, bundle=locked)
        before = _snapshot(locked)
        for field, value in values.items():
            setattr(locked, field, value)
        old, new = changes(before, _snapshot(locked))
        if new:
            locked.save()
            audit_record(
                action="token_bundle.updated",
                object_type="token_bundle",
                object_id=locked.pk,
                summary=f"Token bundle {locked.name} updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
    return locked


def token_bundle_delete(*, bundle: TokenBundle, actor=None) -> None:
    """Deletes a bundle nobody bought (409 has_dependencies otherwise: deactivate it)."""
    with transaction.atomic():
        locked = _lock(bundle)
        if purchase_count_of_bundle(locked) > 0:
            raise HasDependencies(HAS_PURCHASES)
        snapshot = _snapshot(locked)
        bundle_id = locked.pk
        locked.delete()
        audit_record(
            action="token_bundle.deleted",
            object_type="token_bundle",
            object_id=bundle_id,
            summary=f"Token bundle {snapshot['name']} deleted",
            actor=actor,
            before=snapshot,
        )


def _set_active(*, bundle: TokenBundle, active: bool, actor) -> TokenBundle:
    with transaction.atomic():
        locked = _lock(bundle)
        if locked.is_active == active:
            return locked
        locked.is_active = active
        locked.save(update_fields=["is_active", "updated_at"])
        verb = "activated" if active else "deactivated"
        audit_record(
            action=f"token_bundle.{verb}",
            object_type="token_bundle",
            object_id=locked.pk,
            summary=f"Token bundle {locked.name} {verb}",
            actor=actor,
            before={"is_active": not active},
            after={"is_active": active},
        )
    return locked


def token_bundle_activate(*, bundle: TokenBundle, actor=None) -> TokenBundle:
    """Puts the bundle on sale again; no-op (and no audit entry) when already active."""
    return _set_active(bundle=bundle, active=True, actor=actor)


def token_bundle_deactivate(*, bundle: TokenBundle, actor=None) -> TokenBundle:
    """Takes the bundle off sale (hidden from the catalog and checkout); no-op when inactive."""
    return _set_active(bundle=bundle, active=False, actor=actor)

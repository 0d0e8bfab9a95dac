"""Token bundle use cases: create, update, delete, activate, deactivate.

Each function validates its input, runs in one transaction, locks the row it changes and writes
the audit log. The API views and the Django admin both call these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from audit.services import audit_record, changes
from billing.catalog.models import Currency
from billing.catalog.selectors import active_currency
from tokens.models import MAX_TOKEN_AMOUNT, TokenBundle
from tokens.selectors import BUNDLE_NOT_FOUND
from vbwd.exceptions import HasDependencies, NotFound, ValidationFailed
from vbwd.filters import parse_bool

WRITE_FIELDS = (
    "name",
    "description",
    "token_amount",
    "price",
    "currency",
    "is_active",
    "sort_order",
)
MAX_NAME_LENGTH = 255
# price is DECIMAL(12, 4): eight digits before the point.
PRICE_LIMIT = Decimal("100000000")
SORT_ORDER_RANGE = (-2_147_483_648, 2_147_483_647)

HAS_PURCHASES = "Cannot delete token bundle with existing purchases. Deactivate instead."
TOKEN_AMOUNT_INVALID = "Token amount must be a positive integer"

# Purchase counters: callable(bundle) -> number of purchases of that bundle. The purchase model
# arrives with checkout; it registers here (from its AppConfig.ready) so a bought bundle cannot
# be deleted. Empty until then.
purchase_counters: list[Callable[[TokenBundle], int]] = []


def register_purchase_counter(counter: Callable[[TokenBundle], int]) -> None:
    if counter not in purchase_counters:
        purchase_counters.append(counter)


def unregister_purchase_counter(counter: Callable[[TokenBundle], int]) -> None:
    if counter in purchase_counters:
        purchase_counters.remove(counter)


def purchase_count(bundle: TokenBundle) -> int:
    return sum(counter(bundle) for counter in purchase_counters)


# --- input ----------------------------------------------------------------------------------


def _clean_name(value: Any, *, creating: bool) -> str:
    # Absent or blank on create: "required"; blanked on update: "cannot be empty".
    missing = "Name is required" if creating else "Name cannot be empty"
    if value is None:
        raise ValueError(missing)
    if not isinstance(value, str):
        raise ValueError("Name must be a string")
    name = value.strip()
    if not name:
        raise ValueError(missing)
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"Name must be at most {MAX_NAME_LENGTH} characters")
    return name


def _clean_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("Description must be a string")
    return value if value.strip() else None


def _clean_token_amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(TOKEN_AMOUNT_INVALID)
    if value > MAX_TOKEN_AMOUNT:
        raise ValueError(f"Token amount must be at most {MAX_TOKEN_AMOUNT}")
    return value


def _clean_price(value: Any) -> Decimal:
    """A finite, non-negative Decimal; the currency's places are checked once it is known."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("Price is required")
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError("Invalid price")
    try:
        # A JSON number arrives as int/float; its shortest repr is the number the client wrote.
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("Invalid price") from None
    if not amount.is_finite():
        raise ValueError("Invalid price")
    if amount < 0:
        raise ValueError("Price cannot be negative")
    if amount >= PRICE_LIMIT:
        raise ValueError(f"Price must be less than {PRICE_LIMIT}")
    return amount


def _clean_sort_order(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("sort_order must be an integer")
    low, high = SORT_ORDER_RANGE
    if not low <= value <= high:
        raise ValueError(f"sort_order must be between {low} and {high}")
    return value


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


def _clean_is_active(value: Any) -> bool:
    try:
        return parse_bool(value, name="is_active")
    except ValidationFailed as error:
        raise ValueError(error.message) from None


def bundle_input_clean(data: Mapping, *, bundle: TokenBundle | None = None) -> dict:
    """The validated write fields present in ``data`` (a create when ``bundle`` is None).

    Every field is checked and all messages are raised together as one ``ValidationFailed``.
    A create checks the required fields and fills in the defaults; an update returns only the
    given fields. ``currency`` comes back as the upper-case code, ``price`` quantised to that
    currency's places (the stored price must fit a new currency too).
    """
    creating = bundle is None
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    # field -> (cleaner, checked even when absent on create, null means "not given")
    rules: dict[str, tuple[Callable[[Any], Any], bool, bool]] = {
        "name": (lambda value: _clean_name(value, creating=creating), True, False),
        "description": (_clean_description, False, False),
        "token_amount": (_clean_token_amount, True, False),
        "price": (_clean_price, True, False),
        "is_active": (_clean_is_active, False, True),
        "sort_order": (_clean_sort_order, False, True),
    }
    for field, (cleaner, required, null_is_absent) in rules.items():
        given = field in data and not (null_is_absent and data[field] is None)
        if not given and not (required and creating):
            continue
        try:
            cleaned[field] = cleaner(data.get(field))
        except ValueError as error:
            errors.setdefault(field, []).append(str(error))

    prices_checked = creating or "price" in data or "currency" in data
    currency = _currency_for(data, bundle=bundle, errors=errors) if prices_checked else None
    if currency is not None:
        if creating or currency.code != bundle.currency:
            cleaned["currency"] = currency.code
        # The stored price carries four places in the column; only its significant ones count.
        price = cleaned.get("price", None if creating else significant_price(bundle.price))
        if price is not None and "price" not in errors:
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


def _currency_for(data: Mapping, *, bundle: TokenBundle | None, errors: dict) -> Currency | None:
    """The currency the bundle will be priced in; None (and an error) when it is refused."""
    given = data.get("currency")
    if given in (None, "") and bundle is not None:
        # Not changing the currency: the stored one, even if it was deactivated since.
        return Currency.objects.filter(code=bundle.currency).first()
    if given not in (None, "") and not isinstance(given, str):
        errors.setdefault("currency", []).append("currency must be a 3-letter code")
        return None
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


def token_bundle_create(*, data: Mapping, actor=None) -> TokenBundle:
    """Validates ``data`` (the bundle's writable fields) and creates the bundle with an audit
    entry; nothing is written when a field is refused."""
    values = bundle_input_clean(data)
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


def token_bundle_update(*, bundle: TokenBundle, data: Mapping, actor=None) -> TokenBundle:
    """Applies the given write fields (a partial update) and audits what changed; no write and
    no audit entry when nothing changes."""
    with transaction.atomic():
        locked = _lock(bundle)
        values = bundle_input_clean(data, bundle=locked)
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
        if purchase_count(locked) > 0:
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

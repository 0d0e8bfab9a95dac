"""Input rules shared by the catalog's write services (plans, categories, add-ons)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation

from billing.catalog.models import BillingPeriod, Currency
from billing.catalog.selectors import active_currency
from vbwd.exceptions import ValidationFailed
from vbwd.filters import normalise_enum, parse_bool

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slug_from(name: str) -> str:
    """Lower-case, runs of anything but letters and digits become one dash."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:100].strip("-") or "item"


def name(value, *, required: bool, max_length: int) -> str | None:
    if value is None:
        if required:
            raise ValidationFailed("Name is required", field="name")
        return None
    if not isinstance(value, str):
        raise ValidationFailed("Name must be a string", field="name")
    value = value.strip()
    if not value:
        raise ValidationFailed(
            "Name is required" if required else "Name cannot be empty", field="name"
        )
    if len(value) > max_length:
        raise ValidationFailed(f"Name must be at most {max_length} characters", field="name")
    return value


def slug(value) -> str:
    if not isinstance(value, str) or not SLUG_PATTERN.match(value) or len(value) > 100:
        raise ValidationFailed(
            "Slug must be lower-case letters and digits separated by single dashes (at most 100)",
            field="slug",
        )
    return value


def optional_text(value, *, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string", field=field)
    return value.strip() or None


def currency(value) -> Currency:
    return active_currency(value if value not in ("",) else None)


def price(value, *, required: bool, places: int) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise ValidationFailed("Price is required", field="price")
        return None
    if isinstance(value, bool):
        raise ValidationFailed("Invalid price", field="price")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed("Invalid price", field="price") from None
    if not amount.is_finite():
        raise ValidationFailed("Invalid price", field="price")
    if amount < 0:
        raise ValidationFailed("Price cannot be negative", field="price")
    if amount.as_tuple().exponent < -places:
        raise ValidationFailed(f"Price must have at most {places} decimal places", field="price")
    return amount


def billing_period(value) -> str:
    canonical = normalise_enum(value, BillingPeriod) if isinstance(value, str) else None
    if canonical is None:
        raise ValidationFailed(f"Invalid billing period: {value}", field="billing_period")
    return canonical


def integer(value, *, field: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be an integer", field=field)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValidationFailed(f"{field} must be an integer {bounds}", field=field)
    return value


def boolean(value, *, field: str) -> bool:
    parsed = parse_bool(value, name=field)
    if parsed is None:
        raise ValidationFailed(f"{field} must be true or false", field=field)
    return parsed


def uuid_list(value, *, field: str, message: str) -> list[uuid.UUID]:
    if not isinstance(value, list):
        raise ValidationFailed(message, field=field)
    ids = []
    for item in value:
        try:
            ids.append(uuid.UUID(str(item)))
        except ValueError:
            raise ValidationFailed(message, field=field) from None
    return ids


def json_object(value, *, field: str) -> dict:
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field} must be an object", field=field)
    return value


def priced_item(data: dict, *, current_currency: str | None, name_length: int) -> dict:
    """The fields plans and add-ons share: name, slug, description, price + currency, billing
    period, active flag and sort order. ``current_currency`` is None when creating."""
    creating = current_currency is None
    cleaned: dict = {}
    if creating or "name" in data:
        cleaned["name"] = name(data.get("name"), required=creating, max_length=name_length)
    if "currency" in data or creating:
        chosen = currency(data.get("currency"))
        cleaned["currency"] = chosen.code
    else:
        chosen = currency(current_currency)
    if creating or "price" in data:
        amount = price(data.get("price"), required=creating, places=chosen.decimal_places)
        if amount is not None:
            cleaned["price"] = amount
    if data.get("slug") not in (None, ""):
        cleaned["slug"] = slug(data["slug"])
    elif creating:
        cleaned["slug"] = slug_from(cleaned["name"])
    if "description" in data:
        cleaned["description"] = optional_text(data["description"], field="description")
    if "billing_period" in data and data["billing_period"] is not None:
        cleaned["billing_period"] = billing_period(data["billing_period"])
    elif creating:
        cleaned["billing_period"] = BillingPeriod.MONTHLY
    if "is_active" in data and data["is_active"] is not None:
        cleaned["is_active"] = boolean(data["is_active"], field="is_active")
    if "sort_order" in data and data["sort_order"] is not None:
        cleaned["sort_order"] = integer(data["sort_order"], field="sort_order")
    return cleaned

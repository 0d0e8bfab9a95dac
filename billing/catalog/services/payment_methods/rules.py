"""What a payment method is and which states it may be in: kinds, availability, locales, and
the rules across fields and the default flag that every write checks under its row locks."""

from __future__ import annotations

import re
from decimal import Decimal

from django.db import models

from billing.catalog.models import Country, Currency, FeeChargedTo, FeeType, PaymentMethod
from billing.catalog.selectors import default_currency
from plugins import registry, state
from vbwd.exceptions import BusinessRuleError, ValidationFailed

CODE_PATTERN = re.compile(r"^[a-z0-9_-]{2,50}$")
LOCALE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
CURRENCY_FILTER_PATTERN = re.compile(r"^[A-Za-z]{3}$")
COUNTRY_FILTER_PATTERN = re.compile(r"^[A-Za-z]{2}$")
# Largest values the columns hold: money has 12 digits with 2 places, the fee 12 with 4.
MAX_LIMIT_AMOUNT = Decimal("9999999999.99")
MAX_FEE_AMOUNT = Decimal("99999999.9999")
MAX_PERCENTAGE = Decimal(100)
MAX_POSITION = 2_147_483_647
# Column lengths of the optional texts (None = unlimited).
TEXT_FIELDS = {"description": None, "short_description": 255, "instructions": None, "icon": 255}
TRANSLATED_FIELDS = ("name", "description", "short_description", "instructions")
TRANSLATION_LENGTHS = {"name": 100, "description": None, "short_description": 255,
                       "instructions": None}  # fmt: skip
# Key fragments that mark a secret; secrets belong in the plugin's encrypted settings.
SECRET_KEY_HINTS = ("secret", "password", "passwd", "api_key", "apikey", "private_key")
SNAPSHOT_FIELDS = (
    "code",
    "name",
    "description",
    "short_description",
    "instructions",
    "icon",
    "plugin_id",
    "is_active",
    "is_default",
    "position",
    "min_amount",
    "max_amount",
    "currencies",
    "countries",
    "fee_type",
    "fee_amount",
    "fee_charged_to",
    "config",
)
NOT_FOUND = "Payment method not found"
# What a new method gets for the fields its input leaves out.
CREATE_DEFAULTS = {
    "description": None,
    "short_description": None,
    "instructions": None,
    "icon": None,
    "plugin_id": None,
    "is_active": True,
    "is_default": False,
    "position": 0,
    "min_amount": None,
    "max_amount": None,
    "currencies": [],
    "countries": [],
    "fee_type": FeeType.NONE,
    "fee_amount": Decimal("0.0000"),
    "fee_charged_to": FeeChargedTo.CUSTOMER,
    "config": {},
}


class PaymentMethodKind(models.TextChoices):
    OFFLINE = "OFFLINE"  # no plugin, e.g. bank transfer against the invoice
    GATEWAY = "GATEWAY"  # implemented by a payment plugin


def limit_places() -> int:
    """Decimal places of ``min_amount`` / ``max_amount``: the columns keep 2; a 0-place default
    currency allows whole amounts only."""
    return min(default_currency().decimal_places, 2)


def gateway_plugins() -> dict:
    """Installed plugins with the payment-gateway capability, by key."""
    return {
        key: config
        for key, config in registry.installed().items()
        if getattr(getattr(config, "capabilities", None), "payment_gateway", None)
    }


def payment_method_kind(method: PaymentMethod) -> str:
    return PaymentMethodKind.GATEWAY if method.plugin_id else PaymentMethodKind.OFFLINE


def payment_method_is_available(method: PaymentMethod) -> bool:
    """Active and, for a gateway, its plugin installed and enabled (no query once cached)."""
    if not method.is_active:
        return False
    return not method.plugin_id or state.is_enabled(method.plugin_id)


def canonical_locale(value, *, field: str = "locale") -> str:
    """``pt_br`` → ``pt-BR``, ``DE`` → ``de``, ``zh-hant-tw`` → ``zh-Hant-TW``; 2–10 characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("Locale is required", field=field)
    text = value.strip()
    if len(text) > 10 or not LOCALE_PATTERN.match(text):
        raise ValidationFailed(
            f"{field} must be a language code such as de or pt-BR (2-10 characters)", field=field
        )
    language, *rest = re.split(r"[-_]", text)
    parts = [language.lower()]
    for part in rest:
        if len(part) == 2 and part.isalpha():
            parts.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            parts.append(part.title())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def locale_chain(locale: str | None) -> list[str]:
    """The translations to try, best first: the exact locale, then its language part."""
    if not locale:
        return []
    language = locale.split("-", 1)[0]
    return [locale] if language == locale else [locale, language]


def _check_codes_exist(codes: list[str], *, field: str, table: type[models.Model], label: str):
    known = set(table.objects.filter(code__in=codes).values_list("code", flat=True))
    for code in codes:
        if code not in known:
            raise ValidationFailed(f"Unknown {label} code: {code}", field=field)


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, dict)):
        return value.copy()
    return value


def _snapshot(method: PaymentMethod) -> dict:
    return {field: _plain(getattr(method, field)) for field in SNAPSHOT_FIELDS}


def payment_method_check(*, method: PaymentMethod | None, data: dict) -> None:
    """The rules across fields, the referenced currencies and countries, and the default flag,
    for validated ``data`` applied to ``method`` (None on create). The services run it under the
    row lock; forms call it to show errors."""
    _check_codes_exist(
        data.get("currencies") or [], field="currencies", table=Currency, label="currency"
    )
    _check_codes_exist(
        data.get("countries") or [], field="countries", table=Country, label="country"
    )
    current = _snapshot(method) if method is not None else {}
    merged = {**current, **data}
    minimum, maximum = merged.get("min_amount"), merged.get("max_amount")
    if minimum is not None and maximum is not None and Decimal(minimum) > Decimal(maximum):
        raise ValidationFailed("min_amount cannot be greater than max_amount", field="min_amount")
    if merged.get("fee_type") == FeeType.PERCENTAGE and (
        Decimal(merged.get("fee_amount") or 0) > MAX_PERCENTAGE
    ):
        raise ValidationFailed("A percentage fee_amount cannot exceed 100", field="fee_amount")
    if method is not None and method.is_default:
        if data.get("is_active") is False:
            raise BusinessRuleError("Cannot deactivate the default payment method")
        if data.get("is_default") is False:
            raise BusinessRuleError(
                "The default payment method stays the default until another method is made "
                "the default"
            )
        plugin_id = data.get("plugin_id")
        if plugin_id and plugin_id != method.plugin_id and not state.is_enabled(plugin_id):
            raise BusinessRuleError(
                f"The plugin {plugin_id} is not enabled; the default payment method must stay "
                "available"
            )
    elif data.get("is_default"):
        _check_can_be_default(
            is_active=merged.get("is_active", True), plugin_id=merged.get("plugin_id")
        )


def _check_can_be_default(*, is_active: bool, plugin_id: str | None) -> None:
    if not is_active:
        raise BusinessRuleError("Only an active payment method can be the default")
    if plugin_id and not state.is_enabled(plugin_id):
        raise BusinessRuleError(
            f"The plugin {plugin_id} of this payment method is not enabled; "
            "enable it before making the method the default"
        )

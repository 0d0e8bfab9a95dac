"""Payment methods (DOMAIN §2): offline or implemented by a gateway plugin, exactly one active
default, texts translated per locale.

Every write runs in one transaction, locks the rows it changes and writes the audit log. Input is
cleaned by ``clean_*`` functions shared by the API and the back office. The reads at the end
serve the public endpoints and checkout.

Rules written down here (DOMAIN §2 is silent on them):
- ``min_amount`` / ``max_amount`` are in the default currency, like a fixed fee; an amount in
  another currency is converted at the current rate before it is compared with them.
- The default method must be available: active and, for a gateway, its plugin enabled. Its
  plugin cannot be disabled (``payment_methods_check_plugin_disable``) and the flag cannot be
  taken away except by making another method the default.
- Locales are stored in canonical form (``pt_br`` → ``pt-BR``), so lookups are exact.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, models, transaction
from django.db.models import Prefetch
from django.utils import timezone

from audit.services import audit_record, changes
from billing.catalog import extensions
from billing.catalog.models import (
    Country,
    Currency,
    FeeChargedTo,
    FeeType,
    PaymentMethod,
    PaymentMethodTranslation,
)
from billing.catalog.pricing import convert
from billing.catalog.selectors import default_currency
from plugins import registry, state
from vbwd.exceptions import (
    BusinessRuleError,
    Conflict,
    HasDependencies,
    NotFound,
    ValidationFailed,
)
from vbwd.filters import parse_bool
from vbwd.money import parse_money

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


class PaymentMethodKind(models.TextChoices):
    OFFLINE = "OFFLINE"  # no plugin, e.g. bank transfer against the invoice
    GATEWAY = "GATEWAY"  # implemented by a payment plugin


# --- plugins ---------------------------------------------------------------------------------


def gateway_plugins() -> dict:
    """Installed plugins with the payment-gateway capability, by key."""
    return {
        key: config
        for key, config in registry.installed().items()
        if getattr(getattr(config, "capabilities", None), "payment_gateway", None)
    }


def payment_methods_register_for_plugin(*, plugin, actor) -> PaymentMethod | None:
    """A gateway plugin's payment method (code = the plugin's name) exists once the plugin is
    enabled; an existing method of that code is left as staff configured it."""
    if plugin.key not in gateway_plugins():
        return None
    existing = PaymentMethod.objects.filter(code=plugin.key).first()
    if existing is not None:
        return existing
    label = getattr(plugin, "payment_method_label", None) or plugin.verbose_name
    return payment_method_create(
        data={
            "code": plugin.key,
            "name": str(label)[:100],
            "short_description": str(plugin.description or "")[:255] or None,
            "plugin_id": plugin.key,
            "is_active": True,
            "position": PaymentMethod.objects.count(),
        },
        actor=actor,
    )


def payment_method_kind(method: PaymentMethod) -> str:
    return PaymentMethodKind.GATEWAY if method.plugin_id else PaymentMethodKind.OFFLINE


def payment_method_is_available(method: PaymentMethod) -> bool:
    """Active and, for a gateway, its plugin installed and enabled (no query once cached)."""
    if not method.is_active:
        return False
    return not method.plugin_id or state.is_enabled(method.plugin_id)


# --- input -----------------------------------------------------------------------------------


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


def _text(value, *, field: str, max_length: int | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string", field=field)
    value = value.strip()
    if max_length is not None and len(value) > max_length:
        raise ValidationFailed(f"{field} must be at most {max_length} characters", field=field)
    return value or None


def _name(value, *, required: bool) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed(
            "Name is required" if required else "Name cannot be empty", field="name"
        )
    if not isinstance(value, str):
        raise ValidationFailed("Name must be a string", field="name")
    value = value.strip()
    if len(value) > 100:
        raise ValidationFailed("Name must be at most 100 characters", field="name")
    return value


def _boolean(value, *, field: str) -> bool:
    try:
        parsed = parse_bool(value, name=field)
    except ValidationFailed:
        parsed = None
    if parsed is None:
        raise ValidationFailed(f"{field} must be true or false", field=field)
    return parsed


def _integer(value, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_POSITION:
        raise ValidationFailed(f"{field} must be an integer", field=field)
    return value


def _lower_enum(value, choices: type[models.TextChoices], *, field: str) -> str:
    candidate = value.strip().lower() if isinstance(value, str) else None
    if candidate not in choices.values:
        raise ValidationFailed(f"Unknown {field}: {value}", field=field)
    return candidate


def _limit_places() -> int:
    # The columns keep 2 places; a 0-place default currency allows whole amounts only.
    return min(default_currency().decimal_places, 2)


def _limit_amount(value, *, field: str, places: int) -> Decimal | None:
    if value is None or value == "":
        return None
    amount = parse_money(value, field=field, places=places)
    if amount > MAX_LIMIT_AMOUNT:
        raise ValidationFailed(f"{field} is too large", field=field)
    return amount


def _fee_amount(value) -> Decimal:
    if value is None or value == "":
        return Decimal("0.0000")
    amount = parse_money(value, field="fee_amount", places=4)
    if amount > MAX_FEE_AMOUNT:
        raise ValidationFailed("fee_amount is too large", field="fee_amount")
    return amount


def _codes(value, *, field: str, table: type[models.Model], label: str) -> list[str]:
    """Upper-cased codes that exist in ``table``, duplicates dropped, order kept."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed(f"{field} must be a list of codes", field=field)
    codes: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValidationFailed(f"{field} must be a list of codes", field=field)
        code = item.strip().upper()
        if code not in codes:
            codes.append(code)
    known = set(table.objects.filter(code__in=codes).values_list("code", flat=True))
    for code in codes:
        if code not in known:
            raise ValidationFailed(f"Unknown {label} code: {code}", field=field)
    return codes


def _config(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed("config must be an object", field="config")
    for key in value:
        lowered = str(key).lower()
        if any(hint in lowered for hint in SECRET_KEY_HINTS):
            raise ValidationFailed(
                f"config holds non-secret values only; keep '{key}' in the plugin's settings",
                field="config",
            )
    return value


def _plugin_id(value, *, current: str | None) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    key = value.strip() if isinstance(value, str) else value
    if key == current:
        return key  # unchanged, even when that plugin has been uninstalled meanwhile
    if not isinstance(key, str) or key not in gateway_plugins():
        raise ValidationFailed(f"Unknown payment plugin: {value}", field="plugin_id")
    return key


def clean_payment_method_input(data: dict, *, method: PaymentMethod | None = None) -> dict:
    """The write fields of API.md §17, validated and normalised; only given keys are returned
    (on create every field gets its default). ``method`` is the row being updated."""
    creating = method is None
    cleaned: dict = {}
    if creating:
        code = data.get("code")
        if code is None or (isinstance(code, str) and not code.strip()):
            raise ValidationFailed("Code is required", field="code")
        if not isinstance(code, str) or not CODE_PATTERN.match(code.strip()):
            raise ValidationFailed("Invalid code format", field="code")
        cleaned["code"] = code.strip()
    elif data.get("code") is not None:
        code = data["code"].strip() if isinstance(data["code"], str) else data["code"]
        if code != method.code:
            raise ValidationFailed("Payment method code cannot be changed", field="code")
    if creating or "name" in data:
        cleaned["name"] = _name(data.get("name"), required=creating)
    for field, max_length in TEXT_FIELDS.items():
        if creating or field in data:
            cleaned[field] = _text(data.get(field), field=field, max_length=max_length)
    if creating or "plugin_id" in data:
        cleaned["plugin_id"] = _plugin_id(
            data.get("plugin_id"), current=None if creating else method.plugin_id
        )
    for field, default in (("is_active", True), ("is_default", False)):
        if data.get(field) is not None:
            cleaned[field] = _boolean(data[field], field=field)
        elif creating:
            cleaned[field] = default
    if data.get("position") is not None:
        cleaned["position"] = _integer(data["position"], field="position")
    elif creating:
        cleaned["position"] = 0
    if creating or "min_amount" in data or "max_amount" in data:
        places = _limit_places()
        for field in ("min_amount", "max_amount"):
            if creating or field in data:
                cleaned[field] = _limit_amount(data.get(field), field=field, places=places)
    if creating or "currencies" in data:
        cleaned["currencies"] = _codes(
            data.get("currencies"), field="currencies", table=Currency, label="currency"
        )
    if creating or "countries" in data:
        cleaned["countries"] = _codes(
            data.get("countries"), field="countries", table=Country, label="country"
        )
    if data.get("fee_type") not in (None, ""):
        cleaned["fee_type"] = _lower_enum(data["fee_type"], FeeType, field="fee_type")
    elif creating:
        cleaned["fee_type"] = FeeType.NONE
    if creating or "fee_amount" in data:
        cleaned["fee_amount"] = _fee_amount(data.get("fee_amount"))
    if data.get("fee_charged_to") not in (None, ""):
        cleaned["fee_charged_to"] = _lower_enum(
            data["fee_charged_to"], FeeChargedTo, field="fee_charged_to"
        )
    elif creating:
        cleaned["fee_charged_to"] = FeeChargedTo.CUSTOMER
    if creating or "config" in data:
        cleaned["config"] = _config(data.get("config"))
    return cleaned


def payment_method_check(*, method: PaymentMethod | None, data: dict) -> None:
    """The rules across fields and the default flag, for ``data`` applied to ``method`` (None
    on create). The services run it again under the row lock; forms call it to show errors."""
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


def clean_reorder_input(data: dict) -> list[tuple[uuid.UUID, int]]:
    """``order`` of ``PUT /admin/payment-methods/reorder`` as (id, position) pairs."""
    message = "order must be a list of {id, position}"
    order = data.get("order")
    if not isinstance(order, list):
        raise ValidationFailed(message, field="order")
    pairs: list[tuple[uuid.UUID, int]] = []
    for item in order:
        if not isinstance(item, dict) or "id" not in item or "position" not in item:
            raise ValidationFailed(message, field="order")
        position = item["position"]
        if isinstance(position, bool) or not isinstance(position, int):
            raise ValidationFailed(message, field="order")
        if abs(position) > MAX_POSITION:
            raise ValidationFailed("position must be an integer", field="order")
        try:
            method_id = uuid.UUID(str(item["id"]))
        except ValueError:
            not_found = f"Payment method not found: {item['id']}"
            raise ValidationFailed(not_found, field="order") from None
        if any(existing == method_id for existing, _ in pairs):
            raise ValidationFailed(f"order lists {method_id} more than once", field="order")
        pairs.append((method_id, position))
    return pairs


def clean_translation_input(data: dict) -> tuple[str, dict]:
    """(canonical locale, given texts) of a translation upsert."""
    locale = data.get("locale")
    if locale is None or (isinstance(locale, str) and not locale.strip()):
        raise ValidationFailed("Locale is required", field="locale")
    canonical = canonical_locale(locale)
    texts = {
        field: _text(data.get(field), field=field, max_length=TRANSLATION_LENGTHS[field])
        for field in TRANSLATED_FIELDS
        if field in data
    }
    return canonical, texts


# --- writes ----------------------------------------------------------------------------------


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, dict)):
        return value.copy()
    return value


def _snapshot(method: PaymentMethod) -> dict:
    return {field: _plain(getattr(method, field)) for field in SNAPSHOT_FIELDS}


def _lock(method: PaymentMethod | uuid.UUID) -> PaymentMethod:
    method_id = getattr(method, "pk", method)
    locked = PaymentMethod.objects.select_for_update().filter(pk=method_id).first()
    if locked is None:
        raise NotFound(NOT_FOUND)
    return locked


def _lock_all(method_id=None) -> PaymentMethod | None:
    """Locks every payment method row in primary-key order and returns ``method_id``'s row.

    Default changes take this lock: locking only the current default would not serialise two
    changes while no row is flagged, and the table holds a handful of rows. Everyone who locks
    several rows does so in primary-key order, so nobody deadlocks.
    """
    rows = list(PaymentMethod.objects.select_for_update().order_by("pk"))
    if method_id is None:
        return None
    for row in rows:
        if row.pk == method_id:
            return row
    raise NotFound(NOT_FOUND)


def _make_default(locked: PaymentMethod, *, actor) -> None:
    """``locked`` becomes the only default; callers hold the locks of ``_lock_all``."""
    if locked.is_default:
        return
    _check_can_be_default(is_active=locked.is_active, plugin_id=locked.plugin_id)
    previous = list(
        PaymentMethod.objects.filter(is_default=True).exclude(pk=locked.pk).order_by("pk")
    )
    # Cleared first: the unique constraint allows one flagged row at any moment.
    PaymentMethod.objects.filter(pk__in=[row.pk for row in previous]).update(
        is_default=False, updated_at=timezone.now()
    )
    locked.is_default = True
    locked.save(update_fields=["is_default", "updated_at"])
    previous_codes = [row.code for row in previous]
    audit_record(
        action="payment_method.default_set",
        object_type="payment_method",
        object_id=locked.pk,
        summary=f"Payment method {locked.code} is now the default"
        + (f" (was {', '.join(previous_codes)})" if previous_codes else ""),
        actor=actor,
        before={"default": previous_codes[0] if len(previous_codes) == 1 else previous_codes},
        after={"default": locked.code},
    )


def payment_method_create(*, data: dict, actor) -> PaymentMethod:
    """Creates a method from cleaned input (409 when the code is taken); with ``is_default`` it
    becomes the only default in the same transaction."""
    make_default = bool(data.get("is_default"))
    fields = {key: value for key, value in data.items() if key != "is_default"}
    payment_method_check(method=None, data=data)
    try:
        with transaction.atomic():
            if PaymentMethod.objects.filter(code=fields["code"]).exists():
                raise Conflict("Payment method code already exists")
            if make_default:
                _lock_all()  # before the new row exists
            method = PaymentMethod.objects.create(**fields)
            audit_record(
                action="payment_method.created",
                object_type="payment_method",
                object_id=method.pk,
                summary=f"Payment method {method.code} created ({payment_method_kind(method)})",
                actor=actor,
                after=_snapshot(method),
            )
            if make_default:
                _make_default(method, actor=actor)
    except IntegrityError:
        raise Conflict("Payment method code already exists") from None
    return method


def payment_method_update(*, method: PaymentMethod, data: dict, actor) -> PaymentMethod:
    """Partial update from cleaned input; the code never changes, the default stays active and
    ``is_default: true`` clears the flag on every other method."""
    with transaction.atomic():
        locked = _lock_all(method.pk) if data.get("is_default") else _lock(method)
        payment_method_check(method=locked, data=data)
        before = _snapshot(locked)
        for field, value in data.items():
            if field not in ("code", "is_default"):
                setattr(locked, field, value)
        locked.save()
        old, new = changes(before, _snapshot(locked))
        if new:
            audit_record(
                action="payment_method.updated",
                object_type="payment_method",
                object_id=locked.pk,
                summary=f"Payment method {locked.code} updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
        if data.get("is_default"):
            _make_default(locked, actor=actor)
    return locked


def payment_method_delete(*, method: PaymentMethod, actor) -> None:
    """Deletes a method that is not the default and that nothing unpaid uses (409 otherwise);
    its translations go with it."""
    with transaction.atomic():
        locked = _lock(method)
        if locked.is_default:
            raise BusinessRuleError("Cannot delete the default payment method")
        if extensions.usage_count("payment_method", locked) > 0:
            raise HasDependencies(
                "Payment method is used by unpaid invoices or subscriptions. Deactivate it instead."
            )
        audit_record(
            action="payment_method.deleted",
            object_type="payment_method",
            object_id=locked.pk,
            summary=f"Payment method {locked.code} deleted",
            actor=actor,
            before=_snapshot(locked),
        )
        locked.delete()


def _set_active(method: PaymentMethod, *, active: bool, actor) -> PaymentMethod:
    with transaction.atomic():
        locked = _lock(method)
        if not active and locked.is_default:
            raise BusinessRuleError("Cannot deactivate the default payment method")
        if locked.is_active == active:
            return locked
        locked.is_active = active
        locked.save(update_fields=["is_active", "updated_at"])
        verb = "activated" if active else "deactivated"
        audit_record(
            action=f"payment_method.{verb}",
            object_type="payment_method",
            object_id=locked.pk,
            summary=f"Payment method {locked.code} {verb}",
            actor=actor,
            before={"is_active": not active},
            after={"is_active": active},
        )
    return locked


def payment_method_activate(*, method: PaymentMethod, actor) -> PaymentMethod:
    """Active again; a no-op when it already is."""
    return _set_active(method, active=True, actor=actor)


def payment_method_deactivate(*, method: PaymentMethod, actor) -> PaymentMethod:
    """Inactive (hidden from customers); the default cannot be deactivated."""
    return _set_active(method, active=False, actor=actor)


def payment_method_set_default(*, method: PaymentMethod, actor) -> PaymentMethod:
    """The method (active, plugin enabled) becomes the only default; the others are cleared in
    the same transaction under row locks. A no-op when it already is the default."""
    with transaction.atomic():
        locked = _lock_all(method.pk)
        _make_default(locked, actor=actor)
    return locked


def payment_methods_reorder(*, order: list[tuple[uuid.UUID, int]], actor) -> list[PaymentMethod]:
    """Sets the given positions (every id must exist, 400 otherwise); returns all methods by
    position."""
    with transaction.atomic():
        ids = [method_id for method_id, _ in order]
        locked = {
            row.pk: row
            for row in PaymentMethod.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        }
        for method_id in ids:
            if method_id not in locked:
                raise ValidationFailed(f"Payment method not found: {method_id}", field="order")
        for method_id, position in order:
            row = locked[method_id]
            if row.position == position:
                continue
            old_position = row.position
            row.position = position
            row.save(update_fields=["position", "updated_at"])
            audit_record(
                action="payment_method.reordered",
                object_type="payment_method",
                object_id=row.pk,
                summary=f"Payment method {row.code} moved from position {old_position} to "
                f"{position}",
                actor=actor,
                before={"position": old_position},
                after={"position": position},
            )
    return payment_methods_all()


def _translation_snapshot(translation: PaymentMethodTranslation) -> dict:
    return {field: getattr(translation, field) for field in TRANSLATED_FIELDS}


def payment_method_translation_save(
    *, method: PaymentMethod, locale: str, data: dict, actor
) -> PaymentMethodTranslation:
    """Inserts or updates the translation for ``locale`` (canonical); only given texts change."""
    with transaction.atomic():
        locked = _lock(method)  # serialises upserts of one method, so no duplicate insert
        translation = (
            PaymentMethodTranslation.objects.select_for_update()
            .filter(payment_method=locked, locale=locale)
            .first()
        )
        created = translation is None
        if created:
            translation = PaymentMethodTranslation(payment_method=locked, locale=locale)
        before = {} if created else _translation_snapshot(translation)
        for field, value in data.items():
            setattr(translation, field, value)
        translation.save()
        after = _translation_snapshot(translation)
        old, new = changes(before, after) if not created else (None, after)
        if new:
            audit_record(
                action="payment_method.translation_saved",
                object_type="payment_method",
                object_id=locked.pk,
                summary=f"Translation {locale} of payment method {locked.code} "
                + ("created" if created else "updated"),
                actor=actor,
                before=None if created else {"locale": locale, **old},
                after={"locale": locale, **new},
            )
    return translation


def payment_method_translation_delete(*, method: PaymentMethod, locale: str, actor) -> None:
    """Deletes the translation for ``locale``; 404 "Translation not found" when there is none."""
    with transaction.atomic():
        locked = _lock(method)
        translation = (
            PaymentMethodTranslation.objects.select_for_update()
            .filter(payment_method=locked, locale=locale)
            .first()
        )
        if translation is None:
            raise NotFound("Translation not found")
        audit_record(
            action="payment_method.translation_deleted",
            object_type="payment_method",
            object_id=locked.pk,
            summary=f"Translation {locale} of payment method {locked.code} deleted",
            actor=actor,
            before={"locale": locale, **_translation_snapshot(translation)},
        )
        translation.delete()


def payment_methods_check_plugin_disable(*, plugin) -> None:
    """Refuses to disable the plugin of the default payment method (receiver of
    ``plugin_disabling``, inside the disable transaction). The rows are locked first, so a
    concurrent default change either finishes before this reads the default or waits."""
    _lock_all()
    default = PaymentMethod.objects.filter(is_default=True).first()
    if default is not None and default.plugin_id == plugin.key:
        raise BusinessRuleError("Cannot disable the plugin of the default payment method")


# --- reads -----------------------------------------------------------------------------------


def payment_methods_all() -> list[PaymentMethod]:
    return list(PaymentMethod.objects.order_by("position", "name"))


def payment_method_by_id(method_id) -> PaymentMethod:
    method = PaymentMethod.objects.filter(pk=method_id).first()
    if method is None:
        raise NotFound(NOT_FOUND)
    return method


def payment_method_by_code(code: str) -> PaymentMethod:
    method = PaymentMethod.objects.filter(code=code).first()
    if method is None:
        raise NotFound(NOT_FOUND)
    return method


def localized_texts(method: PaymentMethod, locale: str | None) -> dict[str, str | None]:
    """The four texts for ``locale``, each falling back from the exact locale to its language
    part, then to the base text. Reads ``method.locale_translations`` when prefetched."""
    texts = {field: getattr(method, field) for field in TRANSLATED_FIELDS}
    chain = locale_chain(locale)
    if not chain:
        return texts
    translations = getattr(method, "locale_translations", None)
    if translations is None:
        translations = list(method.translations.filter(locale__in=chain))
    by_locale = {translation.locale: translation for translation in translations}
    for field in TRANSLATED_FIELDS:
        for candidate in chain:
            translation = by_locale.get(candidate)
            value = getattr(translation, field) if translation is not None else None
            if value:
                texts[field] = value
                break
    return texts


def _with_translations(queryset, locale: str | None):
    chain = locale_chain(locale)
    if not chain:
        return queryset
    return queryset.prefetch_related(
        Prefetch(
            "translations",
            queryset=PaymentMethodTranslation.objects.filter(locale__in=chain),
            to_attr="locale_translations",
        )
    )


@dataclass(frozen=True)
class PublicFilters:
    locale: str | None = None
    currency: str | None = None  # upper-case, 3 letters
    country: str | None = None  # upper-case, 2 letters
    amount: Decimal | None = None  # in ``currency`` (default currency when not given)


def clean_public_filters(query) -> PublicFilters:
    """The query of ``GET /settings/payment-methods``; a malformed value is a 400."""
    locale = (query.get("locale") or "").strip() or None
    currency = (query.get("currency") or "").strip() or None
    country = (query.get("country") or "").strip() or None
    amount = query.get("amount")
    if locale is not None:
        locale = canonical_locale(locale)
    if currency is not None:
        if not CURRENCY_FILTER_PATTERN.match(currency):
            raise ValidationFailed("currency must be a 3-letter code", field="currency")
        currency = currency.upper()
    if country is not None:
        if not COUNTRY_FILTER_PATTERN.match(country):
            raise ValidationFailed("country must be a 2-letter code", field="country")
        country = country.upper()
    parsed_amount = None
    if amount not in (None, ""):
        row = Currency.objects.filter(code=currency).first() if currency else None
        places = row.decimal_places if row is not None else default_currency().decimal_places
        parsed_amount = parse_money(amount, field="amount", places=places)
    return PublicFilters(locale=locale, currency=currency, country=country, amount=parsed_amount)


def amount_in_default_currency(amount: Decimal, currency: str | None) -> Decimal:
    """``amount`` in ``currency`` converted at the current rate; an unknown currency (or none)
    is taken to be the default currency."""
    default = default_currency()
    if not currency or currency == default.code:
        return amount
    row = Currency.objects.filter(code=currency).first()
    if row is None:
        return amount
    return convert(
        amount,
        from_rate=row.exchange_rate,
        to_rate=default.exchange_rate,
        places=default.decimal_places,
    )


def payment_method_accepts(
    method: PaymentMethod,
    *,
    currency: str | None = None,
    country: str | None = None,
    amount_in_default: Decimal | None = None,
) -> bool:
    """Whether the method's allow-lists (empty = all) and amount limits admit the order; the
    amount is in the default currency (``amount_in_default_currency``)."""
    if currency and method.currencies and currency.upper() not in method.currencies:
        return False
    if country and method.countries and country.upper() not in method.countries:
        return False
    if amount_in_default is not None:
        if method.min_amount is not None and amount_in_default < method.min_amount:
            return False
        if method.max_amount is not None and amount_in_default > method.max_amount:
            return False
    return True


def payment_methods_public(filters: PublicFilters) -> list[PaymentMethod]:
    """Available methods (active, gateway plugin enabled) that admit the filters, by position;
    translations for ``filters.locale`` are prefetched (a constant number of queries)."""
    amount = (
        amount_in_default_currency(filters.amount, filters.currency)
        if filters.amount is not None
        else None
    )
    methods = _with_translations(
        PaymentMethod.objects.filter(is_active=True).order_by("position", "name"), filters.locale
    )
    return [
        method
        for method in methods
        if payment_method_is_available(method)
        and payment_method_accepts(
            method, currency=filters.currency, country=filters.country, amount_in_default=amount
        )
    ]


def payment_method_public(*, code: str, locale: str | None) -> PaymentMethod:
    """An available method by code; 404 when unknown, inactive or its plugin is disabled."""
    method = _with_translations(PaymentMethod.objects.filter(code=code), locale).first()
    if method is None or not payment_method_is_available(method):
        raise NotFound(NOT_FOUND)
    return method

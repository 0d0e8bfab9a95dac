"""Currencies: every write runs in one transaction, locks the rows it changes and writes one
audit entry when something changed. ``check_*`` functions hold the rules that read other rows,
so the back office can show the same refusals on its forms before the locked write repeats
them."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction

from audit.services import audit_record, changes
from billing.catalog.models import Currency
from billing.catalog.selectors import currency_places_for_text_forget
from billing.catalog.services.geography.reads import currency_usage
from vbwd.exceptions import BusinessRuleError, Conflict, HasDependencies, NotFound

# Exchange rates: units of a currency per 1 unit of the default, six decimals (rate column is
# DECIMAL(18, 6), so at most twelve integer digits).
RATE_QUANTUM = Decimal("0.000001")
MAX_EXCHANGE_RATE = Decimal("999999999999.999999")
MAX_DECIMAL_PLACES = 4
CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}$")
# What a new currency gets for the fields its input leaves out; its decimal places default to
# its ISO 4217 minor unit (iso_decimal_places), which is also the unit payment providers count in.
CURRENCY_DEFAULTS = {"exchange_rate": Decimal("1.000000"), "is_active": True}
ZERO_DECIMAL_CODES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
     "XAF", "XOF", "XPF"}
)  # fmt: skip
THREE_DECIMAL_CODES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})

DEFAULT_RATE_MESSAGE = "The exchange rate of the default currency is always 1"
DEACTIVATE_DEFAULT_MESSAGE = "Cannot deactivate the default currency"
PLACES_LOCKED_MESSAGE = "decimal_places cannot change once the currency is used"
INACTIVE_DEFAULT_MESSAGE = "Only an active currency can be the default"
DELETE_DEFAULT_MESSAGE = "Cannot delete the default currency"
CURRENCY_USED_MESSAGE = (
    "Currency is used by plans, add-ons, bundles or invoices. Deactivate it instead."
)
CURRENCY_EXISTS_MESSAGE = "Currency code already exists"
CURRENCY_FIELDS = ("code", "name", "symbol", "decimal_places", "exchange_rate", "is_active")


def _currency_snapshot(currency: Currency) -> dict:
    snapshot = {field: getattr(currency, field) for field in CURRENCY_FIELDS}
    snapshot["exchange_rate"] = str(Decimal(currency.exchange_rate).quantize(RATE_QUANTUM))
    snapshot["is_default"] = currency.is_default
    return snapshot


def check_currency_update(currency: Currency, cleaned: dict) -> None:
    """The business rules of an update."""
    if currency.is_default:
        if "exchange_rate" in cleaned and cleaned["exchange_rate"] != 1:
            raise BusinessRuleError(DEFAULT_RATE_MESSAGE)
        if cleaned.get("is_active") is False:
            raise BusinessRuleError(DEACTIVATE_DEFAULT_MESSAGE)
    if (
        "decimal_places" in cleaned
        and cleaned["decimal_places"] != currency.decimal_places
        and currency_usage(currency) > 0
    ):
        raise BusinessRuleError(PLACES_LOCKED_MESSAGE)


def check_currency_delete(currency: Currency) -> None:
    if currency.is_default:
        raise BusinessRuleError(DELETE_DEFAULT_MESSAGE)
    if currency_usage(currency) > 0:
        raise HasDependencies(CURRENCY_USED_MESSAGE)


def iso_decimal_places(code: str) -> int:
    """The ISO 4217 minor unit of ``code``: 0 (JPY), 3 (KWD) or 2 (every other code)."""
    code = code.upper()
    if code in ZERO_DECIMAL_CODES:
        return 0
    return 3 if code in THREE_DECIMAL_CODES else 2


def currency_create(*, data: dict, actor) -> Currency:
    """Creates a non-default currency from validated input (the fields left out take
    ``CURRENCY_DEFAULTS``, and the decimal places the code's ISO minor unit); 409 when the code
    exists."""
    cleaned = {
        **CURRENCY_DEFAULTS,
        "decimal_places": iso_decimal_places(data["code"]),
        **data,
    }
    try:
        with transaction.atomic():
            if Currency.objects.filter(code=cleaned["code"]).exists():
                raise Conflict(CURRENCY_EXISTS_MESSAGE)
            currency = Currency.objects.create(**cleaned, is_default=False)
            audit_record(
                action="currency.created",
                object_type="currency",
                object_id=currency.pk,
                summary=f"Currency {currency.code} created",
                actor=actor,
                after=_currency_snapshot(currency),
            )
    except IntegrityError:
        raise Conflict(CURRENCY_EXISTS_MESSAGE) from None
    return currency


def currency_update(*, currency: Currency, data: dict, actor) -> Currency:
    """Applies the given validated write fields; the default keeps rate 1 and stays active, and the
    decimal places are fixed once anything is priced in the currency."""
    with transaction.atomic():
        locked = Currency.objects.select_for_update().filter(pk=currency.pk).first()
        if locked is None:
            raise NotFound(f"Currency '{currency.code}' not found")
        cleaned = data
        check_currency_update(locked, cleaned)
        before = _currency_snapshot(locked)
        for field, value in cleaned.items():
            setattr(locked, field, value)
        old, new = changes(before, _currency_snapshot(locked))
        if new:
            locked.save()
            audit_record(
                action="currency.updated",
                object_type="currency",
                object_id=locked.pk,
                summary=f"Currency {locked.code} updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
    currency_places_for_text_forget()
    return locked


def currency_set_default(*, currency: Currency, actor) -> Currency:
    """Makes an active currency the default and rebases every rate on it (rate ÷ its rate,
    rounded half-up to six places), so the new default has rate 1; no-op when already default."""
    with transaction.atomic():
        currencies = list(Currency.objects.select_for_update().order_by("pk"))
        target = next((row for row in currencies if row.pk == currency.pk), None)
        if target is None:
            raise NotFound(f"Currency '{currency.code}' not found")
        if not target.is_active:
            raise BusinessRuleError(INACTIVE_DEFAULT_MESSAGE)
        if target.is_default:
            return target
        base = Decimal(target.exchange_rate)
        before = {
            row.code: str(Decimal(row.exchange_rate).quantize(RATE_QUANTUM)) for row in currencies
        }
        old_default = next((row for row in currencies if row.is_default), None)
        for row in currencies:
            if row.pk == target.pk:
                row.exchange_rate = Decimal("1.000000")
                continue
            rebased = (Decimal(row.exchange_rate) / base).quantize(RATE_QUANTUM, ROUND_HALF_UP)
            if not 0 < rebased <= MAX_EXCHANGE_RATE:
                raise BusinessRuleError(
                    f"The exchange rate of {row.code} would fall outside the supported range "
                    f"after rebasing on {target.code}"
                )
            row.exchange_rate = rebased
        # The partial unique index allows one default at a time: clear the old one first.
        if old_default is not None:
            old_default.is_default = False
            old_default.save(update_fields=["is_default", "exchange_rate", "updated_at"])
        for row in currencies:
            if row is not old_default and row is not target:
                row.save(update_fields=["exchange_rate", "updated_at"])
        target.is_default = True
        target.save(update_fields=["is_default", "exchange_rate", "updated_at"])
        audit_record(
            action="currency.default_changed",
            object_type="currency",
            object_id=target.pk,
            summary=(
                f"Default currency changed from {old_default.code if old_default else '-'} "
                f"to {target.code}; exchange rates rebased"
            ),
            actor=actor,
            before={"default": old_default.code if old_default else None, "rates": before},
            after={
                "default": target.code,
                "rates": {row.code: str(row.exchange_rate) for row in currencies},
            },
        )
    return target


def currency_delete(*, currency: Currency, actor) -> None:
    """Deletes a currency nothing is priced or invoiced in; never the default."""
    with transaction.atomic():
        locked = Currency.objects.select_for_update().filter(pk=currency.pk).first()
        if locked is None:
            raise NotFound(f"Currency '{currency.code}' not found")
        check_currency_delete(locked)
        snapshot = _currency_snapshot(locked)
        pk = locked.pk
        locked.delete()
        audit_record(
            action="currency.deleted",
            object_type="currency",
            object_id=pk,
            summary=f"Currency {snapshot['code']} deleted",
            actor=actor,
            before=snapshot,
        )

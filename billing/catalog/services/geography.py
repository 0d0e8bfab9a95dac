"""Currencies, countries and tax rates (API.md §18): input rules and every write of the three
tables, for the API and the back office alike.

Each write runs in one transaction, locks the rows it changes first and writes one audit entry
when something changed. ``clean_*`` functions turn raw input (JSON values or form-cleaned Python
values) into typed values; ``check_*`` functions apply the rules that read other rows, so the
back office can show the same refusals on its forms before the locked write repeats them.
"""

from __future__ import annotations

import datetime
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Max, Q, Value, When
from django.utils import timezone

from audit.services import audit_record, changes
from billing.catalog import extensions
from billing.catalog.models import AddOn, Country, Currency, Plan, TaxRate
from billing.catalog.selectors import currency_places_for_text_forget
from vbwd.exceptions import (
    BusinessRuleError,
    Conflict,
    HasDependencies,
    NotFound,
    ValidationFailed,
)
from vbwd.filters import parse_bool

# Exchange rates: units of a currency per 1 unit of the default, six decimals (rate column is
# DECIMAL(18, 6), so at most twelve integer digits).
RATE_QUANTUM = Decimal("0.000001")
MAX_EXCHANGE_RATE = Decimal("999999999999.999999")
MAX_DECIMAL_PLACES = 4
# Tax rates: percent with two decimals, 0..100.
PERCENT_QUANTUM = Decimal("0.01")
HUNDRED = Decimal(100)
DISABLED_POSITION = 999
CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}$")

DEFAULT_RATE_MESSAGE = "The exchange rate of the default currency is always 1"
DEACTIVATE_DEFAULT_MESSAGE = "Cannot deactivate the default currency"
PLACES_LOCKED_MESSAGE = "decimal_places cannot change once the currency is used"
INACTIVE_DEFAULT_MESSAGE = "Only an active currency can be the default"
DELETE_DEFAULT_MESSAGE = "Cannot delete the default currency"
CURRENCY_USED_MESSAGE = (
    "Currency is used by plans, add-ons, bundles or invoices. Deactivate it instead."
)
CURRENCY_EXISTS_MESSAGE = "Currency code already exists"
TAX_RATE_EXISTS_MESSAGE = "Tax rate code already exists"
RATE_IN_USE_UPDATE_MESSAGE = (
    "This rate is used on invoices; create a new rate with a later valid_from instead"
)
RATE_IN_USE_DELETE_MESSAGE = "This rate is used on invoices. Set valid_to instead."

CURRENCY_FIELDS = ("code", "name", "symbol", "decimal_places", "exchange_rate", "is_active")
TAX_RATE_FIELDS = (
    "country_code",
    "region_code",
    "name",
    "code",
    "rate",
    "is_inclusive",
    "is_active",
    "valid_from",
    "valid_to",
    "description",
)
# What may still change on a rate that appears on issued invoices.
TAX_RATE_FIELDS_AFTER_USE = ("name", "description", "valid_to", "is_active")


# --- input values ---------------------------------------------------------------------------


def _text(value, *, field: str, label: str, required: bool, max_length: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed(f"{label} is required", field=field)
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string", field=field)
    value = value.strip()
    if len(value) > max_length:
        raise ValidationFailed(f"{field} must be at most {max_length} characters", field=field)
    return value


def _boolean(value, *, field: str) -> bool:
    parsed = parse_bool(value, name=field)
    if parsed is None:
        raise ValidationFailed(f"{field} must be true or false", field=field)
    return parsed


def _integer(value, *, field: str, low: int, high: int) -> int:
    message = f"{field} must be a whole number from {low} to {high}"
    if isinstance(value, bool):
        raise ValidationFailed(message, field=field)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(message, field=field) from None
    if not number.is_finite() or number != number.to_integral_value() or not low <= number <= high:
        raise ValidationFailed(message, field=field)
    return int(number)


def _decimal(value, *, field: str) -> Decimal:
    if isinstance(value, bool) or value is None or value == "":
        raise ValidationFailed(f"{field} must be a number", field=field)
    try:
        # JSON numbers arrive as int/float; their shortest repr is the number the client wrote.
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{field} must be a number", field=field) from None
    if not number.is_finite():
        raise ValidationFailed(f"{field} must be a number", field=field)
    return number


def _places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _date(value, *, field: str) -> datetime.date:
    if isinstance(value, datetime.datetime):
        raise ValidationFailed(f"{field} must be a date (YYYY-MM-DD)", field=field)
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationFailed(f"{field} must be a date (YYYY-MM-DD)", field=field)


def exchange_rate_value(value, *, field: str = "exchange_rate") -> Decimal:
    """A rate > 0 with at most six decimals."""
    number = _decimal(value, field=field)
    if number <= 0:
        raise ValidationFailed(f"{field} must be greater than 0", field=field)
    if _places(number) > 6:
        raise ValidationFailed(f"{field} must have at most 6 decimal places", field=field)
    if number > MAX_EXCHANGE_RATE:
        raise ValidationFailed(f"{field} is too large", field=field)
    return number.quantize(RATE_QUANTUM)


def percent_value(value, *, field: str = "rate") -> Decimal:
    """A percentage from 0 to 100 with at most two decimals."""
    number = _decimal(value, field=field)
    if not 0 <= number <= HUNDRED:
        raise ValidationFailed(f"{field} must be between 0 and 100", field=field)
    if _places(number) > 2:
        raise ValidationFailed(f"{field} must have at most 2 decimal places", field=field)
    return number.quantize(PERCENT_QUANTUM)


def country_code_value(value, *, field: str = "country_code") -> str:
    """The upper-cased code of a country in the table."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed(f"{field} is required", field=field)
    code = str(value).strip().upper()
    if len(code) != 2 or not Country.objects.filter(code=code).exists():
        raise ValidationFailed(f"Unknown country code: {code}", field=field)
    return code


# --- reads ----------------------------------------------------------------------------------


def currency_get(code: str) -> Currency:
    normalised = str(code).strip().upper()
    currency = Currency.objects.filter(code=normalised).first()
    if currency is None:
        raise NotFound(f"Currency '{normalised}' not found")
    return currency


def country_get(code: str) -> Country:
    normalised = str(code).strip().upper()
    country = Country.objects.filter(code=normalised).first()
    if country is None:
        raise NotFound(f"Country '{normalised}' not found")
    return country


def tax_rate_get(tax_rate_id) -> TaxRate:
    tax_rate = TaxRate.objects.filter(pk=tax_rate_id).first()
    if tax_rate is None:
        raise NotFound("Tax rate not found")
    return tax_rate


def currencies_ordered():
    """Default first, then by code."""
    return Currency.objects.order_by("-is_default", "code")


def countries_ordered():
    """Enabled first by position (then name), then disabled by name."""
    enabled_position = Case(When(is_enabled=True, then=F("position")), default=Value(0))
    return Country.objects.order_by("-is_enabled", enabled_position, "name")


def countries_enabled():
    return Country.objects.filter(is_enabled=True).order_by("position", "name")


def countries_disabled():
    return Country.objects.filter(is_enabled=False).order_by("name")


def tax_rates_filtered(
    *,
    country: str | None = None,
    is_active: bool | None = None,
    valid_on: datetime.date | None = None,
):
    """By country, region (country-wide first) and valid_from, newest first."""
    queryset = TaxRate.objects.all()
    if country is not None:
        queryset = queryset.filter(country_code=country)
    if is_active is not None:
        queryset = queryset.filter(is_active=is_active)
    if valid_on is not None:
        queryset = queryset.filter(valid_from__lte=valid_on).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=valid_on)
        )
    return queryset.order_by(
        "country_code", F("region_code").asc(nulls_first=True), "-valid_from", "code"
    )


def currency_usage(currency: Currency) -> int:
    """Plans and add-ons priced in the currency, plus what higher apps report (bundles,
    invoices)."""
    return (
        Plan.objects.filter(currency=currency.code).count()
        + AddOn.objects.filter(currency=currency.code).count()
        + extensions.usage_count("currency", currency)
    )


def tax_rate_in_use(tax_rate: TaxRate) -> bool:
    return extensions.usage_count("tax_rate", tax_rate) > 0


# --- currencies -----------------------------------------------------------------------------


def _currency_snapshot(currency: Currency) -> dict:
    snapshot = {field: getattr(currency, field) for field in CURRENCY_FIELDS}
    snapshot["exchange_rate"] = str(Decimal(currency.exchange_rate).quantize(RATE_QUANTUM))
    snapshot["is_default"] = currency.is_default
    return snapshot


def clean_currency_input(data: dict, *, currency: Currency | None = None) -> dict:
    """Typed values of the write fields present in ``data`` (all of them, with defaults, on
    create). ``code`` is create-only; on update it may only repeat the current code."""
    creating = currency is None
    cleaned: dict = {}
    if creating:
        code = data.get("code")
        if code is None or (isinstance(code, str) and not code.strip()):
            raise ValidationFailed("Code is required", field="code")
        if not isinstance(code, str) or not CURRENCY_CODE.match(code.strip()):
            raise ValidationFailed("code must be a 3-letter code", field="code")
        cleaned["code"] = code.strip().upper()
    elif data.get("code") not in (None, "") and str(data["code"]).strip().upper() != currency.code:
        raise ValidationFailed("code cannot be changed", field="code")
    if creating or "name" in data:
        cleaned["name"] = _text(
            data.get("name"), field="name", label="Name", required=True, max_length=100
        )
    if creating or "symbol" in data:
        cleaned["symbol"] = _text(
            data.get("symbol"), field="symbol", label="Symbol", required=True, max_length=10
        )
    if data.get("decimal_places") is not None:
        cleaned["decimal_places"] = _integer(
            data["decimal_places"], field="decimal_places", low=0, high=MAX_DECIMAL_PLACES
        )
    elif creating:
        cleaned["decimal_places"] = 2
    if data.get("exchange_rate") is not None:
        cleaned["exchange_rate"] = exchange_rate_value(data["exchange_rate"])
    elif creating:
        cleaned["exchange_rate"] = Decimal("1.000000")
    if data.get("is_active") is not None:
        cleaned["is_active"] = _boolean(data["is_active"], field="is_active")
    elif creating:
        cleaned["is_active"] = True
    return cleaned


def check_currency_update(currency: Currency, cleaned: dict) -> None:
    """The business rules of an update (API.md §18.2)."""
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


def currency_create(*, data: dict, actor) -> Currency:
    """Creates a non-default currency; 409 when the code exists."""
    cleaned = clean_currency_input(data)
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
    """Applies the given write fields; the default keeps rate 1 and stays active, and the
    decimal places are fixed once anything is priced in the currency."""
    with transaction.atomic():
        locked = Currency.objects.select_for_update().filter(pk=currency.pk).first()
        if locked is None:
            raise NotFound(f"Currency '{currency.code}' not found")
        cleaned = clean_currency_input(data, currency=locked)
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


# --- countries ------------------------------------------------------------------------------


def _lock_countries() -> None:
    """Locks the whole (small) country table in one order, so position changes queue up and
    two enables cannot take the same position."""
    list(Country.objects.select_for_update().order_by("pk").values_list("pk", flat=True))


def _locked_country(country: Country) -> Country:
    _lock_countries()
    locked = Country.objects.filter(pk=country.pk).first()
    if locked is None:
        raise NotFound(f"Country '{country.code}' not found")
    return locked


def country_enable(*, country: Country, actor) -> Country:
    """Enables the country at the end of the enabled list; no-op when already enabled."""
    with transaction.atomic():
        locked = _locked_country(country)
        if locked.is_enabled:
            return locked
        last = Country.objects.filter(is_enabled=True).aggregate(last=Max("position"))["last"]
        before = {"is_enabled": False, "position": locked.position}
        locked.is_enabled = True
        locked.position = 0 if last is None else last + 1
        locked.save(update_fields=["is_enabled", "position", "updated_at"])
        audit_record(
            action="country.enabled",
            object_type="country",
            object_id=locked.pk,
            summary=f"Country {locked.code} enabled at position {locked.position}",
            actor=actor,
            before=before,
            after={"is_enabled": True, "position": locked.position},
        )
    return locked


def country_disable(*, country: Country, actor) -> Country:
    """Disables the country (position 999); no-op when already disabled."""
    with transaction.atomic():
        locked = _locked_country(country)
        if not locked.is_enabled and locked.position == DISABLED_POSITION:
            return locked
        before = {"is_enabled": locked.is_enabled, "position": locked.position}
        locked.is_enabled = False
        locked.position = DISABLED_POSITION
        locked.save(update_fields=["is_enabled", "position", "updated_at"])
        audit_record(
            action="country.disabled",
            object_type="country",
            object_id=locked.pk,
            summary=f"Country {locked.code} disabled",
            actor=actor,
            before=before,
            after={"is_enabled": False, "position": DISABLED_POSITION},
        )
    return locked


def countries_reorder(*, codes, actor) -> list[Country]:
    """Gives each listed (enabled) country its index as position; returns the enabled ones."""
    if codes is None or codes == "" or codes == []:
        raise ValidationFailed("codes list required", field="codes")
    if not isinstance(codes, list):
        raise ValidationFailed("codes must be a list", field="codes")
    if not all(isinstance(code, str) for code in codes):
        raise ValidationFailed("codes must be a list of country codes", field="codes")
    normalised = [code.strip().upper() for code in codes]
    with transaction.atomic():
        _lock_countries()
        by_code = {country.code: country for country in Country.objects.all()}
        seen: set[str] = set()
        for code in normalised:
            country = by_code.get(code)
            if country is None:
                raise NotFound(f"Country '{code}' not found")
            if not country.is_enabled:
                raise ValidationFailed(f"Country '{code}' is not enabled", field="codes")
            if code in seen:
                raise ValidationFailed(f"Country '{code}' is listed twice", field="codes")
            seen.add(code)
        before, after = {}, {}
        for position, code in enumerate(normalised):
            country = by_code[code]
            if country.position != position:
                before[code], after[code] = country.position, position
                country.position = position
                country.save(update_fields=["position", "updated_at"])
        if after:
            audit_record(
                action="countries.reordered",
                object_type="country",
                object_id="positions",
                summary=f"Enabled countries reordered: {', '.join(normalised)}",
                actor=actor,
                before=before,
                after=after,
            )
    return list(countries_enabled())


def clean_country_input(data: dict, *, country: Country) -> dict:
    """Typed values of the back-office fields present in ``data``: name, is_eu, and position
    (0..998, enabled countries only; a disabled one stays at 999)."""
    cleaned: dict = {}
    if "name" in data:
        cleaned["name"] = _text(
            data["name"], field="name", label="Name", required=True, max_length=100
        )
    if data.get("is_eu") is not None:
        cleaned["is_eu"] = _boolean(data["is_eu"], field="is_eu")
    if data.get("position") is not None:
        if country.is_enabled:
            cleaned["position"] = _integer(
                data["position"], field="position", low=0, high=DISABLED_POSITION - 1
            )
        elif str(data["position"]).strip() != str(country.position):
            raise ValidationFailed(
                "Only an enabled country has a position; enable it first", field="position"
            )
    return cleaned


def country_update(*, country: Country, data: dict, actor) -> Country:
    """Back-office edit of a country's name, EU membership and (enabled only) position."""
    with transaction.atomic():
        locked = _locked_country(country)
        cleaned = clean_country_input(data, country=locked)
        before = {field: getattr(locked, field) for field in cleaned}
        for field, value in cleaned.items():
            setattr(locked, field, value)
        old, new = changes(before, cleaned)
        if new:
            locked.save()
            audit_record(
                action="country.updated",
                object_type="country",
                object_id=locked.pk,
                summary=f"Country {locked.code} updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
    return locked


# --- tax rates ------------------------------------------------------------------------------


def _tax_rate_snapshot(tax_rate: TaxRate) -> dict:
    snapshot = {field: getattr(tax_rate, field) for field in TAX_RATE_FIELDS}
    snapshot["rate"] = str(Decimal(tax_rate.rate).quantize(PERCENT_QUANTUM))
    return snapshot


def clean_tax_rate_input(data: dict, *, creating: bool) -> dict:
    """Typed values of the write fields present in ``data`` (all of them, with defaults, on
    create). Rules across fields and rows are in ``check_tax_rate``."""
    cleaned: dict = {}
    if creating or "country_code" in data:
        cleaned["country_code"] = country_code_value(data.get("country_code"))
    if "region_code" in data:
        region = _text(
            data["region_code"],
            field="region_code",
            label="region_code",
            required=False,
            max_length=20,
        )
        cleaned["region_code"] = region.upper() if region else None
    elif creating:
        cleaned["region_code"] = None
    if creating or "name" in data:
        cleaned["name"] = _text(
            data.get("name"), field="name", label="Name", required=True, max_length=100
        )
    if creating or "code" in data:
        cleaned["code"] = _text(
            data.get("code"), field="code", label="Code", required=True, max_length=50
        )
    if creating or "rate" in data:
        if data.get("rate") is None or data.get("rate") == "":
            raise ValidationFailed("Rate is required", field="rate")
        cleaned["rate"] = percent_value(data["rate"])
    for field, default in (("is_inclusive", False), ("is_active", True)):
        if data.get(field) is not None:
            cleaned[field] = _boolean(data[field], field=field)
        elif creating:
            cleaned[field] = default
    if data.get("valid_from") not in (None, ""):
        cleaned["valid_from"] = _date(data["valid_from"], field="valid_from")
    elif creating:
        cleaned["valid_from"] = timezone.now().date()
    elif "valid_from" in data:
        raise ValidationFailed("valid_from must be a date (YYYY-MM-DD)", field="valid_from")
    if "valid_to" in data:
        value = data["valid_to"]
        cleaned["valid_to"] = None if value in (None, "") else _date(value, field="valid_to")
    elif creating:
        cleaned["valid_to"] = None
    if "description" in data:
        value = data["description"]
        if value is not None and not isinstance(value, str):
            raise ValidationFailed("description must be a string", field="description")
        cleaned["description"] = (value or "").strip() or None
    elif creating:
        cleaned["description"] = None
    return cleaned


def _overlapping(values: dict, *, exclude_pk=None) -> TaxRate | None:
    """The earliest other active rate of the same country and region whose validity meets
    [valid_from, valid_to] (both inclusive, null valid_to = open-ended)."""
    if not values["is_active"]:
        return None
    queryset = TaxRate.objects.filter(country_code=values["country_code"], is_active=True)
    if values["region_code"]:
        queryset = queryset.filter(region_code=values["region_code"])
    else:
        queryset = queryset.filter(region_code__isnull=True)
    queryset = queryset.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=values["valid_from"]))
    if values["valid_to"] is not None:
        queryset = queryset.filter(valid_from__lte=values["valid_to"])
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.order_by("valid_from").first()


def check_tax_rate(cleaned: dict, *, tax_rate: TaxRate | None = None) -> None:
    """The rules across fields and rows: valid_to ≥ valid_from, a rate on issued invoices
    keeps its terms, a unique code, no overlap with another active rate of the same place."""
    values = _tax_rate_snapshot(tax_rate) if tax_rate is not None else {}
    values.update(cleaned)
    if values["valid_to"] is not None and values["valid_to"] < values["valid_from"]:
        raise ValidationFailed("valid_to must be on or after valid_from", field="valid_to")
    if tax_rate is not None:
        changed = [field for field in cleaned if cleaned[field] != getattr(tax_rate, field)]
        if any(field not in TAX_RATE_FIELDS_AFTER_USE for field in changed) and tax_rate_in_use(
            tax_rate
        ):
            raise BusinessRuleError(RATE_IN_USE_UPDATE_MESSAGE)
    code_taken = TaxRate.objects.filter(code=values["code"])
    if tax_rate is not None:
        code_taken = code_taken.exclude(pk=tax_rate.pk)
    if code_taken.exists():
        raise Conflict(TAX_RATE_EXISTS_MESSAGE)
    other = _overlapping(values, exclude_pk=tax_rate.pk if tax_rate is not None else None)
    if other is not None:
        place = values["country_code"]
        if values["region_code"]:
            place = f"{place}/{values['region_code']}"
        raise Conflict(f"Overlapping tax rate for {place} from {other.valid_from.isoformat()}")


def _lock_tax_places(country_codes) -> None:
    """Locks the countries (in primary-key order, as every country lock is taken) and then their
    rates: every write of a country's rates queues here, so the overlap check sees the other
    writer's committed rate, even when the country has no rate yet to lock."""
    codes = sorted(set(country_codes))
    list(
        Country.objects.select_for_update()
        .filter(code__in=codes)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    list(
        TaxRate.objects.select_for_update()
        .filter(country_code__in=codes)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _save_tax_rate(tax_rate: TaxRate) -> None:
    try:
        with transaction.atomic():
            tax_rate.save()
    except IntegrityError:
        raise Conflict(TAX_RATE_EXISTS_MESSAGE) from None


def tax_rate_create(*, data: dict, actor) -> TaxRate:
    """Creates a rate; 409 when the code is taken or it overlaps an active rate of the same
    country and region."""
    cleaned = clean_tax_rate_input(data, creating=True)
    with transaction.atomic():
        _lock_tax_places([cleaned["country_code"]])
        check_tax_rate(cleaned)
        tax_rate = TaxRate(**cleaned)
        _save_tax_rate(tax_rate)
        audit_record(
            action="tax_rate.created",
            object_type="tax_rate",
            object_id=tax_rate.pk,
            summary=f"Tax rate {tax_rate.code} ({tax_rate.rate}%) created",
            actor=actor,
            after=_tax_rate_snapshot(tax_rate),
        )
    return tax_rate


def tax_rate_update(*, tax_rate: TaxRate, data: dict, actor) -> TaxRate:
    """Applies the given write fields; once on issued invoices only name, description,
    valid_to and is_active may change."""
    cleaned = clean_tax_rate_input(data, creating=False)
    with transaction.atomic():
        _lock_tax_places(
            [tax_rate.country_code, cleaned.get("country_code", tax_rate.country_code)]
        )
        locked = TaxRate.objects.select_for_update().filter(pk=tax_rate.pk).first()
        if locked is None:
            raise NotFound("Tax rate not found")
        check_tax_rate(cleaned, tax_rate=locked)
        before = _tax_rate_snapshot(locked)
        for field, value in cleaned.items():
            setattr(locked, field, value)
        old, new = changes(before, _tax_rate_snapshot(locked))
        if new:
            _save_tax_rate(locked)
            audit_record(
                action="tax_rate.updated",
                object_type="tax_rate",
                object_id=locked.pk,
                summary=f"Tax rate {locked.code} updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
    return locked


def tax_rate_set_active(*, tax_rate: TaxRate, is_active: bool, actor) -> TaxRate:
    """Activates (subject to the overlap rule) or deactivates a rate."""
    return tax_rate_update(tax_rate=tax_rate, data={"is_active": is_active}, actor=actor)


def check_tax_rate_delete(tax_rate: TaxRate) -> None:
    if tax_rate_in_use(tax_rate):
        raise HasDependencies(RATE_IN_USE_DELETE_MESSAGE)


def tax_rate_delete(*, tax_rate: TaxRate, actor) -> None:
    """Deletes a rate that no issued invoice carries."""
    with transaction.atomic():
        locked = TaxRate.objects.select_for_update().filter(pk=tax_rate.pk).first()
        if locked is None:
            raise NotFound("Tax rate not found")
        check_tax_rate_delete(locked)
        snapshot = _tax_rate_snapshot(locked)
        pk = locked.pk
        locked.delete()
        audit_record(
            action="tax_rate.deleted",
            object_type="tax_rate",
            object_id=pk,
            summary=f"Tax rate {snapshot['code']} deleted",
            actor=actor,
            before=snapshot,
        )

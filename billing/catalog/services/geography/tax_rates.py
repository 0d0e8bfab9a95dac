"""Tax rates: every write locks the rates of the countries it touches, checks the rules
across fields and rows, and writes one audit entry when something changed."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record, changes
from billing.catalog.models import Country, TaxRate
from billing.catalog.services.geography.reads import tax_rate_in_use
from vbwd.exceptions import BusinessRuleError, Conflict, HasDependencies, NotFound, ValidationFailed

# Tax rates: percent with two decimals, 0..100.
PERCENT_QUANTUM = Decimal("0.01")
HUNDRED = Decimal(100)
TAX_RATE_EXISTS_MESSAGE = "Tax rate code already exists"
RATE_IN_USE_UPDATE_MESSAGE = (
    "This rate is used on invoices; create a new rate with a later valid_from instead"
)
RATE_IN_USE_DELETE_MESSAGE = "This rate is used on invoices. Set valid_to instead."
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

# What a new rate gets for the fields its input leaves out (valid_from: today).
TAX_RATE_DEFAULTS = {
    "region_code": None,
    "is_inclusive": False,
    "is_active": True,
    "valid_to": None,
    "description": None,
}


def _tax_rate_snapshot(tax_rate: TaxRate) -> dict:
    snapshot = {field: getattr(tax_rate, field) for field in TAX_RATE_FIELDS}
    snapshot["rate"] = str(Decimal(tax_rate.rate).quantize(PERCENT_QUANTUM))
    return snapshot


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


def _check_country_known(code: str) -> None:
    if len(code) != 2 or not Country.objects.filter(code=code).exists():
        raise ValidationFailed(f"Unknown country code: {code}", field="country_code")


def check_tax_rate(cleaned: dict, *, tax_rate: TaxRate | None = None) -> None:
    """The rules across fields and rows for validated input: a known country, valid_to ≥
    valid_from, a rate on issued invoices keeps its terms, a unique code, no overlap with
    another active rate of the same place."""
    if "country_code" in cleaned:
        _check_country_known(cleaned["country_code"])
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
    """Creates a rate from validated input (the fields left out take ``TAX_RATE_DEFAULTS``,
    valid_from today); 409 when the code is taken or it overlaps an active rate of the same
    country and region."""
    cleaned = {**TAX_RATE_DEFAULTS, "valid_from": timezone.now().date(), **data}
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
    """Applies the given validated write fields; once on issued invoices only name,
    description, valid_to and is_active may change."""
    cleaned = data
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

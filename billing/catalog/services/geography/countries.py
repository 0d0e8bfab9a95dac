"""Countries: enabling, disabling, ordering and the back-office edit; the whole (small) table
is locked in one order, so position changes queue up."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from audit.services import audit_record, changes
from billing.catalog.models import Country
from billing.catalog.services.geography.reads import countries_enabled
from vbwd.exceptions import NotFound, ValidationFailed

DISABLED_POSITION = 999


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


def countries_reorder(*, codes: list[str], actor) -> list[Country]:
    """Gives each listed (enabled, upper-case) country its index as position; returns the
    enabled ones."""
    normalised = codes
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


def country_update(*, country: Country, data: dict, actor) -> Country:
    """Back-office edit of a country's name, EU membership and (enabled only) position, from
    validated input."""
    with transaction.atomic():
        locked = _locked_country(country)
        cleaned = data
        if "position" in cleaned and not locked.is_enabled:
            raise ValidationFailed(
                "Only an enabled country has a position; enable it first", field="position"
            )
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

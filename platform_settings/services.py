"""Validation and the one write path of the platform settings (API.md §2.10, §19)."""

from __future__ import annotations

import itertools
import re
import string

from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from stdnum import bic, iban

from accounts.countries import country_code_for
from audit.services import audit_record, changes
from platform_settings import selectors
from platform_settings.models import PlatformSettings
from vbwd.exceptions import ValidationFailed

TEXT_LIMITS = {
    "provider_name": 255,
    "company_name": 255,
    "other_links": None,
    "address_street": 255,
    "address_city": 100,
    "address_postal_code": 20,
    "vat_id": 50,
    "bank_account_holder": 255,
    "bank_name": 255,
    "terms_title": 255,
    "terms_content": None,
    "invoice_footer": None,
}
EMAIL_KEYS = ("contact_email", "company_email")
NUMBER_FORMAT_KEYS = ("invoice_number_format", "credit_note_number_format")
DAY_RANGES = {
    "payment_terms_days": (0, 365),
    "grace_period_days": (0, 90),
    "renewal_lead_days": (0, 30),
    "max_pause_days": (1, 365),
}
SETTINGS_KEYS = (
    *TEXT_LIMITS,
    *EMAIL_KEYS,
    "website_url",
    "address_country",
    "bank_iban",
    "bank_bic",
    *NUMBER_FORMAT_KEYS,
    *DAY_RANGES,
    "payment_retry_days",
)
_FORMAT_SPEC = re.compile(r"^(0\d+d)?$")  # nothing, or zero padding such as 06d
_url_validator = URLValidator(schemes=["http", "https"])


def _text(key: str, value, errors: dict) -> str | None:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[key] = [f"{key} must be a string"]
        return None
    value = value.strip() if key != "terms_content" else value
    limit = TEXT_LIMITS.get(key)
    if limit is not None and len(value) > limit:
        errors[key] = [f"{key} must be at most {limit} characters"]
        return None
    return value


def number_format_error(key: str, value: str) -> str | None:
    """Why a number format is unusable, or None; {year} and {sequence} only, e.g. {sequence:06d}."""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError:
        return f"{key} is not a valid format"
    if any(conversion for _text, _name, _spec, conversion in parsed):
        return f"{key} placeholders accept only a width such as {{sequence:06d}}"
    fields = [(name, spec) for _text, name, spec, _conversion in parsed]
    names = [name for name, _spec in fields if name is not None]
    if any(name not in {"year", "sequence"} for name in names):
        return f"{key} may only use the placeholders {{year}} and {{sequence}}"
    if "year" not in names or "sequence" not in names:
        return f"{key} must contain {{year}} and {{sequence}}"
    if any(not _FORMAT_SPEC.match(spec or "") for name, spec in fields if name is not None):
        return f"{key} placeholders accept only a width such as {{sequence:06d}}"
    if len(value) > 100:
        return f"{key} must be at most 100 characters"
    return None


def validate_changes(data: dict, current: PlatformSettings) -> dict:
    """The cleaned values of the known keys in ``data``; every invalid key is reported at once."""
    cleaned: dict = {}
    errors: dict[str, list[str]] = {}
    for key in TEXT_LIMITS:
        if key in data:
            value = _text(key, data[key], errors)
            if value is not None:
                cleaned[key] = value
    if "terms_title" in cleaned and not cleaned["terms_title"]:
        errors["terms_title"] = ["terms_title cannot be empty"]
    for key in EMAIL_KEYS:
        if key in data:
            value = _text(key, data[key], errors)
            if value:
                try:
                    validate_email(value)
                except DjangoValidationError:
                    errors[key] = [f"{key} must be a valid email address"]
                    continue
            if value is not None:
                cleaned[key] = value.lower()
    if "website_url" in data:
        value = _text("website_url", data["website_url"], errors)
        if value:
            try:
                _url_validator(value)
            except DjangoValidationError:
                errors["website_url"] = ["website_url must be an http(s) URL"]
                value = None
        if value is not None:
            cleaned["website_url"] = value
    if "address_country" in data:
        value = _text("address_country", data["address_country"], errors)
        if value is not None:
            code = country_code_for(value)
            if code is None:
                errors["address_country"] = [f"Unknown country: {value}"]
            else:
                cleaned["address_country"] = code
    if "bank_iban" in data:
        value = _text("bank_iban", data["bank_iban"], errors)
        if value is not None:
            compact = iban.compact(value)
            if compact and not iban.is_valid(compact):
                errors["bank_iban"] = ["Invalid IBAN"]
            else:
                cleaned["bank_iban"] = compact
    if "bank_bic" in data:
        value = _text("bank_bic", data["bank_bic"], errors)
        if value is not None:
            compact = bic.compact(value)
            if compact and (len(compact) not in (8, 11) or not bic.is_valid(compact)):
                errors["bank_bic"] = ["bank_bic must be a BIC of 8 or 11 characters"]
            else:
                cleaned["bank_bic"] = compact
    for key in NUMBER_FORMAT_KEYS:
        if key in data:
            value = _text(key, data[key], errors)
            if value is not None:
                problem = number_format_error(key, value)
                if problem:
                    errors[key] = [problem]
                else:
                    cleaned[key] = value
    for key, (low, high) in DAY_RANGES.items():
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors[key] = [f"{key} must be an integer between {low} and {high}"]
            else:
                cleaned[key] = value
    grace = cleaned.get("grace_period_days", current.grace_period_days)
    retry_days = data.get("payment_retry_days", current.payment_retry_days)
    if "payment_retry_days" in data or "grace_period_days" in cleaned:
        valid = (
            isinstance(retry_days, list)
            and all(isinstance(day, int) and not isinstance(day, bool) for day in retry_days)
            and all(1 <= day <= grace for day in retry_days)
            and all(first < second for first, second in itertools.pairwise(retry_days))
        )
        if not valid:
            errors["payment_retry_days"] = [
                "payment_retry_days must be ascending and within grace_period_days"
            ]
        elif "payment_retry_days" in data:
            cleaned["payment_retry_days"] = retry_days
    if errors:
        raise ValidationFailed.from_errors(errors)
    return cleaned


def _snapshot(row: PlatformSettings) -> dict:
    return {key: getattr(row, key) for key in SETTINGS_KEYS}


def platform_settings_update(*, data: dict, actor, reason: str | None = None) -> PlatformSettings:
    """Validates and stores settings; every worker sees them at once (shared cache refreshed
    after commit). Changes affect only invoices and periods created afterwards."""
    with transaction.atomic():
        PlatformSettings.objects.get_or_create(pk=PlatformSettings.SINGLETON_ID)
        row = PlatformSettings.objects.select_for_update().get(pk=PlatformSettings.SINGLETON_ID)
        cleaned = validate_changes(data, row)
        before = _snapshot(row)
        for key, value in cleaned.items():
            setattr(row, key, value)
        row.save()
        old, new = changes(before, _snapshot(row))
        if new:
            audit_record(
                action="settings.updated",
                object_type="settings",
                object_id=PlatformSettings.SINGLETON_ID,
                summary=f"Platform settings updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
                reason=reason,
            )
        # Readers that miss now load from the database; after commit everyone gets the new row.
        cache.delete(selectors.CACHE_KEY)
        transaction.on_commit(lambda: cache.set(selectors.CACHE_KEY, row, timeout=None))
    return row

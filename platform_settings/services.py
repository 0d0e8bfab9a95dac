"""The one write path of the platform settings."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction

from audit.services import audit_record, changes
from platform_settings import selectors
from platform_settings.models import PlatformSettings
from platform_settings.serializers import RETRY_DAYS_MESSAGE, SETTINGS_KEYS, retry_days_fit
from vbwd.exceptions import ValidationFailed

__all__ = ["SETTINGS_KEYS", "platform_settings_update"]


def _snapshot(row: PlatformSettings) -> dict:
    return {key: getattr(row, key) for key in SETTINGS_KEYS}


def platform_settings_update(*, data: dict, actor, reason: str | None = None) -> PlatformSettings:
    """Stores validated settings (``data``: new values by key, as the settings input serializer
    returns them); every worker sees them at once (shared cache refreshed after commit). The
    retry days must still fit the grace period of the locked row. Changes affect only invoices
    and periods created afterwards."""
    with transaction.atomic():
        PlatformSettings.objects.get_or_create(pk=PlatformSettings.SINGLETON_ID)
        row = PlatformSettings.objects.select_for_update().get(pk=PlatformSettings.SINGLETON_ID)
        grace = data.get("grace_period_days", row.grace_period_days)
        if not retry_days_fit(data.get("payment_retry_days", row.payment_retry_days), grace):
            raise ValidationFailed(RETRY_DAYS_MESSAGE, field="payment_retry_days")
        before = _snapshot(row)
        for key, value in data.items():
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

from django.core.cache import cache

from platform_settings.models import PlatformSettings

CACHE_KEY = "platform_settings:row"


def platform_settings_get() -> PlatformSettings:
    """The settings row (created with the documented defaults on first use), read through the
    shared cache: no query once cached, and a change is seen by every process at once."""
    row = cache.get(CACHE_KEY)
    if row is None:
        row, _created = PlatformSettings.objects.get_or_create(pk=PlatformSettings.SINGLETON_ID)
        # add, not set: a writer that committed meanwhile has already put the newer row there.
        cache.add(CACHE_KEY, row, timeout=None)
    return row

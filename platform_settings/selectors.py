from platform_settings.models import PlatformSettings


def platform_settings_get() -> PlatformSettings:
    """The settings row, created with the documented defaults on first use."""
    settings_row, _created = PlatformSettings.objects.get_or_create(
        pk=PlatformSettings.SINGLETON_ID
    )
    return settings_row

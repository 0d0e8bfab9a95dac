"""Third-party plugins: packages that declare a ``vbwd.plugins`` entry point.

The entry point's value is the plugin's Django app module (``vbwd_hello``, or a dotted AppConfig
path); settings.py appends each one to ``INSTALLED_APPS``. This module imports nothing of Django,
since it runs while the settings are being read.
"""

from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "vbwd.plugins"


def entry_point_apps() -> list[str]:
    """App paths of installed plugin packages, sorted by entry-point name, without duplicates."""
    found: dict[str, str] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, entry_point.value)
    return [found[name] for name in sorted(found)]

"""``manage.py check --deploy`` warns while the seller details invoices need are missing."""

from django.core.checks import Warning, register
from django.db import DatabaseError


@register(deploy=True)
def seller_details_check(app_configs=None, **kwargs):
    from platform_settings.selectors import seller_details_missing

    try:
        missing = seller_details_missing()
    except DatabaseError:
        return []  # no database yet (before migrate): nothing to tell
    if not missing:
        return []
    return [
        Warning(
            f"The seller details are incomplete (missing: {', '.join(missing)}).",
            hint="Fill them in the back office under Platform settings; invoices are refused "
            "until they are set where VBWD_REQUIRE_SELLER_DETAILS is on (production).",
            id="platform_settings.W001",
        )
    ]

"""The back office's banner while invoices would be refused for missing seller details."""

from django.conf import settings


def seller_details_banner(request) -> dict:
    if not request.path.startswith("/admin/"):
        return {}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return {}
    from platform_settings.selectors import seller_details_missing

    missing = seller_details_missing()
    if not missing:
        return {}
    return {
        "seller_details_missing": missing,
        "seller_details_required": settings.VBWD_REQUIRE_SELLER_DETAILS,
    }

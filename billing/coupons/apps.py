from django.apps import AppConfig


class CouponsConfig(AppConfig):
    """Coupons, their redemptions and the DISCOUNT line type."""

    name = "billing.coupons"
    label = "coupons"
    verbose_name = "Coupons"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.coupons import admin, lines  # noqa: F401

        # Paying an invoice with DISCOUNT lines applies its redemption; voiding releases it.
        lines.register()

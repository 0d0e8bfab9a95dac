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


# What an invoice must name of the seller to be a valid invoice: the legal name, the address and
# the VAT id.
SELLER_REQUIRED_FIELDS = {
    "company_name": "legal name",
    "address_street": "street",
    "address_city": "city",
    "address_postal_code": "postal code",
    "address_country": "country",
    "vat_id": "VAT id",
}


def seller_details_missing(row: PlatformSettings | None = None) -> list[str]:
    """The labels of the seller details an invoice needs that the settings leave empty."""
    row = row or platform_settings_get()
    return [
        label
        for name, label in SELLER_REQUIRED_FIELDS.items()
        if not str(getattr(row, name) or "").strip()
    ]

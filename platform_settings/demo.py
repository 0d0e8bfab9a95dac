"""The demo seller: a complete legal identity, so every demo invoice and its PDF is complete."""

from platform_settings.selectors import platform_settings_get
from platform_settings.services import platform_settings_update

DEMO_SELLER = {
    "company_name": "VBWD Demo GmbH",
    "provider_name": "VBWD Demo",
    "company_email": "billing@example.com",
    "contact_email": "support@example.com",
    "website_url": "https://example.com",
    "address_street": "Unter den Linden 10",
    "address_city": "Berlin",
    "address_postal_code": "10117",
    "address_country": "DE",
    "vat_id": "DE123456788",
    "bank_account_holder": "VBWD Demo GmbH",
    "bank_name": "Demo Bank Berlin",
    "bank_iban": "DE89370400440532013000",
    "bank_bic": "COBADEFFXXX",
}


def seed_seller() -> int:
    """Fills the seller details the operator left empty; returns how many it filled."""
    row = platform_settings_get()
    missing = {name: value for name, value in DEMO_SELLER.items() if not getattr(row, name)}
    if missing:
        platform_settings_update(data=missing, actor=None, reason="Demo seller details")
    return len(missing)

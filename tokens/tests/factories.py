from decimal import Decimal

import factory

from billing.catalog.models import Currency
from tokens.models import TokenBundle, TokenBundlePurchase


class TokenBundleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TokenBundle

    name = factory.Sequence(lambda n: f"Bundle {n:03d}")
    token_amount = 100
    price = Decimal("1.00")
    currency = "EUR"
    is_active = True
    sort_order = 0


def currency(code: str = "JPY", *, decimal_places: int = 0, is_active: bool = True) -> Currency:
    """A currency beside the migration's EUR (default) and USD."""
    row, _created = Currency.objects.update_or_create(
        code=code,
        defaults={
            "name": code,
            "symbol": code,
            "decimal_places": decimal_places,
            "exchange_rate": Decimal("160.000000"),
            "is_active": is_active,
        },
    )
    return row


def bundle_purchases(bundle: TokenBundle, count: int = 1) -> list[TokenBundlePurchase]:
    """``count`` pending purchases of ``bundle``, each by a new user."""
    from accounts.tests.factories import UserFactory

    return [
        TokenBundlePurchase.objects.create(
            user=UserFactory(),
            bundle=bundle,
            bundle_name=bundle.name,
            token_amount=bundle.token_amount,
            price=bundle.price,
            currency=bundle.currency,
        )
        for _ in range(count)
    ]

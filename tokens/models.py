"""Token bundles: fixed packs of tokens sold at a price (DOMAIN §2). Balances, the ledger and
bundle purchases join this module later."""

from __future__ import annotations

from django.db import models

from billing.catalog.models import TimestampedModel

# Upper bound of the token_amount column (a 32-bit integer on every backend).
MAX_TOKEN_AMOUNT = 2_147_483_647


class TokenBundle(TimestampedModel):
    """A pack of tokens the customer can buy; deactivated, never deleted, once it was bought."""

    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    token_amount = models.PositiveIntegerField()  # tokens credited per purchase, > 0
    # In `currency`, with at most that currency's decimal places; >= 0.
    price = models.DecimalField(max_digits=12, decimal_places=4)
    currency = models.CharField(max_length=3)  # ISO-4217 code of a catalog Currency
    is_active = models.BooleanField(default=True, db_index=True)
    sort_order = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = "token bundle"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(token_amount__gt=0), name="tokens_bundle_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="tokens_bundle_price_ge_0"
            ),
        ]

    def __str__(self) -> str:
        return self.name

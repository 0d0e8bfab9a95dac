"""Demo token bundles for ``seed_demo``: 500, 1000 and 5000 tokens, priced in EUR."""

from __future__ import annotations

from django.db import transaction

from tokens import services
from tokens.models import TokenBundle
from tokens.serializers import TokenBundleWriteSerializer

DEMO_BUNDLES = (
    {"name": "500 Tokens", "token_amount": 500, "price": "5.00", "sort_order": 1},
    {"name": "1000 Tokens", "token_amount": 1000, "price": "10.00", "sort_order": 2},
    {"name": "5000 Tokens", "token_amount": 5000, "price": "45.00", "sort_order": 3},
)


def seed_bundles() -> int:
    """Creates the demo bundles that do not exist yet (matched by name); returns how many."""
    created = 0
    with transaction.atomic():
        for spec in DEMO_BUNDLES:
            if TokenBundle.objects.filter(name=spec["name"]).exists():
                continue
            serializer = TokenBundleWriteSerializer(data={**spec, "currency": "EUR"})
            serializer.is_valid(raise_exception=True)
            services.token_bundle_create(values=serializer.validated_data, actor=None)
            created += 1
    return created

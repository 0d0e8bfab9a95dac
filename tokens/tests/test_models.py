"""Database constraints of TokenBundle hold even for writes that bypass the services."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from tokens.models import TokenBundle
from tokens.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("field", "value"), [("token_amount", 0), ("price", Decimal("-0.01"))])
def test_check_constraints_refuse_bad_rows(field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenBundleFactory(**{field: value})

    assert TokenBundle.objects.count() == 0


def test_default_ordering_is_sort_order_then_name():
    TokenBundleFactory(name="b", sort_order=1)
    TokenBundleFactory(name="a", sort_order=2)
    TokenBundleFactory(name="c", sort_order=1)

    assert [bundle.name for bundle in TokenBundle.objects.all()] == ["b", "c", "a"]
    assert str(TokenBundle.objects.get(name="a")) == "a"

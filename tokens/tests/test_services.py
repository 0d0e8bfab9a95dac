"""Token bundle services: input rules, purchases blocking a delete, the currency usage counter,
audit."""

from decimal import Decimal

import pytest

from audit.models import ActorType, AuditEntry
from billing.catalog import extensions
from billing.catalog.models import Currency
from tokens import services
from tokens.demo import seed_bundles
from tokens.models import TokenBundle
from tokens.selectors import bundle_count_in_currency, purchase_count_of_bundle
from tokens.serializers import TokenBundleWriteSerializer
from tokens.tests.factories import TokenBundleFactory, bundle_purchases, currency
from vbwd.exceptions import HasDependencies, ValidationFailed

pytestmark = pytest.mark.django_db

VALID = {"name": "Starter", "token_amount": 500, "price": "5.00"}


def _clean(data, bundle=None) -> dict:
    """What the API reads from ``data``: the input serializer's shape checks, then the
    service's currency rules (a create when ``bundle`` is None)."""
    serializer = TokenBundleWriteSerializer(data=data, partial=bundle is not None)
    if not serializer.is_valid():
        raise ValidationFailed.from_errors(
            {
                field: [str(message) for message in found]
                for field, found in serializer.errors.items()
            }
        )
    return services.bundle_values_check(serializer.validated_data, bundle=bundle)


def _errors(data, bundle=None) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        _clean(data, bundle=bundle)
    return caught.value.errors


def test_create_fills_the_defaults():
    values = _clean({"name": "  Starter ", "token_amount": 5, "price": 5})

    assert values == {
        "name": "Starter",
        "token_amount": 5,
        "price": Decimal("5.00"),
        "currency": "EUR",
        "description": None,
        "is_active": True,
        "sort_order": 0,
    }


def test_every_refused_field_is_reported_at_once():
    assert _errors({}) == {
        "name": ["Name is required"],
        "token_amount": ["Token amount must be a positive integer"],
        "price": ["Price is required"],
    }


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": None}, "name", "Name is required"),
        ({"name": "   "}, "name", "Name is required"),
        ({"name": 7}, "name", "Name must be a string"),
        ({"name": "x" * 256}, "name", "Name must be at most 255 characters"),
        ({"token_amount": 0}, "token_amount", "Token amount must be a positive integer"),
        ({"token_amount": -5}, "token_amount", "Token amount must be a positive integer"),
        ({"token_amount": 1.5}, "token_amount", "Token amount must be a positive integer"),
        ({"token_amount": "500"}, "token_amount", "Token amount must be a positive integer"),
        ({"token_amount": True}, "token_amount", "Token amount must be a positive integer"),
        ({"token_amount": 2**31}, "token_amount", "Token amount must be at most 2147483647"),
        ({"price": None}, "price", "Price is required"),
        ({"price": ""}, "price", "Price is required"),
        ({"price": "-0.01"}, "price", "Price cannot be negative"),
        ({"price": -1}, "price", "Price cannot be negative"),
        ({"price": "abc"}, "price", "Invalid price"),
        ({"price": "NaN"}, "price", "Invalid price"),
        ({"price": "Infinity"}, "price", "Invalid price"),
        ({"price": True}, "price", "Invalid price"),
        ({"price": {"amount": 1}}, "price", "Invalid price"),
        ({"price": "5.001"}, "price", "Price must have at most 2 decimal places"),
        ({"price": "100000000"}, "price", "Price must be less than 100000000"),
        ({"currency": "XYZ"}, "currency", "Currency 'XYZ' is not supported"),
        ({"currency": 12}, "currency", "currency must be a 3-letter code"),
        ({"description": 5}, "description", "Description must be a string"),
        ({"is_active": "maybe"}, "is_active", "is_active must be true or false"),
        ({"sort_order": "1"}, "sort_order", "sort_order must be an integer"),
        (
            {"sort_order": 2**31},
            "sort_order",
            "sort_order must be between -2147483648 and 2147483647",
        ),
    ],
)
def test_create_messages(data, field, message):
    assert _errors({**VALID, **data}) == {field: [message]}


def test_price_places_follow_the_currency():
    currency("JPY", decimal_places=0)
    currency("KWD", decimal_places=3)

    assert _errors({**VALID, "price": "500.5", "currency": "jpy"}) == {
        "price": ["Price must have at most 0 decimal places"]
    }
    jpy = _clean({**VALID, "price": 500, "currency": "jpy"})
    kwd = _clean({**VALID, "price": "1.234", "currency": "KWD"})
    assert (jpy["price"], jpy["currency"]) == (Decimal("500"), "JPY")
    assert (kwd["price"], kwd["currency"]) == (Decimal("1.234"), "KWD")


def test_an_inactive_currency_is_refused():
    currency("GBP", decimal_places=2, is_active=False)

    assert _errors({**VALID, "currency": "GBP"}) == {
        "currency": ["Currency 'GBP' is not supported"]
    }


def test_update_returns_only_the_given_fields():
    bundle = TokenBundleFactory(price=Decimal("5.00"))

    assert _clean({}, bundle=bundle) == {}
    assert _clean({"sort_order": None, "is_active": None}, bundle=bundle) == {}
    assert _clean({"currency": ""}, bundle=bundle) == {}
    assert _clean({"currency": "eur"}, bundle=bundle) == {}
    assert _clean({"token_amount": 7}, bundle=bundle) == {"token_amount": 7}
    assert _clean({"description": ""}, bundle=bundle) == {"description": None}


@pytest.mark.parametrize("value", [None, "", "  "])
def test_update_cannot_blank_the_name(value):
    bundle = TokenBundleFactory()

    assert _errors({"name": value}, bundle=bundle) == {"name": ["Name cannot be empty"]}


def test_a_new_currency_must_fit_the_stored_price():
    currency("JPY", decimal_places=0)
    whole = TokenBundleFactory(price=Decimal("500.00"))
    cents = TokenBundleFactory(price=Decimal("5.50"))

    assert _clean({"currency": "JPY"}, bundle=whole) == {"currency": "JPY"}
    assert _errors({"currency": "JPY"}, bundle=cents) == {
        "price": ["Price must have at most 0 decimal places"]
    }
    assert _clean({"currency": "JPY", "price": 550}, bundle=cents) == {
        "currency": "JPY",
        "price": Decimal("550"),
    }


def test_a_bundle_keeps_a_currency_deactivated_since():
    currency("GBP", decimal_places=2)
    bundle = TokenBundleFactory(currency="GBP")
    Currency.objects.filter(code="GBP").update(is_active=False)

    assert _clean({"price": "3.30"}, bundle=bundle) == {"price": Decimal("3.30")}


def test_create_writes_the_row_and_the_audit_entry(admin_user):
    bundle = services.token_bundle_create(
        values=_clean({**VALID, "description": "Pack"}), actor=admin_user
    )

    bundle.refresh_from_db()
    assert (bundle.name, bundle.token_amount, bundle.price, bundle.currency) == (
        "Starter",
        500,
        Decimal("5.0000"),
        "EUR",
    )
    entry = AuditEntry.objects.get(action="token_bundle.created")
    assert (entry.object_type, entry.object_id, entry.actor_id, entry.actor_type) == (
        "token_bundle",
        str(bundle.pk),
        admin_user.pk,
        ActorType.STAFF,
    )
    assert entry.after == {
        "name": "Starter",
        "description": "Pack",
        "token_amount": 500,
        "price": "5",
        "currency": "EUR",
        "is_active": True,
        "sort_order": 0,
    }


def test_a_refused_create_writes_nothing():
    with pytest.raises(ValidationFailed):
        services.token_bundle_create(
            values={"name": "Starter", "token_amount": 500, "price": Decimal("5.001")}
        )

    assert TokenBundle.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_update_audits_only_the_changes_and_skips_a_no_op(admin_user):
    bundle = TokenBundleFactory(name="Old", price=Decimal("5.00"))

    services.token_bundle_update(
        bundle=bundle, values=_clean({"price": "5.00", "name": "Old"}, bundle)
    )
    assert AuditEntry.objects.count() == 0

    services.token_bundle_update(
        bundle=bundle, values=_clean({"price": "6.50", "name": "New"}, bundle), actor=admin_user
    )
    entry = AuditEntry.objects.get(action="token_bundle.updated")
    assert (entry.before, entry.after) == (
        {"name": "Old", "price": "5"},
        {"name": "New", "price": "6.5"},
    )
    bundle.refresh_from_db()
    assert (bundle.name, bundle.price) == ("New", Decimal("6.5000"))


def test_activate_and_deactivate_are_idempotent(admin_user):
    bundle = TokenBundleFactory(is_active=True)

    services.token_bundle_activate(bundle=bundle, actor=admin_user)
    assert AuditEntry.objects.count() == 0

    result = services.token_bundle_deactivate(bundle=bundle, actor=admin_user)
    services.token_bundle_deactivate(bundle=bundle, actor=admin_user)
    assert result.is_active is False
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.before, entry.after) == (
        "token_bundle.deactivated",
        {"is_active": True},
        {"is_active": False},
    )


def test_delete_is_blocked_by_purchases(admin_user):
    bought = TokenBundleFactory()
    bundle_purchases(bought, 1)

    with pytest.raises(HasDependencies) as caught:
        services.token_bundle_delete(bundle=bought, actor=admin_user)

    assert caught.value.message == (
        "Cannot delete token bundle with existing purchases. Deactivate instead."
    )
    assert TokenBundle.objects.filter(pk=bought.pk).exists()
    assert AuditEntry.objects.count() == 0
    assert purchase_count_of_bundle(bought) == 1


def test_delete_removes_the_row_and_audits(admin_user):
    bundle = TokenBundleFactory(name="Gone")
    bundle_id = bundle.pk

    services.token_bundle_delete(bundle=bundle, actor=admin_user)

    assert not TokenBundle.objects.filter(pk=bundle_id).exists()
    entry = AuditEntry.objects.get(action="token_bundle.deleted")
    assert (entry.object_id, entry.before["name"], entry.after) == (str(bundle_id), "Gone", None)


def test_bundles_count_as_usage_of_their_currency():
    eur = Currency.objects.get(code="EUR")
    usd = Currency.objects.get(code="USD")
    TokenBundleFactory.create_batch(2, currency="EUR")

    assert bundle_count_in_currency in extensions.CURRENCY_USAGE.answers()
    assert extensions.usage_count("currency", eur) == 2
    assert extensions.usage_count("currency", usd) == 0


def test_seed_bundles_is_idempotent():
    assert seed_bundles() == 3
    assert seed_bundles() == 0

    rows = list(
        TokenBundle.objects.values_list("name", "token_amount", "price", "currency", "sort_order")
    )
    assert rows == [
        ("500 Tokens", 500, Decimal("5.0000"), "EUR", 1),
        ("1000 Tokens", 1000, Decimal("10.0000"), "EUR", 2),
        ("5000 Tokens", 5000, Decimal("45.0000"), "EUR", 3),
    ]
    assert AuditEntry.objects.filter(action="token_bundle.created", actor_id=None).count() == 3


def test_seed_bundles_recreates_only_what_is_missing():
    seed_bundles()
    TokenBundle.objects.filter(name="1000 Tokens").delete()

    assert seed_bundles() == 1
    assert TokenBundle.objects.count() == 3


def test_a_real_bundle_purchase_blocks_delete(admin_user, user):
    from tokens.models import TokenBundlePurchase

    bought = TokenBundleFactory(name="Bought")
    TokenBundlePurchase.objects.create(
        user=user, bundle=bought, bundle_name="Bought", token_amount=10, price="1.00",
        currency="EUR",
    )  # fmt: skip

    with pytest.raises(HasDependencies):
        services.token_bundle_delete(bundle=bought, actor=admin_user)

    assert TokenBundle.objects.filter(pk=bought.pk).exists()

"""The Django admin back office for token bundles: every write goes through tokens.services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory
from audit.models import AuditEntry
from tokens import services
from tokens.models import TokenBundle
from tokens.tests.factories import TokenBundleFactory, bundle_purchases, currency

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tokens/tokenbundle/"
FORM = {
    "name": "Admin pack",
    "description": "",
    "token_amount": "250",
    "price": "2.50",
    "currency": "EUR",
    "is_active": "on",
    "sort_order": "4",
}


@pytest.fixture
def staff():
    return AdminFactory()


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    return client


def _change_url(bundle) -> str:
    return f"{CHANGELIST}{bundle.pk}/change/"


def test_non_staff_are_sent_to_the_login_page():
    client = Client()
    client.force_login(UserFactory())

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_changelist_search_filters_and_prices(client, django_assert_max_num_queries):
    currency("JPY", decimal_places=0)
    TokenBundleFactory(name="Yen pack", price=Decimal("1200"), currency="JPY")
    TokenBundleFactory(name="Euro pack", price=Decimal("4.5"), description="findme")
    TokenBundleFactory(name="Old pack", is_active=False)
    TokenBundleFactory.create_batch(30)

    with django_assert_max_num_queries(12):
        listing = client.get(CHANGELIST)
    found = client.get(CHANGELIST, {"q": "findme"})
    inactive = client.get(CHANGELIST, {"is_active__exact": "0"})
    in_yen = client.get(CHANGELIST, {"currency": "JPY"})

    assert listing.status_code == 200
    assert b"1200" in listing.content
    assert b"4.50" in listing.content
    assert [row.name for row in found.context["cl"].result_list] == ["Euro pack"]
    assert [row.name for row in inactive.context["cl"].result_list] == ["Old pack"]
    assert [row.name for row in in_yen.context["cl"].result_list] == ["Yen pack"]


def test_add_goes_through_the_service(client, staff):
    assert client.get(f"{CHANGELIST}add/").status_code == 200

    response = client.post(f"{CHANGELIST}add/", FORM)

    assert response.status_code == 302
    bundle = TokenBundle.objects.get(name="Admin pack")
    assert (bundle.token_amount, bundle.price, bundle.currency, bundle.sort_order) == (
        250,
        Decimal("2.50"),
        "EUR",
        4,
    )
    assert (bundle.description, bundle.is_active) == (None, True)
    entry = AuditEntry.objects.get(action="token_bundle.created")
    assert (entry.object_id, entry.actor_id) == (str(bundle.pk), staff.pk)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("token_amount", "0", "Token amount must be a positive integer"),
        ("price", "2.505", "Price must have at most 2 decimal places"),
        ("name", "   ", "This field is required."),
    ],
)
def test_add_shows_the_service_messages(client, field, value, message):
    response = client.post(f"{CHANGELIST}add/", {**FORM, field: value})

    assert response.status_code == 200
    assert message in response.context["adminform"].form.errors[field]
    assert TokenBundle.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_change_edits_through_the_service(client, staff):
    bundle = TokenBundleFactory(name="Before", price=Decimal("5.00"), token_amount=500)
    page = client.get(_change_url(bundle))
    assert page.context["adminform"].form.initial["price"] == "5.00"

    response = client.post(
        _change_url(bundle), {**FORM, "name": "After", "price": "5.00", "token_amount": "600"}
    )

    assert response.status_code == 302
    bundle.refresh_from_db()
    assert (bundle.name, bundle.token_amount, bundle.price) == ("After", 600, Decimal("5.00"))
    entry = AuditEntry.objects.get(action="token_bundle.updated")
    assert entry.actor_id == staff.pk
    assert set(entry.after) == {"name", "token_amount", "sort_order"}


def test_change_to_a_currency_the_price_does_not_fit_is_refused(client):
    currency("JPY", decimal_places=0)
    bundle = TokenBundleFactory(price=Decimal("4.99"))

    response = client.post(_change_url(bundle), {**FORM, "price": "4.99", "currency": "JPY"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["price"] == [
        "Price must have at most 0 decimal places"
    ]
    bundle.refresh_from_db()
    assert bundle.currency == "EUR"


def test_deactivate_and_activate_actions_call_the_services(client, staff):
    first = TokenBundleFactory(is_active=True)
    second = TokenBundleFactory(is_active=True)
    selected = [str(first.pk), str(second.pk)]

    off = client.post(CHANGELIST, {"action": "deactivate_bundles", "_selected_action": selected})
    assert off.status_code == 302
    assert TokenBundle.objects.filter(is_active=True).count() == 0
    client.post(CHANGELIST, {"action": "activate_bundles", "_selected_action": [selected[0]]})

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_active, second.is_active) == (True, False)
    assert (
        AuditEntry.objects.filter(action="token_bundle.deactivated", actor_id=staff.pk).count() == 2
    )
    assert AuditEntry.objects.filter(action="token_bundle.activated").count() == 1


def test_delete_goes_through_the_service(client, staff):
    bundle = TokenBundleFactory()

    confirmation = client.get(f"{CHANGELIST}{bundle.pk}/delete/")
    response = client.post(f"{CHANGELIST}{bundle.pk}/delete/", {"post": "yes"})

    assert confirmation.status_code == 200
    assert response.status_code == 302
    assert not TokenBundle.objects.filter(pk=bundle.pk).exists()
    entry = AuditEntry.objects.get(action="token_bundle.deleted")
    assert entry.actor_id == staff.pk


def test_a_bought_bundle_cannot_be_deleted_in_the_admin(client):
    bought = TokenBundleFactory(name="Bought")
    free = TokenBundleFactory(name="Free")
    bundle_purchases(bought, 1)

    single = client.post(f"{CHANGELIST}{bought.pk}/delete/", {"post": "yes"}, follow=True)
    bulk = client.post(
        CHANGELIST,
        {
            "action": "delete_selected",
            "_selected_action": [str(bought.pk), str(free.pk)],
            "post": "yes",
        },
        follow=True,
    )

    assert single.redirect_chain[0][0] == _change_url(bought)
    shown = [str(message) for message in single.context["messages"]]
    assert services.HAS_PURCHASES in shown
    assert f"Bought: {services.HAS_PURCHASES}" in [
        str(message) for message in bulk.context["messages"]
    ]
    assert list(TokenBundle.objects.values_list("name", flat=True)) == ["Bought"]
    assert list(AuditEntry.objects.values_list("action", "object_id")) == [
        ("token_bundle.deleted", str(free.pk))
    ]

"""The catalog can be created, edited and archived entirely in the Django admin."""

import pytest
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory
from audit.models import AuditEntry
from billing.catalog import extensions
from billing.catalog.models import AddOn, Category, Plan
from billing.catalog.tests.factories import AddOnFactory, CategoryFactory, PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    staff = AdminFactory()
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    client.staff = staff
    return client


PLAN_FORM = {
    "name": "Team",
    "slug": "",
    "description": "",
    "price": "19.90",
    "currency": "EUR",
    "billing_period": "MONTHLY",
    "trial_days": "0",
    "features": '{"default_tokens": 50}',
    "is_active": "on",
    "sort_order": "1",
}


def test_create_edit_archive_a_plan_in_the_admin(browser):
    category = CategoryFactory()

    created = browser.post(
        "/admin/catalog/plan/add/", {**PLAN_FORM, "categories": [str(category.pk)]}
    )
    plan = Plan.objects.get(slug="team")
    edited = browser.post(
        f"/admin/catalog/plan/{plan.pk}/change/",
        {**PLAN_FORM, "slug": "team", "price": "24.90", "categories": [str(category.pk)]},
    )
    archived = browser.post(
        "/admin/catalog/plan/", {"action": "archive", "_selected_action": [str(plan.pk)]}
    )

    assert created.status_code == 302
    assert edited.status_code == 302
    assert archived.status_code == 302
    plan.refresh_from_db()
    assert (str(plan.price), plan.is_active, plan.is_archived) == ("24.9000", False, True)
    assert list(plan.categories.all()) == [category]
    assert plan.features == {"default_tokens": 50}
    assert list(
        AuditEntry.objects.filter(object_id=str(plan.pk))
        .order_by("created_at")
        .values_list("action", "actor_id")
    ) == [
        ("plan.created", browser.staff.pk),
        ("plan.updated", browser.staff.pk),
        ("plan.archived", browser.staff.pk),
    ]


def test_admin_plan_form_shows_service_errors(browser):
    response = browser.post("/admin/catalog/plan/add/", {**PLAN_FORM, "price": "1.999"})

    assert response.status_code == 200
    assert b"Price must have at most 2 decimal places" in response.content
    assert not Plan.objects.exists()


def test_a_referenced_plan_cannot_be_deleted_in_the_admin(browser):
    plan = PlanFactory()
    counter = lambda obj: 1  # noqa: E731
    with extensions.PLAN_USAGE.answered_by(counter):
        response = browser.get(f"/admin/catalog/plan/{plan.pk}/delete/")

    assert response.status_code == 403
    assert Plan.objects.filter(pk=plan.pk).exists()


def test_categories_and_addons_in_the_admin(browser):
    plan = PlanFactory()

    browser.post(
        "/admin/catalog/category/add/",
        {
            "name": "Extras",
            "slug": "",
            "description": "",
            "is_single": "",
            "sort_order": "0",
            "plans": [str(plan.pk)],
        },
    )
    category = Category.objects.get(slug="extras")
    browser.post(
        "/admin/catalog/addon/add/",
        {"name": "Backup", "slug": "", "description": "", "price": "3.00", "currency": "EUR",
         "billing_period": "MONTHLY", "config": "{}", "is_active": "on", "sort_order": "0",
         "plans": [str(plan.pk)]},
    )  # fmt: skip
    addon = AddOn.objects.get(slug="backup")
    browser.post(
        "/admin/catalog/addon/", {"action": "deactivate", "_selected_action": [str(addon.pk)]}
    )
    attached = list(category.plans.all())
    deleted = browser.post(f"/admin/catalog/category/{category.pk}/delete/", {"post": "yes"})

    assert category.is_single is False
    assert attached == [plan]
    assert list(addon.plans.all()) == [plan]
    addon.refresh_from_db()
    assert addon.is_active is False
    assert deleted.status_code == 302
    assert not Category.objects.filter(pk=category.pk).exists()
    actions = set(
        AuditEntry.objects.filter(actor_id=browser.staff.pk).values_list("action", flat=True)
    )
    assert {
        "category.created",
        "category.plans_attached",
        "addon.created",
        "addon.deactivated",
        "category.deleted",
    } <= actions


def test_admin_lists_render(browser):
    PlanFactory()
    AddOnFactory()
    for url in ("/admin/catalog/plan/", "/admin/catalog/category/", "/admin/catalog/addon/"):
        assert browser.get(url).status_code == 200
    assert browser.get("/admin/catalog/category/?q=root").status_code == 200
    root = Category.objects.get(slug="root")
    assert browser.get(f"/admin/catalog/category/{root.pk}/delete/").status_code == 403

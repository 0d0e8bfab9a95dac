"""Categories, add-ons (public and staff routes) and the categories plugins register when they
are enabled."""

from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient

from accounts.jwt import issue_pair
from audit.models import AuditEntry
from billing.catalog import extensions
from billing.catalog.models import AddOn, Category
from billing.catalog.tests.factories import AddOnFactory, CategoryFactory, PlanFactory
from plugins import services as plugin_services

pytestmark = pytest.mark.django_db

CATEGORIES = "/api/v1/admin/tarif-plan-categories"
ADDONS = "/api/v1/admin/addons"
CATEGORY_KEYS = {
    "id",
    "name",
    "slug",
    "description",
    "parent_id",
    "is_single",
    "sort_order",
    "plan_count",
    "is_root",
    "registered_by",
    "created_at",
    "updated_at",
}
ADDON_KEYS = {
    "id",
    "name",
    "slug",
    "description",
    "price",
    "currency",
    "billing_period",
    "is_recurring",
    "config",
    "is_active",
    "sort_order",
    "tarif_plan_ids",
    "tarif_plans",
    "created_at",
    "updated_at",
}


def send(client, method, url, body=None):
    return getattr(client, method)(
        url, data=json.dumps(body or {}), content_type="application/json"
    )


def _root() -> Category:
    return Category.objects.get(slug="root")


# --- categories -----------------------------------------------------------------------------


def test_tree_and_flat_formats(admin_client):
    parent = CategoryFactory(name="Parent", sort_order=1)
    child = CategoryFactory(name="Child", parent=parent)
    child.plans.add(PlanFactory(), PlanFactory())

    tree = admin_client.get(CATEGORIES).json()["categories"]
    flat = admin_client.get(CATEGORIES, {"format": "FLAT"}).json()["categories"]

    assert [node["slug"] for node in tree] == ["root", parent.slug]
    assert set(tree[1]) == CATEGORY_KEYS | {"children"}
    assert tree[1]["children"][0]["slug"] == child.slug
    assert tree[1]["children"][0]["plan_count"] == 2
    assert tree[1]["children"][0]["parent_id"] == str(parent.pk)
    assert tree[0]["is_root"] is True
    assert {node["slug"] for node in flat} == {"root", parent.slug, child.slug}
    assert all(set(node) == CATEGORY_KEYS for node in flat)


def test_bad_format_is_400(admin_client):
    response = admin_client.get(CATEGORIES, {"format": "graph"})

    assert response.status_code == 400
    assert response.json()["error"] == "format must be flat or tree"


def test_tree_runs_a_constant_number_of_queries(admin_client, django_assert_num_queries):
    with django_assert_num_queries(2):
        admin_client.get(CATEGORIES)
    parent = CategoryFactory()
    for _ in range(50):
        CategoryFactory(parent=parent).plans.add(PlanFactory())
    with django_assert_num_queries(2):
        admin_client.get(CATEGORIES)


def test_create_detail_and_defaults(admin_client):
    plan = PlanFactory()

    created = send(
        admin_client, "post", CATEGORIES, {"name": "Add-on Packs", "parent_id": str(_root().pk)}
    )
    category_id = created.json()["category"]["id"]
    send(
        admin_client,
        "post",
        f"{CATEGORIES}/{category_id}/attach-plans",
        {"plan_ids": [str(plan.pk)]},
    )
    detail = admin_client.get(f"{CATEGORIES}/{category_id}")

    assert created.status_code == 201
    assert created.json()["message"] == "Category created successfully"
    body = detail.json()["category"]
    assert set(body) == CATEGORY_KEYS | {"children", "plans"}
    assert (body["slug"], body["is_single"], body["parent_id"]) == (
        "add-on-packs",
        True,
        str(_root().pk),
    )
    assert body["plans"] == [{"id": str(plan.pk), "name": plan.name, "slug": plan.slug}]
    assert body["plan_count"] == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "Name is required"),
        ({"name": "X", "parent_id": str(uuid.uuid4())}, 400, "Parent category not found"),
    ],
)
def test_create_errors(admin_client, body, status, message):
    response = send(admin_client, "post", CATEGORIES, body)

    assert response.status_code == status
    assert response.json()["error"] == message


def test_create_with_a_taken_slug_is_409(admin_client):
    response = send(admin_client, "post", CATEGORIES, {"name": "Root"})

    assert response.status_code == 409
    assert response.json() == {"error": "Slug already exists", "code": "conflict"}


def test_no_cycles_and_the_root_is_protected(admin_client):
    grandparent = CategoryFactory()
    parent = CategoryFactory(parent=grandparent)
    child = CategoryFactory(parent=parent)

    own_parent = send(
        admin_client, "put", f"{CATEGORIES}/{parent.pk}", {"parent_id": str(parent.pk)}
    )
    descendant = send(
        admin_client, "put", f"{CATEGORIES}/{grandparent.pk}", {"parent_id": str(child.pk)}
    )
    root_slug = send(admin_client, "put", f"{CATEGORIES}/{_root().pk}", {"slug": "top"})
    root_parent = send(
        admin_client, "put", f"{CATEGORIES}/{_root().pk}", {"parent_id": str(child.pk)}
    )
    root_delete = admin_client.delete(f"{CATEGORIES}/{_root().pk}")
    with_children = admin_client.delete(f"{CATEGORIES}/{parent.pk}")

    cycle = {"error": "A category cannot be its own parent or descendant", "code": "business_rule"}
    assert own_parent.json() == cycle
    assert descendant.json() == cycle
    assert root_slug.json()["error"] == "The root category's slug and parent cannot be changed"
    assert root_parent.json()["error"] == "The root category's slug and parent cannot be changed"
    assert root_delete.json()["error"] == "The root category cannot be deleted"
    assert with_children.json()["error"] == "Category with children cannot be deleted"
    grandparent.refresh_from_db()
    assert grandparent.parent_id is None


def test_update_rename_root_and_delete_a_leaf_keeps_plans(admin_client):
    leaf = CategoryFactory()
    plan = PlanFactory()
    leaf.plans.add(plan)

    renamed = send(admin_client, "put", f"{CATEGORIES}/{_root().pk}", {"name": "Everything"})
    deleted = admin_client.delete(f"{CATEGORIES}/{leaf.pk}")

    assert renamed.json()["message"] == "Category updated successfully"
    assert renamed.json()["category"]["name"] == "Everything"
    assert deleted.json() == {"message": "Category deleted successfully"}
    assert not Category.objects.filter(pk=leaf.pk).exists()
    plan.refresh_from_db()
    assert plan.categories.count() == 0
    assert AuditEntry.objects.filter(action="category.deleted").count() == 1


def test_attach_and_detach_plans(admin_client):
    category = CategoryFactory()
    first, second = PlanFactory(), PlanFactory()
    url = f"{CATEGORIES}/{category.pk}"

    attached = send(admin_client, "post", f"{url}/attach-plans", {"plan_ids": [str(first.pk)]})
    again = send(
        admin_client, "post", f"{url}/attach-plans", {"plan_ids": [str(first.pk), str(second.pk)]}
    )
    detached = send(
        admin_client,
        "post",
        f"{url}/detach-plans",
        {"plan_ids": [str(first.pk), str(uuid.uuid4())]},
    )
    missing = send(admin_client, "post", f"{url}/attach-plans", {"plan_ids": []})
    unknown_id = str(uuid.uuid4())
    unknown = send(admin_client, "post", f"{url}/attach-plans", {"plan_ids": [unknown_id]})

    assert attached.json()["message"] == "Plans attached"
    assert again.json()["category"]["plan_count"] == 2
    assert detached.json()["message"] == "Plans detached"
    assert [ref["id"] for ref in detached.json()["category"]["plans"]] == [str(second.pk)]
    assert missing.json()["error"] == "plan_ids is required"
    assert unknown.json()["error"] == f"Plan not found: {unknown_id}"
    assert AuditEntry.objects.filter(action="category.plans_attached").count() == 2


def test_unknown_category_is_404(admin_client):
    response = admin_client.get(f"{CATEGORIES}/{uuid.uuid4()}")

    assert response.json() == {"error": "Category not found", "code": "not_found"}


def test_enabling_a_plugin_registers_its_categories_once():
    plugin_services.plugin_enable(name="alpha")
    plugin_services.plugin_disable(name="alpha")
    plugin_services.plugin_enable(name="alpha")

    category = Category.objects.get(slug="alpha-tools")
    assert (category.name, category.registered_by, category.parent_id) == (
        "Alpha tools",
        "alpha",
        _root().pk,
    )
    assert Category.objects.filter(slug="alpha-tools").count() == 1


# --- public add-ons -------------------------------------------------------------------------


def test_public_addons_visibility():
    bought_plan, other_plan, subscribed_plan = PlanFactory(), PlanFactory(), PlanFactory()
    AddOnFactory(name="Global")
    AddOnFactory(name="For bought").plans.add(bought_plan)
    AddOnFactory(name="For other").plans.add(other_plan)
    AddOnFactory(name="For subscribed").plans.add(subscribed_plan)
    AddOnFactory(name="Inactive", is_active=False)
    from accounts.tests.factories import UserFactory

    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")
    with extensions.SUBSCRIBED_PLANS.answered_by(
        lambda caller: {subscribed_plan.pk} if caller == user else set()
    ):
        anonymous = APIClient().get("/api/v1/addons").json()["addons"]
        buying = APIClient().get("/api/v1/addons", {"plan_id": str(bought_plan.pk)})
        buying = buying.json()["addons"]
        subscriber = client.get("/api/v1/addons").json()["addons"]
        broken_token = APIClient().get("/api/v1/addons", HTTP_AUTHORIZATION="Bearer junk")

    assert [addon["name"] for addon in anonymous] == ["Global"]
    assert [addon["name"] for addon in buying] == ["For bought", "Global"]
    assert [addon["name"] for addon in subscriber] == ["For subscribed", "Global"]
    assert broken_token.status_code == 200
    assert set(anonymous[0]) == ADDON_KEYS


def test_public_addons_bad_plan_id():
    response = APIClient().get("/api/v1/addons", {"plan_id": "nope"})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_public_addon_detail_includes_inactive():
    addon = AddOnFactory(is_active=False, price="15.00")

    found = APIClient().get(f"/api/v1/addons/{addon.pk}")
    missing = APIClient().get(f"/api/v1/addons/{uuid.uuid4()}")

    assert found.json()["addon"]["price"] == "15.00"
    assert found.json()["addon"]["is_active"] is False
    assert missing.json() == {"error": "Add-on not found", "code": "not_found"}


# --- staff add-ons --------------------------------------------------------------------------


def test_admin_addon_list_paginates_and_filters(admin_client, django_assert_num_queries):
    plan = PlanFactory()
    AddOnFactory(name="Bound").plans.add(plan)
    AddOnFactory(name="Off", is_active=False)
    with django_assert_num_queries(5):
        first = admin_client.get(ADDONS)
    AddOnFactory.create_batch(50)
    with django_assert_num_queries(5):
        admin_client.get(ADDONS, {"per_page": 100})

    assert set(first.json()) == {"items", "total", "page", "per_page", "pages", "limit", "offset"}
    assert first.json()["total"] == 1
    assert admin_client.get(ADDONS, {"include_inactive": "1"}).json()["total"] == 52
    assert admin_client.get(ADDONS, {"plan_id": str(plan.pk)}).json()["items"][0]["name"] == "Bound"
    assert admin_client.get(ADDONS, {"search": "bou"}).json()["total"] == 1


def test_admin_addon_create_update_and_lookups(admin_client):
    plan = PlanFactory()

    created = send(
        admin_client,
        "post",
        ADDONS,
        {
            "name": "Priority Support",
            "price": "15",
            "tarif_plan_ids": [str(plan.pk)],
            "config": {"sla": 4},
        },
    )
    addon_id = created.json()["addon"]["id"]
    updated = send(
        admin_client,
        "put",
        f"{ADDONS}/{addon_id}",
        {"tarif_plan_ids": [], "billing_period": "yearly"},
    )
    by_slug = admin_client.get(f"{ADDONS}/slug/priority-support")

    assert created.status_code == 201
    assert created.json()["message"] == "Add-on created successfully"
    body = created.json()["addon"]
    assert (body["slug"], body["price"], body["config"]) == (
        "priority-support",
        "15.00",
        {"sla": 4},
    )
    assert body["tarif_plan_ids"] == [str(plan.pk)]
    assert body["tarif_plans"] == [{"id": str(plan.pk), "name": plan.name, "slug": plan.slug}]
    assert updated.json()["message"] == "Add-on updated successfully"
    assert updated.json()["addon"]["tarif_plan_ids"] == []
    assert updated.json()["addon"]["billing_period"] == "YEARLY"
    assert by_slug.json()["addon"]["id"] == addon_id
    assert admin_client.get(f"{ADDONS}/slug/nope").json()["error"] == "Add-on not found"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"price": "1"}, "Name is required"),
        ({"name": "X", "price": "-2"}, "Price cannot be negative"),
        ({"name": "X", "price": "one"}, "Invalid price"),
        (
            {"name": "X", "price": "1", "tarif_plan_ids": [str(uuid.uuid4())]},
            "One or more tariff plan IDs are invalid",
        ),
        (
            {"name": "X", "price": "1", "tarif_plan_ids": ["nope"]},
            "One or more tariff plan IDs are invalid",
        ),
    ],
)
def test_admin_addon_validation(admin_client, body, message):
    response = send(admin_client, "post", ADDONS, body)

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert not AddOn.objects.exists()


def test_update_with_an_empty_name_is_refused(admin_client):
    addon = AddOnFactory()

    response = send(admin_client, "put", f"{ADDONS}/{addon.pk}", {"name": ""})

    assert response.json()["error"] == "Name cannot be empty"


def test_admin_addon_activation_and_delete(admin_client):
    addon = AddOnFactory()
    used = AddOnFactory()
    counter = lambda obj: 1 if obj.pk == used.pk else 0  # noqa: E731
    with extensions.ADDON_USAGE.answered_by(counter):
        deactivated = admin_client.post(f"{ADDONS}/{addon.pk}/deactivate")
        activated = admin_client.post(f"{ADDONS}/{addon.pk}/activate")
        blocked = admin_client.delete(f"{ADDONS}/{used.pk}")
        deleted = admin_client.delete(f"{ADDONS}/{addon.pk}")

    assert deactivated.json()["message"] == "Add-on deactivated"
    assert deactivated.json()["addon"]["is_active"] is False
    assert activated.json()["message"] == "Add-on activated"
    assert blocked.status_code == 409
    assert blocked.json() == {
        "error": "Cannot delete add-on with existing subscriptions. Deactivate instead.",
        "code": "has_dependencies",
    }
    assert deleted.json() == {"message": "Add-on deleted successfully"}
    assert list(AddOn.objects.values_list("pk", flat=True)) == [used.pk]

from billing.catalog.views import plans as views
from vbwd.api import UUID_PATTERN, route

PLAN = rf"admin/tarif-plans/(?P<plan_id>{UUID_PATTERN})"
CATEGORY = rf"admin/tarif-plan-categories/(?P<category_id>{UUID_PATTERN})"
ADDON = rf"admin/addons/(?P<addon_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"tarif-plans", views.TariffPlansView.as_view(), name="tarif-plans"),
    route(
        r"tarif-plans/(?P<slug_or_id>[A-Za-z0-9_-]+)",
        views.TariffPlanView.as_view(),
        name="tarif-plan",
    ),
    route(r"addons", views.PublicAddOnsView.as_view(), name="addons"),
    route(rf"addons/(?P<addon_id>{UUID_PATTERN})", views.PublicAddOnView.as_view(), name="addon"),
    route(r"admin/tarif-plans", views.AdminPlansView.as_view(), name="admin-plans"),
    route(PLAN, views.AdminPlanView.as_view(), name="admin-plan"),
    route(rf"{PLAN}/activate", views.AdminPlanActivateView.as_view(), name="admin-plan-activate"),
    route(
        rf"{PLAN}/deactivate", views.AdminPlanDeactivateView.as_view(), name="admin-plan-deactivate"
    ),
    route(rf"{PLAN}/archive", views.AdminPlanArchiveView.as_view(), name="admin-plan-archive"),
    route(rf"{PLAN}/copy", views.AdminPlanCopyView.as_view(), name="admin-plan-copy"),
    route(
        r"admin/tarif-plan-categories", views.AdminCategoriesView.as_view(), name="admin-categories"
    ),
    route(CATEGORY, views.AdminCategoryView.as_view(), name="admin-category"),
    route(
        rf"{CATEGORY}/attach-plans",
        views.AdminCategoryAttachView.as_view(),
        name="admin-category-attach",
    ),
    route(
        rf"{CATEGORY}/detach-plans",
        views.AdminCategoryDetachView.as_view(),
        name="admin-category-detach",
    ),
    route(r"admin/addons", views.AdminAddOnsView.as_view(), name="admin-addons"),
    route(
        r"admin/addons/slug/(?P<slug>[A-Za-z0-9_-]+)",
        views.AdminAddOnBySlugView.as_view(),
        name="admin-addon-slug",
    ),
    route(ADDON, views.AdminAddOnView.as_view(), name="admin-addon"),
    route(
        rf"{ADDON}/activate", views.AdminAddOnActivateView.as_view(), name="admin-addon-activate"
    ),
    route(
        rf"{ADDON}/deactivate",
        views.AdminAddOnDeactivateView.as_view(),
        name="admin-addon-deactivate",
    ),
]

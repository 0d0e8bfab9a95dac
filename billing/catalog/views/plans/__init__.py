"""Plans, categories and add-ons: the public catalog and their staff administration."""

from billing.catalog.views.plans.addons import (
    AdminAddOnActivateView,
    AdminAddOnBySlugView,
    AdminAddOnDeactivateView,
    AdminAddOnsView,
    AdminAddOnView,
)
from billing.catalog.views.plans.categories import (
    AdminCategoriesView,
    AdminCategoryAttachView,
    AdminCategoryDetachView,
    AdminCategoryView,
)
from billing.catalog.views.plans.plans import (
    AdminPlanActivateView,
    AdminPlanArchiveView,
    AdminPlanCopyView,
    AdminPlanDeactivateView,
    AdminPlansView,
    AdminPlanView,
)
from billing.catalog.views.plans.public import (
    PublicAddOnsView,
    PublicAddOnView,
    TariffPlansView,
    TariffPlanView,
)

__all__ = [
    "AdminAddOnActivateView",
    "AdminAddOnBySlugView",
    "AdminAddOnDeactivateView",
    "AdminAddOnView",
    "AdminAddOnsView",
    "AdminCategoriesView",
    "AdminCategoryAttachView",
    "AdminCategoryDetachView",
    "AdminCategoryView",
    "AdminPlanActivateView",
    "AdminPlanArchiveView",
    "AdminPlanCopyView",
    "AdminPlanDeactivateView",
    "AdminPlanView",
    "AdminPlansView",
    "PublicAddOnView",
    "PublicAddOnsView",
    "TariffPlanView",
    "TariffPlansView",
]

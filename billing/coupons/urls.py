"""Routes of the coupons' staff API."""

from billing.coupons import views
from vbwd.api import UUID_PATTERN, route

COUPON = rf"admin/coupons/(?P<coupon_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"admin/coupons", views.AdminCouponsView.as_view(), name="admin-coupons"),
    route(COUPON, views.AdminCouponView.as_view(), name="admin-coupon"),
    route(
        rf"{COUPON}/activate",
        views.AdminCouponActivateView.as_view(),
        name="admin-coupon-activate",
    ),
    route(
        rf"{COUPON}/deactivate",
        views.AdminCouponDeactivateView.as_view(),
        name="admin-coupon-deactivate",
    ),
    route(
        rf"{COUPON}/redemptions",
        views.AdminCouponRedemptionsView.as_view(),
        name="admin-coupon-redemptions",
    ),
]

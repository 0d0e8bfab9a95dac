"""Route of the checkout use case."""

from billing.checkout.views import CheckoutView, CouponPreviewView
from vbwd.api import route

urlpatterns = [
    route(r"user/checkout", CheckoutView.as_view(), name="user-checkout"),
    route(r"coupons/preview", CouponPreviewView.as_view(), name="coupon-preview"),
]

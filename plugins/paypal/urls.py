from billing.invoices.routes.gateway import gateway_urlpatterns
from billing.invoices.views import gateway as gateway_views
from plugins.paypal.views import CaptureOrderView
from vbwd.api import route

urlpatterns = [
    *gateway_urlpatterns("paypal"),
    route(
        r"create-order",
        gateway_views.CreateSessionView.as_view(gateway_name="paypal"),
        name="create-order",
    ),
    route(r"capture-order", CaptureOrderView.as_view(), name="capture-order"),
]

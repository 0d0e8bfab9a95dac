"""The routes of a payment gateway plugin; its ``urls.py`` is
``urlpatterns = gateway_urlpatterns("<name>")`` plus anything the provider needs on top."""

from billing.invoices.views import gateway as views
from vbwd.api import route

SESSION_ID = r"(?P<session_id>[A-Za-z0-9_.:-]{1,255})"


def gateway_urlpatterns(name: str) -> list:
    return [
        route(
            r"create-session",
            views.CreateSessionView.as_view(gateway_name=name),
            name="create-session",
        ),
        route(
            rf"session-status/{SESSION_ID}",
            views.SessionStatusView.as_view(gateway_name=name),
            name="session-status",
        ),
        route(r"webhook", views.WebhookView.as_view(gateway_name=name), name="webhook"),
    ]

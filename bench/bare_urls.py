"""The baseline of the HTTP benchmarks: one plain Django JSON view, served by the same gunicorn
configuration as the product, under ``/api/`` like the API (so it passes the same middleware).

Beside it, the floors an API read cannot go below, each adding one layer to the one before:
the API framework with nothing to do, then the ``user`` access level (the bearer token, the
caller's row, the rate-limit counter), then three more round trips to the database (``SELECT
1``), as many as a list read makes after the caller's row, with no query to build and nothing
to render."""

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from rest_framework.response import Response

from vbwd.api import ApiView, PublicMixin, UserMixin


def bare(request):
    return JsonResponse({"status": "ok", "service": "bare"})


class FrameworkView(PublicMixin, ApiView):
    """The API view class with nothing to do."""

    throttle_classes: list = []

    def get(self, request):
        return Response({"status": "ok"})


class AuthenticatedView(UserMixin, ApiView):
    """The ``user`` access level with an empty body."""

    def get(self, request):
        return Response({"status": "ok"})


class RoundTripsView(UserMixin, ApiView):
    """The ``user`` access level and three more database round trips."""

    def get(self, request):
        with connection.cursor() as cursor:
            for _ in range(3):
                cursor.execute("SELECT 1")
                cursor.fetchone()
        return Response({"status": "ok"})


urlpatterns = [
    path("api/bench/bare", bare),
    path("api/bench/framework", FrameworkView.as_view()),
    path("api/bench/authenticated", AuthenticatedView.as_view()),
    path("api/bench/round-trips", RoundTripsView.as_view()),
]

"""One plain Django JSON view, served by the same gunicorn configuration as the product, under
``/api/`` like the API (so it passes the same middleware)."""

from django.http import JsonResponse
from django.urls import path


def bare(request):
    return JsonResponse({"status": "ok", "service": "bare"})


urlpatterns = [path("api/bench/bare", bare)]

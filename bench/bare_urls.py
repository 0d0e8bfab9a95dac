"""One plain Django JSON view, served by the same gunicorn configuration as the product."""

from django.http import JsonResponse
from django.urls import path


def bare(request):
    return JsonResponse({"status": "ok", "service": "bare"})


urlpatterns = [path("bare", bare)]

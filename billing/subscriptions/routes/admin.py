"""Subscription routes (admin)."""

urlpatterns: list = []

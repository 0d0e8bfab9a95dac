"""Subscription routes (user)."""

urlpatterns: list = []

"""Subscription routes (plan_change)."""

urlpatterns: list = []

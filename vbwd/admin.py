"""The back office's framework models: sign-in tokens and permission groups.

Both are plumbing rather than billing: superusers see and read them; other staff find neither in
the index nor behind a typed address. Roles, not groups, give staff their rights.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import Group
from rest_framework_simplejwt.token_blacklist.admin import (
    BlacklistedTokenAdmin as JwtBlacklistedTokenAdmin,
)
from rest_framework_simplejwt.token_blacklist.admin import (
    OutstandingTokenAdmin as JwtOutstandingTokenAdmin,
)
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from unfold.admin import ModelAdmin


class SuperuserOnly:
    """Listed, opened and changed by superusers only."""

    def has_module_permission(self, request):
        return request.user.is_superuser and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class OutstandingTokenAdmin(SuperuserOnly, JwtOutstandingTokenAdmin, ModelAdmin):
    pass


class BlacklistedTokenAdmin(SuperuserOnly, JwtBlacklistedTokenAdmin, ModelAdmin):
    pass


class GroupAdmin(SuperuserOnly, ModelAdmin):
    search_fields = ("name",)
    ordering = ("name",)
    filter_horizontal = ("permissions",)


for model, model_admin in (
    (OutstandingToken, OutstandingTokenAdmin),
    (BlacklistedToken, BlacklistedTokenAdmin),
    (Group, GroupAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)

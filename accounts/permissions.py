from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from accounts.authentication import failure_reason


class IsActiveUser(BasePermission):
    """``user`` level: an ACTIVE user's valid access token; else a 401 that says
    precisely what is wrong."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is not None and user.is_authenticated:
            return True
        raise failure_reason(request)


class IsAdmin(IsActiveUser):
    """``admin`` level: as ``user``, and the role ADMIN (403 "Admin access required")."""

    def has_permission(self, request, view) -> bool:
        super().has_permission(request, view)
        if not request.user.is_staff:
            raise exceptions.PermissionDenied("Admin access required")
        return True

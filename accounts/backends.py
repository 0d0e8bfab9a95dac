from django.contrib.auth.backends import ModelBackend

from accounts.models import normalise_email


class EmailBackend(ModelBackend):
    """Django-admin login by email, case-insensitively; only ACTIVE users get in."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        email = kwargs.get("email", username)
        if email is None:
            return None
        return super().authenticate(request, username=normalise_email(email), password=password)

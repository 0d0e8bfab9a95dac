from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import timezone


@receiver(user_logged_in, dispatch_uid="accounts.record_admin_login")
def record_admin_login(sender, request, user, **kwargs):
    """A Django-admin login counts as a login too: it sets last_login_at (safe to run twice)."""
    type(user).objects.filter(pk=user.pk).update(last_login_at=timezone.now())

"""Emails of the account flows, sent by Celery after the transaction that caused them commits."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_password_reset_email(user_id: str) -> None:
    """Sends the reset link; a user who is gone or inactive by now gets nothing."""
    from accounts.models import User
    from accounts.services import password_reset_link

    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.is_active:
        return
    context = {
        "link": password_reset_link(user),
        "minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
        "email": user.email,
    }
    send_mail(
        subject="Reset your password",
        message=render_to_string("emails/password_reset.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_password_changed_email(user_id: str) -> None:
    """Tells the user their password changed, so an unexpected change is noticed."""
    from accounts.models import User

    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    send_mail(
        subject="Your password was changed",
        message=render_to_string("emails/password_changed.txt", {"email": user.email}),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )

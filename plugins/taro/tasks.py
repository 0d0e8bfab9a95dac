"""Celery task of the session expiry; its beat entry is in ``vbwd/celery.py``."""

from celery import shared_task


@shared_task
def taro_sessions_expire() -> int:
    """Marks ACTIVE tarot sessions whose time has run out EXPIRED."""
    from plugins.taro.services import taro_sessions_expire as expire

    return expire()

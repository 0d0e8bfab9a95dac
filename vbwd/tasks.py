from celery import shared_task
from django.core.management import call_command

from vbwd import idempotency


@shared_task
def purge_idempotency_records() -> int:
    """Deletes Idempotency-Key records past their lifetime; returns how many."""
    return idempotency.purge_expired()


@shared_task
def flush_expired_refresh_tokens() -> None:
    """Deletes outstanding and blacklisted refresh tokens that have expired anyway."""
    call_command("flushexpiredtokens")

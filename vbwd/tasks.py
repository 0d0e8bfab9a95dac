from celery import shared_task

from vbwd import idempotency


@shared_task
def purge_idempotency_records() -> int:
    """Deletes Idempotency-Key records past their lifetime; returns how many."""
    return idempotency.purge_expired()

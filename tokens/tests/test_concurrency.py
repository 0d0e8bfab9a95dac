"""Row locks that only PostgreSQL enforces."""

import threading

import pytest
from django.db import connection

from audit.models import AuditEntry
from tokens import services
from tokens.models import TokenBundle
from tokens.tests.factories import TokenBundleFactory
from vbwd.exceptions import DomainError


def _race(count: int, action) -> list[str]:
    barrier = threading.Barrier(count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            try:
                action()
                outcome = "done"
            except DomainError as error:
                outcome = error.code
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deactivations_write_one_audit_entry():
    bundle = TokenBundleFactory(is_active=True)

    outcomes = _race(6, lambda: services.token_bundle_deactivate(bundle=bundle))

    assert outcomes == ["done"] * 6
    assert TokenBundle.objects.get(pk=bundle.pk).is_active is False
    assert AuditEntry.objects.filter(action="token_bundle.deactivated").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deletes_delete_once_and_the_rest_are_not_found():
    bundle = TokenBundleFactory()

    outcomes = _race(4, lambda: services.token_bundle_delete(bundle=bundle))

    assert outcomes == ["done", "not_found", "not_found", "not_found"]
    assert AuditEntry.objects.filter(action="token_bundle.deleted").count() == 1

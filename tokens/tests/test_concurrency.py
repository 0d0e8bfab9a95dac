"""Row locks that only PostgreSQL enforces."""

import pytest

from audit.models import AuditEntry
from tests.support.race import run_together
from tokens import services
from tokens.models import TokenBundle
from tokens.tests.factories import TokenBundleFactory
from vbwd.exceptions import DomainError


def _race(count: int, action) -> list[str]:
    """Runs ``action`` ``count`` times at once; the sorted outcomes, "done" or the error code."""
    return sorted(_outcome(result) for result in run_together([action] * count))


def _outcome(result) -> str:
    if isinstance(result, DomainError):
        return result.code
    if isinstance(result, Exception):
        raise result
    return "done"


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

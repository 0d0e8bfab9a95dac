import pytest

from audit.models import ActorType, AuditEntry
from audit.services import audit_record, changes

pytestmark = pytest.mark.django_db


def _entry() -> AuditEntry:
    return audit_record(
        action="plan.updated",
        object_type="plan",
        object_id="abc",
        summary="Plan updated",
        before={"price": "9.99"},
        after={"price": "12.99"},
    )


def test_an_entry_without_actor_is_the_system_outside_any_request():
    entry = _entry()

    assert entry.actor_type == ActorType.SYSTEM
    assert entry.actor_id is None
    assert entry.request_id is None
    assert entry.ip_address is None


def test_entries_are_append_only():
    entry = _entry()

    entry.summary = "rewritten"
    with pytest.raises(TypeError, match="append-only"):
        entry.save()
    with pytest.raises(TypeError, match="append-only"):
        entry.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).update(summary="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).summary == "Plan updated"


def test_changes_keeps_only_differing_keys():
    assert changes({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == (
        {"b": 2, "c": None},
        {"b": 3, "c": 4},
    )


def test_provider_actor_is_labelled():
    entry = audit_record(
        action="payment.captured",
        object_type="payment",
        object_id="p1",
        summary="Captured",
        actor_type=ActorType.PROVIDER,
        actor_label="stripe",
    )

    assert (entry.actor_type, entry.actor_label) == ("PROVIDER", "stripe")

import pytest

from audit.models import ActorType, AuditEntry
from audit.services import audit_batch, audit_record, changes

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


def _recorded(action: str) -> AuditEntry:
    return audit_record(action=action, object_type="plan", object_id="abc", summary=action)


def test_a_batch_inserts_its_entries_at_its_end_in_one_query(django_assert_num_queries):
    with django_assert_num_queries(1), audit_batch():
        _recorded("plan.created")
        with audit_batch():  # a nested batch joins the open one
            _recorded("plan.updated")
    assert sorted(AuditEntry.objects.values_list("action", flat=True)) == [
        "plan.created",
        "plan.updated",
    ]
    _recorded("plan.deleted")  # after the batch, written at once again
    assert AuditEntry.objects.count() == 3


def test_a_batch_writes_nothing_before_its_end():
    with audit_batch():
        _recorded("plan.created")
        assert not AuditEntry.objects.exists()
    assert AuditEntry.objects.count() == 1


def _failing_batch() -> None:
    with audit_batch():
        _recorded("plan.created")
        raise RuntimeError("failed")


def test_a_batch_ended_by_an_error_inserts_nothing():
    with pytest.raises(RuntimeError):
        _failing_batch()
    assert not AuditEntry.objects.exists()

"""The audit log in the back office: filters by actor, object, action prefix and day, and
links to the objects."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory
from audit.services import audit_record

pytestmark = pytest.mark.django_db

LOG = "/admin/audit/auditentry/"


@pytest.fixture
def staff():
    return AdminFactory(email="auditor@example.com")


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    return client


@pytest.fixture
def entries(staff):
    customer = UserFactory()
    with time_machine.travel(datetime.datetime(2027, 1, 10, tzinfo=datetime.UTC), tick=False):
        audit_record(
            action="invoice.marked_paid", object_type="user", object_id=str(customer.pk),
            summary="Paid-mark entry", actor=staff,
        )  # fmt: skip
    audit_record(
        action="subscription.cancelled", object_type="subscription", object_id="not-a-row",
        summary="Cancel entry", actor_label="expire_job",
    )  # fmt: skip
    return customer


def _summaries(client, query: str = "") -> list[str]:
    response = client.get(f"{LOG}?{query}")
    assert response.status_code == 200
    return [row for row in ("Paid-mark entry", "Cancel entry") if row in response.content.decode()]


def test_the_log_filters_by_action_prefix_actor_object_and_day(client, staff, entries):
    assert _summaries(client) == ["Paid-mark entry", "Cancel entry"]
    assert _summaries(client, "action_prefix=invoice.") == ["Paid-mark entry"]
    assert _summaries(client, "action_prefix=subscription.") == ["Cancel entry"]
    assert _summaries(client, f"actor_id={staff.pk}") == ["Paid-mark entry"]
    assert _summaries(client, "actor_type__exact=SYSTEM") == ["Cancel entry"]
    assert _summaries(client, "object_type__exact=subscription") == ["Cancel entry"]
    assert _summaries(client, "created_at__year=2027&created_at__month=1&created_at__day=10") == [
        "Paid-mark entry"
    ]


def test_entries_link_to_their_object_and_actor(client, staff, entries):
    page = client.get(LOG).content.decode()
    assert f'href="/admin/accounts/user/{entries.pk}/change/"' in page
    assert f'href="?actor_id={staff.pk}">auditor@example.com</a>' in page
    assert "expire_job" in page
    assert 'href="?action_prefix=invoice."' in page

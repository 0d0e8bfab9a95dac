"""The audit log's admin API: shape, every filter, pagination, 404 and access."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
import time_machine

from accounts.tests.factories import AdminFactory, UserFactory
from audit.models import AuditEntry
from audit.services import audit_record
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import PlanFactory
from billing.checkout.services import checkout_create
from billing.invoices.services import invoice_mark_paid
from billing.invoices.services.refunds import invoice_refund
from billing.invoices.tests.factories import buyer
from tokens.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/admin/audit-log"
ENTRY_KEYS = [
    "id", "created_at", "actor_type", "actor_id", "actor_email", "actor_label", "action",
    "object_type", "object_id", "summary", "before", "after", "ip_address", "request_id",
]  # fmt: skip


def _ids(client, query: str = "") -> list[str]:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.content
    return [entry["id"] for entry in response.json()["entries"]]


def test_a_refund_is_found_by_the_customers_user_id(admin_client):
    customer = buyer()
    stranger = buyer()
    staff = AdminFactory()
    plan = PlanFactory(price=Decimal("29.99"), billing_period=BillingPeriod.MONTHLY)
    bundle = TokenBundleFactory(token_amount=100)
    invoice = checkout_create(
        user=customer, plan_id=str(plan.pk), token_bundle_ids=[str(bundle.pk)]
    ).invoice
    invoice_mark_paid(invoice_id=invoice.pk, actor=staff, payment_reference="SEPA-1")
    checkout_create(user=stranger, token_bundle_ids=[str(bundle.pk)])
    before_refund = set(AuditEntry.objects.values_list("id", flat=True))

    invoice_refund(invoice_id=invoice.pk, actor=staff, record_only=True, reason="Goodwill")

    response = admin_client.get(f"{URL}?user_id={customer.pk}&per_page=100")
    entries = response.json()["entries"]
    refund = [entry for entry in entries if uuid.UUID(entry["id"]) not in before_refund]
    assert sorted((entry["object_type"], entry["action"]) for entry in refund) == [
        ("credit_note", "credit_note.issued"),
        ("invoice", "invoice.refunded"),
        ("payment", "payment.refunded"),
        ("subscription", "subscription.cancelled"),
        ("token_balance", "token_balance.debited"),
        ("token_bundle_purchase", "token_bundle_purchase.refunded"),
    ]
    # Only this customer's entries: nothing of the stranger's checkout.
    expected = AuditEntry.objects.filter(subject_user_id=customer.pk).count()
    assert (
        response.json()["total"]
        == expected
        + AuditEntry.objects.filter(actor_id=customer.pk)
        .exclude(subject_user_id=customer.pk)
        .count()
    )
    assert str(stranger.pk) not in {entry["object_id"] for entry in entries}
    assert all(
        AuditEntry.objects.get(pk=entry["id"]).subject_user_id == customer.pk
        or entry["actor_id"] == str(customer.pk)
        for entry in entries
    )


@pytest.fixture
def log():
    """Four entries at known times by known actors."""
    staff = AdminFactory(email="staff@example.com")
    customer = UserFactory()
    owner = UserFactory()
    entries = {}
    moments = {
        "invoice": datetime.datetime(2027, 1, 10, 12, tzinfo=datetime.UTC),
        "refund": datetime.datetime(2027, 1, 11, 8, tzinfo=datetime.UTC),
        "role": datetime.datetime(2027, 1, 12, 23, 59, tzinfo=datetime.UTC),
        "job": datetime.datetime(2027, 1, 13, 0, 0, tzinfo=datetime.UTC),
    }
    with time_machine.travel(moments["invoice"], tick=False):
        entries["invoice"] = audit_record(
            action="invoice.marked_paid", object_type="invoice", object_id="inv-1",
            summary="Invoice INV-1 marked paid", actor=staff, subject_user_id=owner.pk,
        )  # fmt: skip
    with time_machine.travel(moments["refund"], tick=False):
        entries["refund"] = audit_record(
            action="invoice.refunded", object_type="invoice", object_id="inv-1",
            summary="Invoice INV-1 refunded in full", actor=staff, subject_user_id=owner.pk,
        )  # fmt: skip
    with time_machine.travel(moments["role"], tick=False):
        entries["role"] = audit_record(
            action="user.role_changed", object_type="user", object_id=str(customer.pk),
            summary="Role changed to ADMIN", actor=customer, subject_user_id=customer.pk,
            before={"role": "USER"}, after={"role": "ADMIN"},
        )  # fmt: skip
    with time_machine.travel(moments["job"], tick=False):
        entries["job"] = audit_record(
            action="subscription.expired", object_type="subscription", object_id="sub-1",
            summary="Subscription expired after its grace period", actor_label="expire_job",
        )  # fmt: skip
    ids = {name: str(entry.pk) for name, entry in entries.items()}
    return type("Log", (), {"ids": ids, "staff": staff, "customer": customer, "owner": owner})


def test_entries_are_listed_newest_first_with_their_shape(admin_client, log):
    response = admin_client.get(URL)
    body = response.json()
    own = [entry for entry in body["entries"] if entry["id"] in log.ids.values()]
    assert [entry["id"] for entry in own] == [
        log.ids["job"], log.ids["role"], log.ids["refund"], log.ids["invoice"]
    ]  # fmt: skip
    assert list(own[1]) == ENTRY_KEYS
    assert own[1] | {"id": None} == {
        "id": None,
        "created_at": "2027-01-12T23:59:00Z",
        "actor_type": "STAFF" if log.customer.is_staff else "USER",
        "actor_id": str(log.customer.pk),
        "actor_email": log.customer.email,
        "actor_label": None,
        "action": "user.role_changed",
        "object_type": "user",
        "object_id": str(log.customer.pk),
        "summary": "Role changed to ADMIN",
        "before": {"role": "USER"},
        "after": {"role": "ADMIN"},
        "ip_address": None,
        "request_id": None,
    }
    assert own[0]["actor_type"] == "SYSTEM"
    assert own[0]["actor_label"] == "expire_job"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor_type=system", ["job"]),
        ("actor_type=STAFF", ["refund", "invoice"]),
        ("object_type=invoice", ["refund", "invoice"]),
        ("object_type=invoice&object_id=inv-1", ["refund", "invoice"]),
        ("object_id=sub-1", ["job"]),
        ("action=invoice.", ["refund", "invoice"]),
        ("action=invoice.refunded", ["refund"]),
        ("action=user", ["role"]),
        ("search=REFUNDED in", ["refund"]),
        ("date_from=2027-01-11&date_to=2027-01-12", ["role", "refund"]),
        ("date_from=2027-01-12T23:59:00Z", ["job", "role"]),
        ("date_to=2027-01-12T23:58:59Z", ["refund", "invoice"]),
        ("actor_type=&actor_id=&object_type=&action=&user_id=&search=&date_from=&date_to=",
         ["job", "role", "refund", "invoice"]),
    ],
)  # fmt: skip
def test_each_filter_keeps_exactly_its_entries(admin_client, log, query, expected):
    found = [entry_id for entry_id in _ids(admin_client, query) if entry_id in log.ids.values()]
    assert found == [log.ids[name] for name in expected]


def test_actor_id_and_user_id_filters(admin_client, log):
    assert _ids(admin_client, f"actor_id={log.staff.pk}") == [log.ids["refund"], log.ids["invoice"]]
    # Made by the owner or about the owner's objects.
    assert _ids(admin_client, f"user_id={log.owner.pk}") == [log.ids["refund"], log.ids["invoice"]]
    assert _ids(admin_client, f"user_id={log.customer.pk}") == [log.ids["role"]]
    assert _ids(admin_client, f"user_id={uuid.uuid4()}") == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("actor_type=robot", "Unknown actor_type: robot"),
        ("actor_id=nope", "actor_id must be a valid UUID"),
        ("user_id=12", "user_id must be a valid UUID"),
        ("date_from=yesterday", "date_from must be a date (YYYY-MM-DD) or a datetime"),
        ("page=x", "page must be an integer"),
    ],
)
def test_bad_filters_are_400(admin_client, query, message):
    response = admin_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == message


def test_the_list_is_paginated_in_a_constant_number_of_queries(
    admin_client, log, django_assert_num_queries
):
    with django_assert_num_queries(3):  # the caller, the count, the page
        response = admin_client.get(f"{URL}?per_page=1&page=2&object_type=invoice")
    body = response.json()
    assert [entry["id"] for entry in body["entries"]] == [log.ids["invoice"]]
    assert (body["total"], body["pages"], body["page"]) == (2, 2, 2)
    empty = admin_client.get(f"{URL}?per_page=2&page=2&object_type=invoice").json()
    assert (empty["entries"], empty["total"]) == ([], 2)
    body = admin_client.get(f"{URL}?limit=1&offset=1&object_type=invoice").json()
    assert [entry["id"] for entry in body["entries"]] == [log.ids["invoice"]]


def test_one_entry_and_its_404(admin_client, log):
    response = admin_client.get(f"{URL}/{log.ids['role']}")
    assert response.json()["entry"]["action"] == "user.role_changed"
    missing = admin_client.get(f"{URL}/{uuid.uuid4()}")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "Audit entry not found", "code": "not_found"},
    )


def test_customers_cannot_read_the_log(user_client):
    response = user_client.get(URL)
    assert (response.status_code, response.json()["error"]) == (403, "Admin access required")

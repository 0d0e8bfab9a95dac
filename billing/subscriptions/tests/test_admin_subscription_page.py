"""The subscription's page in the back office: its actions ask for what they need, show what
they will do (a plan change its proration) and only on confirmation call the lifecycle services."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client

from accounts.tests.factories import AdminFactory, UserFactory
from audit.models import AuditEntry
from billing.invoices.models import Invoice, InvoiceType
from billing.invoices.tests.factories import buyer, monthly_plan
from billing.subscriptions.models import SubscriptionStatus
from billing.subscriptions.services import subscription_pause
from billing.subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def staff():
    return AdminFactory()


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def _url(sub, path: str) -> str:
    return f"/admin/subscriptions/subscription/{sub.pk}/{path}/"


def _text(response) -> str:
    return " ".join(response.content.decode().split())


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _audited(sub, action: str, staff) -> AuditEntry:
    return AuditEntry.objects.get(action=action, object_id=str(sub.pk), actor_id=staff.pk)


def test_the_page_offers_every_action(client):
    sub = SubscriptionFactory()

    page = client.get(f"/admin/subscriptions/subscription/{sub.pk}/change/").content.decode()

    for path in ("extend", "pause", "resume", "activate", "change-plan", "cancel"):
        assert f'href="{_url(sub, path)}"' in page, path


def test_extend_shows_the_new_end_then_extends(client, staff):
    sub = SubscriptionFactory(plan=monthly_plan(name="Pro"))
    values = {"days": "10", "reason": "Outage"}

    preview = client.post(_url(sub, "extend"), {**values, "preview": "1"})
    sub.refresh_from_db()
    assert sub.expires_at == NOW + 30 * DAY
    done = client.post(_url(sub, "extend"), {**values, "confirm": "1"})

    assert "move the end of access from 2026-04-09 12:00 to 2026-04-19 12:00" in _text(preview)
    assert done.status_code == 302
    sub.refresh_from_db()
    assert sub.expires_at == NOW + 40 * DAY
    assert _audited(sub, "subscription.extended", staff).reason == "Outage"


def test_extend_refuses_days_and_until_together(client):
    sub = SubscriptionFactory()

    response = client.post(
        _url(sub, "extend"),
        {"days": "5", "until_0": "2026-05-01", "until_1": "12:00", "reason": "x", "confirm": "1"},
    )

    assert "Give either days or until, not both" in response.content.decode()
    sub.refresh_from_db()
    assert sub.expires_at == NOW + 30 * DAY


def test_pause_for_a_number_of_days(client, staff):
    sub = SubscriptionFactory()
    values = {"days": "7", "reason": "Holiday"}

    preview = client.post(_url(sub, "pause"), {**values, "preview": "1"})
    done = client.post(_url(sub, "pause"), {**values, "confirm": "1"})

    assert "it resumes by itself on 2026-03-17 12:00" in _text(preview)
    assert done.status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.paused_at, sub.pause_ends_at) == (
        SubscriptionStatus.PAUSED,
        NOW,
        NOW + 7 * DAY,
    )
    assert _audited(sub, "subscription.paused", staff).reason == "Holiday"


def test_pause_until_a_date(client):
    sub = SubscriptionFactory()

    done = client.post(
        _url(sub, "pause"),
        {"until_0": "2026-03-20", "until_1": "09:00", "reason": "Holiday", "confirm": "1"},
    )

    assert done.status_code == 302
    sub.refresh_from_db()
    assert sub.pause_ends_at == datetime.datetime(2026, 3, 20, 9, 0, tzinfo=datetime.UTC)


def test_a_pause_longer_than_the_settings_allow_is_refused(client):
    sub = SubscriptionFactory()

    response = client.post(_url(sub, "pause"), {"days": "400", "reason": "x", "confirm": "1"})

    assert "A pause lasts at most 90 days" in response.content.decode()
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE


def test_resume_adds_the_paused_time(client, staff, frozen):
    sub = SubscriptionFactory()
    subscription_pause(subscription_id=sub.pk, actor=staff)

    with time_machine.travel(NOW + 4 * DAY, tick=False):
        preview = client.post(_url(sub, "resume"), {"reason": "Back", "preview": "1"})
        done = client.post(_url(sub, "resume"), {"reason": "Back", "confirm": "1"})

    assert "to 2026-04-13 12:00" in _text(preview)
    assert done.status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.ACTIVE, NOW + 34 * DAY)


def test_cancel_at_period_end_keeps_access(client, staff):
    sub = SubscriptionFactory()

    preview = client.post(_url(sub, "cancel"), {"immediate": "", "reason": "Asked", "preview": "1"})
    done = client.post(_url(sub, "cancel"), {"immediate": "", "reason": "Asked", "confirm": "1"})

    assert "access continues until 2026-04-09 12:00 and it does not renew" in _text(preview)
    assert done.status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.CANCELLED, NOW + 30 * DAY)
    assert _audited(sub, "subscription.cancelled", staff).reason == "Asked"


def test_cancel_now_ends_access(client):
    sub = SubscriptionFactory()

    preview = client.post(
        _url(sub, "cancel"), {"immediate": "1", "reason": "Fraud", "preview": "1"}
    )
    done = client.post(_url(sub, "cancel"), {"immediate": "1", "reason": "Fraud", "confirm": "1"})

    assert "cancel the subscription and end access now" in _text(preview)
    assert done.status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.CANCELLED, NOW)


def test_activate_a_cancelled_subscription(client, staff):
    sub = SubscriptionFactory(cancelled=True)

    done = client.post(_url(sub, "activate"), {"reason": "Mistake", "confirm": "1"})

    assert done.status_code == 302
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert _messages(done)[0].endswith("activated, access until 2026-04-09 12:00")


def test_activate_of_an_active_subscription_is_refused_on_the_form(client):
    sub = SubscriptionFactory()

    response = client.post(_url(sub, "activate"), {"reason": "x", "confirm": "1"})

    assert response.status_code == 200
    assert "already active" in response.content.decode().lower()


def test_activate_resumes_a_paused_subscription(client, frozen):
    sub = SubscriptionFactory(paused=True, paused_at=NOW - 2 * DAY, expires_at=NOW + DAY)

    done = client.post(_url(sub, "activate"), {"reason": "Support ticket 12", "confirm": "1"})

    assert done.status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.ACTIVE, NOW + 3 * DAY)
    assert AuditEntry.objects.get(action="subscription.resumed", object_id=str(sub.pk)).reason == (
        "Support ticket 12"
    )


def test_activate_of_a_pending_subscription_is_refused(client):
    sub = SubscriptionFactory(pending=True)

    response = client.post(_url(sub, "activate"), {"reason": "x", "confirm": "1"})

    assert response.status_code == 200
    assert "Pending subscriptions are activated by paying their invoice" in _text(response)
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.PENDING


def test_change_plan_now_shows_the_proration_then_invoices_it(client, staff):
    customer = buyer()
    basic = monthly_plan(name="Basic", price=Decimal("10.00"))
    pro = monthly_plan(name="Pro", price=Decimal("40.00"))
    sub = SubscriptionFactory(user=customer, plan=basic)
    values = {"plan": str(pro.pk), "timing": "now"}

    asked = client.get(_url(sub, "change-plan"))
    preview = client.post(_url(sub, "change-plan"), {**values, "preview": "1"})
    assert Invoice.objects.count() == 0
    done = client.post(_url(sub, "change-plan"), {**values, "confirm": "1"})

    assert f'value="{pro.pk}"' in asked.content.decode()
    effect = _text(preview)
    assert "issue a plan-change invoice from Basic to Pro" in effect
    assert "credit for the unused 30 days: 10.00 EUR" in effect
    assert "amount due:" in effect
    assert done.status_code == 302
    invoice = Invoice.objects.get()
    assert (invoice.invoice_type, invoice.subscription_id) == (InvoiceType.PLAN_CHANGE, sub.pk)
    assert f"amount due: {invoice.total_amount:.2f} EUR" in effect
    assert AuditEntry.objects.filter(
        action="subscription.plan_change_requested", actor_id=staff.pk
    ).exists()


def test_change_plan_at_renewal_schedules_it(client):
    sub = SubscriptionFactory(user=buyer(), plan=monthly_plan(name="Pro", price=Decimal("40.00")))
    basic = monthly_plan(name="Basic", price=Decimal("10.00"))

    preview = client.post(
        _url(sub, "change-plan"), {"plan": str(basic.pk), "timing": "renewal", "preview": "1"}
    )
    done = client.post(
        _url(sub, "change-plan"), {"plan": str(basic.pk), "timing": "renewal", "confirm": "1"}
    )

    assert "switch from Pro to Basic at the next renewal (2026-04-09 12:00)" in _text(preview)
    assert done.status_code == 302
    sub.refresh_from_db()
    assert sub.pending_plan_id == basic.pk
    assert Invoice.objects.count() == 0


def test_an_upgrade_to_a_cheaper_plan_is_refused_before_the_confirmation(client):
    sub = SubscriptionFactory(user=buyer(), plan=monthly_plan(price=Decimal("40.00")))
    cheaper = monthly_plan(name="Basic", price=Decimal("10.00"))

    preview = client.post(
        _url(sub, "change-plan"), {"plan": str(cheaper.pk), "timing": "now", "preview": "1"}
    )

    page = preview.content.decode()
    assert "costs less than your current plan; downgrade instead" in page
    assert 'name="confirm"' not in page


@pytest.mark.parametrize("path", ["extend", "pause", "cancel", "change-plan", "activate"])
def test_customers_cannot_reach_the_actions(path):
    sub = SubscriptionFactory()
    client = Client()
    client.force_login(UserFactory())

    response = client.post(_url(sub, path), {"reason": "x", "days": "5", "confirm": "1"})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.ACTIVE, NOW + 30 * DAY)

"""The back office for subscriptions and add-on subscriptions: read-only screens; state changes
only through the actions, which ask for a reason and call the lifecycle services."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory
from audit.models import ActorType, AuditEntry
from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from billing.invoices.models import Invoice
from billing.invoices.tests.factories import (
    buyer,
    issue_invoice,
    monthly_plan,
    subscription_draft,
)
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.tests.factories import AddOnSubscriptionFactory, SubscriptionFactory
from platform_settings.selectors import platform_settings_get

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/admin/subscriptions/subscription/"
ADDONS = "/admin/subscriptions/addonsubscription/"
INVOICES = "/admin/invoices/invoice/"
TEMPLATE = "admin/reason_action.html"
NOW = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def staff():
    return AdminFactory()


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    return client


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _reported(response) -> dict[str, str]:
    """Each message with its level (rows are processed in creation order, which ties here)."""
    return {str(message): message.level_tag for message in get_messages(response.wsgi_request)}


def _action(client, url: str, action: str, rows, **form):
    """Posts the action twice, as the browser does: the changelist, then the confirm form."""
    selected = [str(row.pk) for row in rows]
    first = client.post(url, {"action": action, "_selected_action": selected})
    assert first.status_code == 200
    assert first.templates[0].name == TEMPLATE
    data = {"action": action, "_selected_action": selected, "apply": "1", **form}
    return client.post(url, data)


def _label(subscription: Subscription) -> str:
    return f"{subscription.user.email}, {subscription.plan.name}"


def _entries(action: str, row) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, object_id=str(row.pk)))


def _reload(row):
    row.refresh_from_db()
    return row


# --- screens --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [SUBSCRIPTIONS, ADDONS])
def test_non_staff_are_sent_to_the_login_page(url):
    client = Client()
    client.force_login(UserFactory())

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_changelist_filters_search_and_constant_queries(client, django_assert_max_num_queries):
    platform_settings_get()  # cached in a running deployment, as the seller banner reads it
    basic, pro = PlanFactory(name="Basic"), PlanFactory(name="Pro")
    with time_machine.travel(datetime.datetime(2026, 1, 15, 9, tzinfo=datetime.UTC)):
        january = SubscriptionFactory(user=UserFactory(email="erika@example.com"), plan=basic)
    paused = SubscriptionFactory(plan=pro, paused=True, pending_plan=basic)
    cancelled = SubscriptionFactory(
        user=UserFactory(email="max@example.org"), plan=basic, cancelled=True
    )
    expired = SubscriptionFactory(plan=pro, expired=True, expires_at=NOW - 10 * DAY)

    with django_assert_max_num_queries(8):
        few = client.get(SUBSCRIPTIONS)
    for _ in range(25):
        SubscriptionFactory(pending_plan=basic)
    with django_assert_max_num_queries(8):
        many = client.get(SUBSCRIPTIONS)

    def rows(params):
        response = client.get(SUBSCRIPTIONS, params)
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert few.status_code == many.status_code == 200
    assert len(many.context["cl"].result_list) == 29
    content = few.content.decode()
    assert "erika@example.com" in content
    assert "Basic" in content
    assert rows({"status__exact": "PAUSED"}) == {paused.pk}
    assert rows({"status__exact": "CANCELLED"}) == {cancelled.pk}
    assert rows({"plan__id__exact": str(pro.pk)}) == {paused.pk, expired.pk}
    assert rows({"q": "example.org"}) == {cancelled.pk}
    assert rows({"q": "erika@"}) == {january.pk}
    assert rows(
        {
            "created_at__gte": "2026-01-15 00:00:00+00:00",
            "created_at__lt": "2026-01-16 00:00:00+00:00",
        }
    ) == {january.pk}
    assert rows(
        {
            "expires_at__gte": (NOW - 10 * DAY).isoformat(),
            "expires_at__lt": (NOW - 9 * DAY).isoformat(),
        }
    ) == {expired.pk}


def test_changelist_shows_validity_and_the_pending_plan(client):
    SubscriptionFactory(plan=PlanFactory(name="Pro"), pending_plan=PlanFactory(name="Starter"))
    SubscriptionFactory(expired=True)

    response = client.get(SUBSCRIPTIONS)

    content = response.content.decode()
    assert "Starter" in content
    assert content.count('title="True"') == 1
    assert content.count('title="False"') == 1


def test_change_view_is_read_only_with_add_ons_and_invoice_links(client):
    customer = buyer()
    sub = SubscriptionFactory(user=customer, plan=monthly_plan(name="Basic"), pending=True)
    invoice = issue_invoice(customer, [subscription_draft(sub)])
    other = issue_invoice(customer)
    AddOnSubscriptionFactory(user=customer, subscription=sub, addon=AddOnFactory(name="Extra"))

    page = client.get(f"{SUBSCRIPTIONS}{sub.pk}/change/")
    posted = client.post(f"{SUBSCRIPTIONS}{sub.pk}/change/", {"status": "ACTIVE"})

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert page.context["has_delete_permission"] is False
    content = page.content.decode()
    assert 'name="status"' not in content
    assert 'name="expires_at' not in content
    assert "Extra" in content
    assert f'href="{INVOICES}?subscription_id={sub.pk}"' in content
    assert f'href="{INVOICES}{invoice.pk}/change/"' in content
    assert invoice.invoice_number in content
    assert other.invoice_number not in content
    assert posted.status_code == 403
    assert _reload(sub).status == SubscriptionStatus.PENDING

    invoices = client.get(INVOICES, {"subscription_id": str(sub.pk)})
    assert invoices.status_code == 200
    assert [row.pk for row in invoices.context["cl"].result_list] == [invoice.pk]


def test_change_view_without_invoices(client):
    sub = SubscriptionFactory()

    page = client.get(f"{SUBSCRIPTIONS}{sub.pk}/change/")

    assert page.status_code == 200
    assert f"?subscription_id={sub.pk}" not in page.content.decode()


def test_add_and_delete_are_refused(client):
    sub = SubscriptionFactory()

    assert client.get(f"{SUBSCRIPTIONS}add/").status_code == 403
    assert client.post(f"{SUBSCRIPTIONS}add/", {"user": str(sub.user_id)}).status_code == 403
    assert client.get(f"{SUBSCRIPTIONS}{sub.pk}/delete/").status_code == 403
    assert client.post(f"{SUBSCRIPTIONS}{sub.pk}/delete/", {"post": "yes"}).status_code == 403
    changelist = client.get(SUBSCRIPTIONS)
    actions = [
        value for value, _label in changelist.context["action_form"].fields["action"].choices
    ]
    assert "delete_selected" not in actions
    assert set(actions) - {""} == {
        "cancel_at_period_end",
        "cancel_immediately",
        "pause",
        "resume",
        "extend",
    }
    client.post(
        SUBSCRIPTIONS,
        {"action": "delete_selected", "_selected_action": [str(sub.pk)], "post": "yes"},
    )
    assert Subscription.objects.filter(pk=sub.pk).exists()


def test_addon_screens_list_search_filter_and_read_only(client, django_assert_max_num_queries):
    platform_settings_get()  # cached in a running deployment, as the seller banner reads it
    erika = UserFactory(email="erika@example.com")
    active = AddOnSubscriptionFactory(user=erika, addon=AddOnFactory(name="Extra storage"))
    cancelled = AddOnSubscriptionFactory(cancelled=True, subscription=SubscriptionFactory())

    with django_assert_max_num_queries(8):
        few = client.get(ADDONS)
    for _ in range(20):
        AddOnSubscriptionFactory(subscription=SubscriptionFactory())
    with django_assert_max_num_queries(8):
        many = client.get(ADDONS)
    detail = client.get(f"{ADDONS}{active.pk}/change/")

    def rows(params):
        return {row.pk for row in client.get(ADDONS, params).context["cl"].result_list}

    assert few.status_code == many.status_code == 200
    assert "Extra storage" in few.content.decode()
    assert rows({"q": "erika@"}) == {active.pk}
    assert rows({"status__exact": "CANCELLED"}) == {cancelled.pk}
    assert detail.status_code == 200
    assert detail.context["has_change_permission"] is False
    assert 'name="status"' not in detail.content.decode()
    assert client.post(f"{ADDONS}{active.pk}/change/", {"status": "EXPIRED"}).status_code == 403
    assert client.get(f"{ADDONS}add/").status_code == 403
    assert client.post(f"{ADDONS}{active.pk}/delete/", {"post": "yes"}).status_code == 403
    actions = [value for value, _ in few.context["action_form"].fields["action"].choices]
    assert set(actions) - {""} == {"cancel"}
    assert _reload(active).status == AddOnSubscriptionStatus.ACTIVE


# --- the reason form ------------------------------------------------------------------------


def test_the_form_lists_the_selected_subscriptions_and_requires_a_reason(client):
    sub = SubscriptionFactory(plan=PlanFactory(name="Basic"))

    first = client.post(SUBSCRIPTIONS, {"action": "pause", "_selected_action": [str(sub.pk)]})
    missing = client.post(
        SUBSCRIPTIONS,
        {"action": "pause", "_selected_action": [str(sub.pk)], "apply": "1", "reason": ""},
    )

    assert first.status_code == 200
    assert f"{_label(sub)} (ACTIVE, access until" in first.content.decode()
    assert missing.status_code == 200
    assert missing.templates[0].name == TEMPLATE
    assert "reason" in missing.context["form"].errors
    assert _reload(sub).status == SubscriptionStatus.ACTIVE
    assert not AuditEntry.objects.filter(object_type="subscription").exists()


def test_the_extend_form_offers_30_days_and_checks_the_range(client):
    sub = SubscriptionFactory()
    expires = sub.expires_at

    first = client.post(SUBSCRIPTIONS, {"action": "extend", "_selected_action": [str(sub.pk)]})
    zero = client.post(
        SUBSCRIPTIONS,
        {
            "action": "extend",
            "_selected_action": [str(sub.pk)],
            "apply": "1",
            "days": "0",
            "reason": "Goodwill",
        },
    )

    assert first.context["form"]["days"].value() == 30
    assert zero.status_code == 200
    assert zero.context["form"].errors["days"] == [
        "Ensure this value is greater than or equal to 1."
    ]
    assert _reload(sub).expires_at == expires


# --- actions --------------------------------------------------------------------------------


def test_cancel_at_period_end_keeps_access_until_the_end(client, staff, frozen):
    sub = SubscriptionFactory(expires_at=NOW + 20 * DAY)
    expired = SubscriptionFactory(expired=True, expires_at=NOW - DAY)

    response = _action(
        client, SUBSCRIPTIONS, "cancel_at_period_end", [sub, expired], reason="Customer asked"
    )

    assert response.status_code == 302
    sub = _reload(sub)
    assert (sub.status, sub.cancelled_at, sub.expires_at) == (
        SubscriptionStatus.CANCELLED,
        NOW,
        NOW + 20 * DAY,
    )
    assert sub.cancel_reason == "Customer asked"
    assert sub.is_valid
    [entry] = _entries("subscription.cancelled", sub)
    assert (entry.actor_id, entry.actor_type, entry.reason) == (
        staff.pk,
        ActorType.STAFF,
        "Customer asked",
    )
    assert _reload(expired).status == SubscriptionStatus.EXPIRED
    assert not _entries("subscription.cancelled", expired)
    assert _reported(response) == {
        f"{_label(sub)}: cancelled, access until 2026-03-30 12:00": "success",
        f"{_label(expired)}: Subscription has already ended": "error",
    }


def test_cancel_immediately_ends_access_now(client, staff, frozen):
    sub = SubscriptionFactory(expires_at=NOW + 20 * DAY)
    addon = AddOnSubscriptionFactory(user=sub.user, subscription=sub)

    response = _action(client, SUBSCRIPTIONS, "cancel_immediately", [sub], reason="Fraud")

    sub = _reload(sub)
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.CANCELLED, NOW)
    assert not sub.is_valid
    assert _entries("subscription.cancelled", sub)[0].reason == "Fraud"
    assert (_reload(addon).status, addon.expires_at) == (AddOnSubscriptionStatus.CANCELLED, NOW)
    assert _messages(response) == [f"{_label(sub)}: cancelled, access ended now"]


def test_pause_keeps_the_reason_next_to_the_audit_row(client, staff, frozen):
    sub = SubscriptionFactory(expires_at=NOW + 20 * DAY)
    paused = SubscriptionFactory(paused=True)

    response = _action(client, SUBSCRIPTIONS, "pause", [sub, paused], reason="Parental leave")

    sub = _reload(sub)
    assert (sub.status, sub.paused_at, sub.pause_ends_at) == (
        SubscriptionStatus.PAUSED,
        NOW,
        NOW + 90 * DAY,
    )
    [entry] = _entries("subscription.paused", sub)
    assert (entry.actor_id, entry.after["status"], entry.reason, entry.subject_user_id) == (
        staff.pk,
        "PAUSED",
        "Parental leave",
        sub.user_id,
    )
    assert not _entries("subscription.paused", paused)
    assert _reported(response) == {
        f"{_label(sub)}: paused, resumes by itself on 2026-06-08 12:00": "success",
        f"{_label(paused)}: Subscription is already paused": "error",
    }


def test_resume_moves_the_end_by_the_paused_time(client, staff, frozen):
    sub = SubscriptionFactory(
        paused=True,
        paused_at=NOW - 5 * DAY,
        pause_ends_at=NOW + 85 * DAY,
        expires_at=NOW + 10 * DAY,
    )
    active = SubscriptionFactory()

    response = _action(client, SUBSCRIPTIONS, "resume", [sub, active], reason="Back at work")

    sub = _reload(sub)
    assert (sub.status, sub.expires_at, sub.paused_at, sub.pause_ends_at) == (
        SubscriptionStatus.ACTIVE,
        NOW + 15 * DAY,
        None,
        None,
    )
    [entry] = _entries("subscription.resumed", sub)
    assert (entry.actor_id, entry.reason) == (staff.pk, "Back at work")
    assert _reload(active).status == SubscriptionStatus.ACTIVE
    assert not AuditEntry.objects.filter(object_id=str(active.pk)).exists()
    assert _reported(response) == {
        f"{_label(sub)}: resumed, access until 2026-03-25 12:00": "success",
        f"{_label(active)}: Subscription is not paused": "error",
    }


def test_extend_by_days(client, staff, frozen):
    sub = SubscriptionFactory(expires_at=NOW + 5 * DAY)
    past_due = SubscriptionFactory(past_due=True, expires_at=NOW - 2 * DAY)
    pending = SubscriptionFactory(pending=True)

    response = _action(
        client, SUBSCRIPTIONS, "extend", [sub, past_due, pending], days="10", reason="Outage"
    )

    assert _reload(sub).expires_at == NOW + 15 * DAY
    past_due = _reload(past_due)
    assert (past_due.status, past_due.expires_at) == (SubscriptionStatus.ACTIVE, NOW + 8 * DAY)
    [entry] = _entries("subscription.extended", sub)
    assert (entry.actor_id, entry.reason) == (staff.pk, "Outage")
    assert _reload(pending).expires_at is None
    assert _reported(response) == {
        f"{_label(sub)}: extended by 10 days, access until 2026-03-25 12:00": "success",
        f"{_label(past_due)}: extended by 10 days, access until 2026-03-18 12:00": "success",
        f"{_label(pending)}: Pending subscriptions cannot be extended; they start when their "
        "invoice is paid": "error",
    }


def test_actions_leave_other_subscriptions_alone(client):
    chosen = SubscriptionFactory()
    other = SubscriptionFactory()

    _action(client, SUBSCRIPTIONS, "cancel_immediately", [chosen], reason="Mistake")

    assert _reload(other).status == SubscriptionStatus.ACTIVE
    assert AuditEntry.objects.filter(action="subscription.cancelled").count() == 1


def test_select_across_applies_to_every_row_of_the_filtered_list(client):
    subs = [SubscriptionFactory(paused=True) for _ in range(3)]
    active = SubscriptionFactory()

    response = client.post(
        f"{SUBSCRIPTIONS}?status__exact=PAUSED",
        {
            "action": "resume",
            "_selected_action": [str(subs[0].pk)],
            "select_across": "1",
            "apply": "1",
            "reason": "Pause campaign over",
        },
    )

    assert response.status_code == 302
    assert {_reload(sub).status for sub in subs} == {SubscriptionStatus.ACTIVE}
    assert AuditEntry.objects.filter(action="subscription.resumed").count() == 3
    assert not AuditEntry.objects.filter(object_id=str(active.pk)).exists()


# --- add-on actions -------------------------------------------------------------------------


def test_addon_cancel_at_the_end_or_now(client, staff, frozen):
    later = AddOnSubscriptionFactory(expires_at=NOW + 20 * DAY, addon=AddOnFactory(name="Seats"))
    now = AddOnSubscriptionFactory(expires_at=NOW + 20 * DAY)

    at_end = _action(client, ADDONS, "cancel", [later], reason="Not needed")
    at_once = _action(client, ADDONS, "cancel", [now], reason="Chargeback", immediate="on")

    later, now = _reload(later), _reload(now)
    assert (later.status, later.cancelled_at, later.expires_at) == (
        AddOnSubscriptionStatus.CANCELLED,
        NOW,
        NOW + 20 * DAY,
    )
    assert (now.status, now.expires_at) == (AddOnSubscriptionStatus.CANCELLED, NOW)
    [entry] = _entries("addon_subscription.cancelled", later)
    assert (entry.actor_id, entry.reason) == (staff.pk, "Not needed")
    assert _entries("addon_subscription.cancelled", now)[0].reason == "Chargeback"
    assert _messages(at_end) == [
        f"{later.user.email}, Seats: cancelled, access until 2026-03-30 12:00"
    ]
    assert _messages(at_once) == [
        f"{now.user.email}, {now.addon.name}: cancelled, access until 2026-03-10 12:00"
    ]


def test_addon_cancel_of_a_cancelled_one_is_refused(client, frozen):
    row = AddOnSubscriptionFactory(cancelled=True, expires_at=NOW + DAY)

    response = _action(client, ADDONS, "cancel", [row], reason="Again")

    assert _reported(response) == {
        f"{row.user.email}, {row.addon.name}: Add-on subscription cannot be cancelled": "error"
    }
    assert _reload(row).expires_at == NOW + DAY
    assert not AuditEntry.objects.filter(object_type="addon_subscription").exists()


def test_addon_cancel_requires_a_reason(client):
    row = AddOnSubscriptionFactory()

    response = client.post(
        ADDONS, {"action": "cancel", "_selected_action": [str(row.pk)], "apply": "1"}
    )

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert AddOnSubscription.objects.get(pk=row.pk).status == AddOnSubscriptionStatus.ACTIVE
    assert Invoice.objects.count() == 0

"""The subscription lifecycle services (docs/concepts/subscriptions.md): every allowed transition
and every refused one with its message; periods moved by pauses and extensions under a fixed
clock."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import AddOnFactory, CategoryFactory, PlanFactory
from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType
from billing.invoices.tests.factories import (
    addon_draft,
    addon_subscription,
    buyer,
    custom_draft,
    issue_invoice,
    paid_invoice,
    subscription_draft,
)
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services import (
    subscription_cancel,
    subscription_extend,
    subscription_pause,
    subscription_reactivate,
    subscription_refund,
    subscription_resume,
    subscription_staff_activate,
)
from billing.subscriptions.services.lifecycle import AUTO_RESUME_LABEL
from billing.subscriptions.signals import subscription_cancelled
from billing.subscriptions.tests.factories import AddOnSubscriptionFactory, SubscriptionFactory
from platform_settings.services import platform_settings_update
from tokens.services.ledger import balance_of, tokens_credit
from vbwd.exceptions import BusinessRuleError, InvalidTransition, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db

S = SubscriptionStatus
T0 = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def make(state: str, **kwargs) -> Subscription:
    """A subscription in ``state``; CANCELLED has access left, CANCELLED_ENDED does not."""
    traits = {
        "PENDING": {"pending": True},
        "TRIALING": {"trialing": True},
        "ACTIVE": {},
        "PAST_DUE": {"past_due": True},
        "PAUSED": {"paused": True},
        "CANCELLED": {"cancelled": True},
        "CANCELLED_ENDED": {
            "cancelled": True,
            "expires_at": timezone.now() - DAY,
        },
        "EXPIRED": {"expired": True},
    }[state]
    return SubscriptionFactory(**{**traits, **kwargs})


def audits(subscription, action: str | None = None) -> list[AuditEntry]:
    rows = AuditEntry.objects.filter(object_type="subscription", object_id=str(subscription.pk))
    if action:
        rows = rows.filter(action=action)
    return list(rows.order_by("created_at"))


def refused(call, exception, message: str, subscription: Subscription) -> None:
    """``call`` is refused with ``message`` and changes nothing."""
    before = Subscription.objects.values().get(pk=subscription.pk)
    audit_count = len(audits(subscription))
    with pytest.raises(exception) as raised:
        call()
    assert raised.value.message == message
    assert Subscription.objects.values().get(pk=subscription.pk) == before
    assert len(audits(subscription)) == audit_count


@pytest.fixture
def staff(admin_user):
    return admin_user


@pytest.fixture
def cancelled_signals():
    received = []

    def on_cancelled(sender, subscription, immediate, reason, **kwargs):
        received.append((subscription.pk, immediate, reason))

    subscription_cancelled.connect(on_cancelled, dispatch_uid="test-lifecycle-cancelled")
    yield received
    subscription_cancelled.disconnect(dispatch_uid="test-lifecycle-cancelled")


def set_settings(**values) -> None:
    platform_settings_update(data=values, actor=None)


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_keeps_access_until_the_end_and_stops_renewal(
    cancelled_signals, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        end = subscription.expires_at
        with django_capture_on_commit_callbacks(execute=True):
            result = subscription_cancel(
                subscription_id=subscription.pk, actor=subscription.user, reason="Too expensive"
            )

    subscription.refresh_from_db()
    assert result.pk == subscription.pk
    assert subscription.status == S.CANCELLED
    assert subscription.cancelled_at == T0
    assert subscription.cancel_reason == "Too expensive"
    assert subscription.expires_at == end == T0 + 30 * DAY
    assert subscription.is_valid_at(end - datetime.timedelta(seconds=1)) is True
    assert subscription.is_valid_at(end) is False
    assert cancelled_signals == [(subscription.pk, False, "Too expensive")]
    [entry] = audits(subscription, "subscription.cancelled")
    assert entry.before["status"] == "ACTIVE"
    assert entry.after["status"] == "CANCELLED"
    assert entry.actor_type == "USER"
    assert entry.reason == "Too expensive"


def test_cancelled_subscription_stays_valid_until_expires_at_then_not():
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        subscription_cancel(subscription_id=subscription.pk, actor=None)
    with time_machine.travel(T0 + 30 * DAY - datetime.timedelta(minutes=1), tick=False):
        assert Subscription.objects.get(pk=subscription.pk).is_valid is True
    with time_machine.travel(T0 + 30 * DAY, tick=False):
        assert Subscription.objects.get(pk=subscription.pk).is_valid is False


def test_staff_immediate_cancel_ends_access_now(
    staff, cancelled_signals, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        with django_capture_on_commit_callbacks(execute=True):
            subscription_cancel(subscription_id=subscription.pk, actor=staff, immediate=True)
        subscription.refresh_from_db()
        assert subscription.is_valid is False

    assert subscription.status == S.CANCELLED
    assert subscription.expires_at == T0
    assert cancelled_signals == [(subscription.pk, True, None)]
    assert audits(subscription, "subscription.cancelled")[0].actor_type == "STAFF"


def test_cancel_of_a_trial_voids_its_invoice_and_the_trial_runs_to_its_end():
    user = buyer()
    subscription = make("TRIALING", user=user)
    trial_invoice = issue_invoice(
        user, [subscription_draft(subscription)], due_date=subscription.trial_end_at
    )

    subscription_cancel(subscription_id=subscription.pk, actor=user)

    subscription.refresh_from_db()
    trial_invoice.refresh_from_db()
    assert subscription.status == S.CANCELLED
    assert subscription.expires_at == subscription.trial_end_at
    assert subscription.is_valid is True
    assert trial_invoice.status == InvoiceStatus.CANCELLED


def test_cancel_voids_open_renewal_and_plan_change_invoices_but_not_paid_or_manual_ones():
    user = buyer()
    subscription = make("PAST_DUE", user=user)
    renewal = issue_invoice(
        user, [subscription_draft(subscription)], invoice_type=InvoiceType.RENEWAL
    )
    plan_change = issue_invoice(
        user, [subscription_draft(subscription)], invoice_type=InvoiceType.PLAN_CHANGE
    )
    manual = issue_invoice(
        user, [custom_draft()], invoice_type=InvoiceType.MANUAL, subscription_id=subscription.pk
    )
    paid = paid_invoice(user, [custom_draft()], subscription_id=subscription.pk)
    other = issue_invoice(user, [custom_draft()])

    subscription_cancel(subscription_id=subscription.pk, actor=user)

    statuses = dict(
        Invoice.objects.filter(
            pk__in=[renewal.pk, plan_change.pk, manual.pk, paid.pk, other.pk]
        ).values_list("pk", "status")
    )
    assert statuses == {
        renewal.pk: InvoiceStatus.CANCELLED,
        plan_change.pk: InvoiceStatus.CANCELLED,
        manual.pk: InvoiceStatus.PENDING,
        paid.pk: InvoiceStatus.PAID,
        other.pk: InvoiceStatus.PENDING,
    }
    subscription.refresh_from_db()
    # A PAST_DUE subscription's end has passed: access ends with the cancellation.
    assert subscription.status == S.CANCELLED
    assert subscription.is_valid is False


def test_cancel_of_a_paused_subscription_keeps_the_paid_time_left():
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")  # ends T0 + 30 d
        subscription_pause(subscription_id=subscription.pk, actor=subscription.user)
    with time_machine.travel(T0 + 10 * DAY, tick=False):
        subscription_cancel(subscription_id=subscription.pk, actor=subscription.user)

    subscription.refresh_from_db()
    assert subscription.status == S.CANCELLED
    assert subscription.expires_at == T0 + 40 * DAY
    assert subscription.paused_at is None
    assert subscription.pause_ends_at is None
    assert subscription.anchor_day == (T0 + 40 * DAY).day


def test_cancel_clears_a_scheduled_downgrade_and_cancels_bound_addons():
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE", pending_plan=PlanFactory())
        user = subscription.user
        longer = AddOnSubscriptionFactory(
            user=user, subscription=subscription, expires_at=T0 + 45 * DAY
        )
        forever = AddOnSubscriptionFactory(user=user, subscription=subscription, expires_at=None)
        unbound = AddOnSubscriptionFactory(user=user)
        subscription_cancel(subscription_id=subscription.pk, actor=user)

    subscription.refresh_from_db()
    assert subscription.pending_plan_id is None
    longer.refresh_from_db()
    forever.refresh_from_db()
    unbound.refresh_from_db()
    assert (longer.status, longer.cancelled_at, longer.expires_at) == (
        AddOnSubscriptionStatus.CANCELLED,
        T0,
        T0 + 45 * DAY,
    )
    assert (forever.status, forever.expires_at) == (
        AddOnSubscriptionStatus.CANCELLED,
        T0 + 30 * DAY,
    )
    assert unbound.status == AddOnSubscriptionStatus.ACTIVE
    assert (
        AuditEntry.objects.filter(
            object_type="addon_subscription", action="addon_subscription.cancelled"
        ).count()
        == 2
    )


def test_immediate_cancel_ends_bound_addons_now(staff):
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        item = AddOnSubscriptionFactory(user=subscription.user, subscription=subscription)
        subscription_cancel(subscription_id=subscription.pk, actor=staff, immediate=True)

    item.refresh_from_db()
    assert (item.status, item.expires_at) == (AddOnSubscriptionStatus.CANCELLED, T0)


def test_cancel_of_a_one_time_subscription_ends_access_now():
    with time_machine.travel(T0, tick=False):
        plan = PlanFactory(billing_period=BillingPeriod.ONE_TIME)
        subscription = make("ACTIVE", plan=plan, expires_at=None)
        subscription_cancel(subscription_id=subscription.pk, actor=None)

    subscription.refresh_from_db()
    assert (subscription.status, subscription.expires_at) == (S.CANCELLED, T0)


@pytest.mark.parametrize("state", ["ACTIVE", "TRIALING", "PAST_DUE", "PAUSED"])
def test_every_holding_state_can_be_cancelled(state):
    subscription = make(state)

    subscription_cancel(subscription_id=subscription.pk, actor=None)

    assert Subscription.objects.get(pk=subscription.pk).status == S.CANCELLED


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("PENDING", "Subscription cannot be cancelled in status PENDING"),
        ("CANCELLED", "Subscription is already cancelled"),
        ("CANCELLED_ENDED", "Subscription has already ended"),
        ("EXPIRED", "Subscription has already ended"),
    ],
)
def test_cancel_is_refused_outside_the_table(state, message):
    subscription = make(state)

    refused(
        lambda: subscription_cancel(subscription_id=subscription.pk, actor=None),
        InvalidTransition,
        message,
        subscription,
    )


def test_unknown_subscription_is_not_found():
    with pytest.raises(NotFound) as raised:
        subscription_cancel(subscription_id="00000000-0000-0000-0000-000000000000", actor=None)
    assert raised.value.message == "Subscription not found"
    with pytest.raises(NotFound):
        subscription_pause(subscription_id="not-a-uuid", actor=None)


# --- reactivate ---------------------------------------------------------------------------------


def test_reactivate_before_the_end_resumes_renewal():
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        subscription_cancel(subscription_id=subscription.pk, actor=subscription.user)
    with time_machine.travel(T0 + 5 * DAY, tick=False):
        result = subscription_reactivate(subscription_id=subscription.pk, actor=subscription.user)

    subscription.refresh_from_db()
    assert result.status == subscription.status == S.ACTIVE
    assert subscription.cancelled_at is None
    assert subscription.cancel_reason is None
    assert subscription.expires_at == T0 + 30 * DAY
    # Outside the renewal lead time: no invoice yet.
    assert not Invoice.objects.filter(subscription_id=subscription.pk).exists()
    [entry] = audits(subscription, "subscription.reactivated")
    assert (entry.before["status"], entry.after["status"]) == ("CANCELLED", "ACTIVE")


def test_reactivate_inside_the_lead_time_reissues_the_renewal_invoice():
    set_settings(renewal_lead_days=3)
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE", user=buyer(), expires_at=T0 + 2 * DAY)
        voided = issue_invoice(
            subscription.user,
            [subscription_draft(subscription)],
            invoice_type=InvoiceType.RENEWAL,
            period_start=subscription.expires_at,
            period_end=subscription.expires_at + 30 * DAY,
        )
        subscription_cancel(subscription_id=subscription.pk, actor=subscription.user)
        voided.refresh_from_db()
        assert voided.status == InvoiceStatus.CANCELLED

        subscription_reactivate(subscription_id=subscription.pk, actor=subscription.user)

    [renewal] = Invoice.objects.filter(
        subscription_id=subscription.pk,
        invoice_type=InvoiceType.RENEWAL,
        status=InvoiceStatus.PENDING,
    )
    assert renewal.period_start == T0 + 2 * DAY
    assert renewal.due_date == T0 + 2 * DAY


@pytest.mark.parametrize(
    "state", ["PENDING", "TRIALING", "ACTIVE", "PAST_DUE", "PAUSED", "EXPIRED"]
)
def test_reactivate_only_cancelled_subscriptions(state):
    subscription = make(state)

    refused(
        lambda: subscription_reactivate(subscription_id=subscription.pk, actor=None),
        InvalidTransition,
        "Only cancelled subscriptions can be reactivated",
        subscription,
    )


def test_reactivate_after_the_end_is_refused():
    subscription = make("CANCELLED_ENDED")

    refused(
        lambda: subscription_reactivate(subscription_id=subscription.pk, actor=None),
        InvalidTransition,
        "Subscription has already ended",
        subscription,
    )


def test_reactivate_after_an_immediate_cancellation_is_refused(staff):
    subscription = make("ACTIVE")
    subscription_cancel(subscription_id=subscription.pk, actor=staff, immediate=True)
    subscription.refresh_from_db()

    refused(
        lambda: subscription_reactivate(subscription_id=subscription.pk, actor=None),
        InvalidTransition,
        "Subscription has already ended",
        subscription,
    )


def test_a_cancelled_trial_cannot_be_reactivated():
    subscription = make("TRIALING")
    subscription_cancel(subscription_id=subscription.pk, actor=None)
    subscription.refresh_from_db()

    refused(
        lambda: subscription_reactivate(subscription_id=subscription.pk, actor=None),
        InvalidTransition,
        "A cancelled trial cannot be reactivated",
        subscription,
    )


def test_a_subscription_paid_after_its_trial_can_be_reactivated():
    now = timezone.now()
    subscription = make(
        "ACTIVE",
        started_at=now - 20 * DAY,
        trial_end_at=now - 6 * DAY,
        current_period_start=now - 6 * DAY,
        expires_at=now + 24 * DAY,
    )
    subscription_cancel(subscription_id=subscription.pk, actor=None)

    subscription_reactivate(subscription_id=subscription.pk, actor=None)

    assert Subscription.objects.get(pk=subscription.pk).status == S.ACTIVE


def test_reactivate_is_refused_when_an_exclusive_category_was_taken_meanwhile():
    category = CategoryFactory(name="Tarot", is_single=True)
    basic, pro = PlanFactory(), PlanFactory()
    category.plans.add(basic, pro)
    subscription = make("ACTIVE", plan=basic)
    subscription_cancel(subscription_id=subscription.pk, actor=None)
    make("ACTIVE", plan=pro, user=subscription.user)
    subscription.refresh_from_db()

    with pytest.raises(BusinessRuleError) as raised:
        subscription_reactivate(subscription_id=subscription.pk, actor=None)

    assert raised.value.code == "exclusive_category"
    assert raised.value.message == (
        "You already have an active subscription in category 'Tarot'. Upgrade or downgrade instead."
    )
    assert Subscription.objects.get(pk=subscription.pk).status == S.CANCELLED


# --- pause and resume ---------------------------------------------------------------------------


def test_pause_ten_days_then_resume_moves_the_end_ten_days():
    set_settings(max_pause_days=60)
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        subscription_pause(subscription_id=subscription.pk, actor=subscription.user)
        subscription.refresh_from_db()
        assert subscription.status == S.PAUSED
        assert subscription.paused_at == T0
        assert subscription.pause_ends_at == T0 + 60 * DAY
        assert subscription.is_valid is False
    with time_machine.travel(T0 + 10 * DAY, tick=False):
        subscription_resume(subscription_id=subscription.pk, actor=subscription.user)

    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert subscription.expires_at == T0 + 40 * DAY
    assert subscription.anchor_day == (T0 + 40 * DAY).day
    assert (subscription.paused_at, subscription.pause_ends_at) == (None, None)
    [paused] = audits(subscription, "subscription.paused")
    [resumed] = audits(subscription, "subscription.resumed")
    assert (paused.before["status"], paused.after["status"]) == ("ACTIVE", "PAUSED")
    assert resumed.after["expires_at"] == (T0 + 40 * DAY).isoformat()
    assert resumed.actor_type == "USER"


def test_resume_moves_the_bound_active_add_ons_with_the_end():
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        bound = AddOnSubscriptionFactory(user=subscription.user, subscription=subscription)
        ended = AddOnSubscriptionFactory(user=subscription.user, subscription=subscription,
                                         cancelled=True)  # fmt: skip
        subscription_pause(subscription_id=subscription.pk, actor=subscription.user)
    with time_machine.travel(T0 + 10 * DAY, tick=False):
        subscription_resume(subscription_id=subscription.pk, actor=subscription.user)

    bound.refresh_from_db()
    ended.refresh_from_db()
    assert bound.expires_at == T0 + 40 * DAY
    assert ended.expires_at == T0 + 30 * DAY  # a cancelled add-on keeps its end


def test_auto_resume_waits_for_the_end_of_the_longest_pause():
    set_settings(max_pause_days=90)
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        subscription_pause(subscription_id=subscription.pk, actor=subscription.user)
    with time_machine.travel(T0 + 89 * DAY, tick=False):
        early = subscription_resume(subscription_id=subscription.pk, actor=None, auto=True)
        assert early.status == S.PAUSED
    with time_machine.travel(T0 + 90 * DAY, tick=False):
        resumed = subscription_resume(subscription_id=subscription.pk, actor=None, auto=True)
        again = subscription_resume(subscription_id=subscription.pk, actor=None, auto=True)

    assert resumed.status == again.status == S.ACTIVE
    assert Subscription.objects.get(pk=subscription.pk).expires_at == T0 + 120 * DAY
    [entry] = audits(subscription, "subscription.resumed")
    assert (entry.actor_type, entry.actor_label) == ("SYSTEM", AUTO_RESUME_LABEL)


@pytest.mark.parametrize("state", ["PENDING", "TRIALING", "PAST_DUE", "CANCELLED", "EXPIRED"])
def test_only_active_subscriptions_can_be_paused(state):
    subscription = make(state)

    refused(
        lambda: subscription_pause(subscription_id=subscription.pk, actor=None),
        InvalidTransition,
        "Only active subscriptions can be paused",
        subscription,
    )


def test_pausing_twice_is_refused():
    subscription = make("PAUSED")

    refused(
        lambda: subscription_pause(subscription_id=subscription.pk, actor=None),
        InvalidTransition,
        "Subscription is already paused",
        subscription,
    )


def test_a_one_time_subscription_cannot_be_paused():
    plan = PlanFactory(billing_period=BillingPeriod.ONE_TIME)
    subscription = make("ACTIVE", plan=plan, expires_at=None)

    refused(
        lambda: subscription_pause(subscription_id=subscription.pk, actor=None),
        BusinessRuleError,
        "One-time subscriptions cannot be paused",
        subscription,
    )


@pytest.mark.parametrize(
    "state", ["PENDING", "TRIALING", "ACTIVE", "PAST_DUE", "CANCELLED", "EXPIRED"]
)
def test_only_paused_subscriptions_can_be_resumed(state):
    subscription = make(state)

    refused(
        lambda: subscription_resume(subscription_id=subscription.pk, actor=None),
        InvalidTransition,
        "Subscription is not paused",
        subscription,
    )


# --- extend -------------------------------------------------------------------------------------


def test_extend_by_the_default_thirty_days(staff):
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        result = subscription_extend(
            subscription_id=subscription.pk, actor=staff, reason="Goodwill"
        )

    subscription.refresh_from_db()
    assert result.extended_days == 30
    assert subscription.expires_at == T0 + 60 * DAY
    [entry] = audits(subscription, "subscription.extended")
    assert entry.reason == "Goodwill"
    assert entry.before["expires_at"] == (T0 + 30 * DAY).isoformat()


def test_extend_until_a_later_moment_rounds_the_days_up(staff):
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        until = T0 + 40 * DAY + datetime.timedelta(hours=5)
        result = subscription_extend(subscription_id=subscription.pk, actor=staff, until=until)

    assert result.extended_days == 11
    assert Subscription.objects.get(pk=subscription.pk).expires_at == until


def test_extend_moves_the_trial_end_of_a_trial(staff):
    subscription = make("TRIALING")
    trial_end = subscription.trial_end_at

    subscription_extend(subscription_id=subscription.pk, actor=staff, days=7)

    subscription.refresh_from_db()
    assert subscription.status == S.TRIALING
    assert subscription.trial_end_at == subscription.expires_at == trial_end + 7 * DAY


def test_extending_a_past_due_subscription_into_the_future_activates_it(staff):
    user = buyer()
    subscription = make("PAST_DUE", user=user)  # ended two days ago
    renewal = issue_invoice(
        user, [subscription_draft(subscription)], invoice_type=InvoiceType.RENEWAL
    )

    subscription_extend(subscription_id=subscription.pk, actor=staff, days=1)
    assert Subscription.objects.get(pk=subscription.pk).status == S.PAST_DUE

    subscription_extend(subscription_id=subscription.pk, actor=staff, days=10)
    subscription.refresh_from_db()
    renewal.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert renewal.status == InvoiceStatus.PENDING


def test_extend_a_paused_and_a_cancelled_subscription(staff):
    paused = make("PAUSED")
    cancelled = make("CANCELLED")
    ends = {row.pk: row.expires_at for row in (paused, cancelled)}

    for row in (paused, cancelled):
        subscription_extend(subscription_id=row.pk, actor=staff, days=5)
        row.refresh_from_db()
        assert row.expires_at == ends[row.pk] + 5 * DAY
    assert (paused.status, cancelled.status) == (S.PAUSED, S.CANCELLED)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            "PENDING",
            "Pending subscriptions cannot be extended; they start when their invoice is paid",
        ),
        ("EXPIRED", "Subscription has already ended"),
        ("CANCELLED_ENDED", "Subscription has already ended"),
    ],
)
def test_extend_is_refused_outside_the_table(staff, state, message):
    subscription = make(state)

    refused(
        lambda: subscription_extend(subscription_id=subscription.pk, actor=staff),
        InvalidTransition,
        message,
        subscription,
    )


def test_one_time_subscriptions_do_not_expire(staff):
    plan = PlanFactory(billing_period=BillingPeriod.ONE_TIME)
    subscription = make("ACTIVE", plan=plan, expires_at=None)

    refused(
        lambda: subscription_extend(subscription_id=subscription.pk, actor=staff),
        BusinessRuleError,
        "One-time subscriptions do not expire",
        subscription,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days must be an integer between 1 and 3650"),
        ({"days": 3651}, "days must be an integer between 1 and 3650"),
        ({"days": 5, "until": T0}, "Give either days or until, not both"),
        ({"until": T0}, "until must be later than expires_at"),
    ],
)
def test_extend_input_is_validated(staff, kwargs, message):
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE")
        refused(
            lambda: subscription_extend(subscription_id=subscription.pk, actor=staff, **kwargs),
            ValidationFailed,
            message,
            subscription,
        )


# --- staff activate -----------------------------------------------------------------------------


def test_staff_activate_resumes_a_paused_subscription_without_tokens(staff):
    plan = PlanFactory(features={"default_tokens": 100})
    with time_machine.travel(T0, tick=False):
        subscription = make("ACTIVE", plan=plan)
        subscription_pause(subscription_id=subscription.pk, actor=staff)
    with time_machine.travel(T0 + 3 * DAY, tick=False):
        subscription_staff_activate(subscription_id=subscription.pk, actor=staff, reason="Asked")

    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert subscription.expires_at == T0 + 33 * DAY
    assert balance_of(subscription.user) == 0
    [entry] = audits(subscription, "subscription.resumed")
    assert (entry.actor_type, entry.reason) == ("STAFF", "Asked")


def test_staff_activate_reverses_a_cancellation(staff):
    subscription = make("ACTIVE")
    subscription_cancel(subscription_id=subscription.pk, actor=subscription.user)

    subscription_staff_activate(subscription_id=subscription.pk, actor=staff)

    subscription.refresh_from_db()
    assert (subscription.status, subscription.cancelled_at) == (S.ACTIVE, None)
    assert audits(subscription, "subscription.reactivated")[0].actor_type == "STAFF"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("PENDING", "Pending subscriptions are activated by paying their invoice"),
        ("TRIALING", "Trialing subscriptions are activated by paying their invoice"),
        ("PAST_DUE", "Past-due subscriptions are activated by paying their open invoice"),
        ("EXPIRED", "Expired subscriptions cannot be activated; create a new one"),
        ("ACTIVE", "Subscription is already active"),
        ("CANCELLED_ENDED", "Subscription has already ended"),
    ],
)
def test_staff_activate_is_refused_outside_the_two_cases(staff, state, message):
    subscription = make(state)

    refused(
        lambda: subscription_staff_activate(subscription_id=subscription.pk, actor=staff),
        InvalidTransition,
        message,
        subscription,
    )


def test_staff_activate_respects_exclusive_categories(staff):
    category = CategoryFactory(name="Main", is_single=True)
    basic, pro = PlanFactory(), PlanFactory()
    category.plans.add(basic, pro)
    subscription = make("ACTIVE", plan=basic)
    subscription_cancel(subscription_id=subscription.pk, actor=None)
    make("TRIALING", plan=pro, user=subscription.user)

    with pytest.raises(BusinessRuleError) as raised:
        subscription_staff_activate(subscription_id=subscription.pk, actor=staff)

    assert raised.value.code == "exclusive_category"
    assert raised.value.message == (
        "The user already has an active subscription in category 'Main'. "
        "Upgrade or downgrade instead."
    )


# --- staff refund -------------------------------------------------------------------------------


def test_refund_takes_the_latest_paid_invoice_and_ends_access(staff):
    user = buyer()
    subscription = make("PENDING", user=user)
    with time_machine.travel(T0, tick=False):
        older = paid_invoice(user, [custom_draft("3.00")], subscription_id=subscription.pk)
    with time_machine.travel(T0 + DAY, tick=False):
        latest = paid_invoice(user, [subscription_draft(subscription)])
        assert Subscription.objects.get(pk=subscription.pk).status == S.ACTIVE
        outcome = subscription_refund(subscription_id=subscription.pk, actor=staff, reason="Sorry")

    assert outcome.invoice.pk == latest.pk
    assert outcome.full_refund is True
    assert outcome.credit_note.amount == latest.total_amount
    older.refresh_from_db()
    assert older.status == InvoiceStatus.PAID
    subscription.refresh_from_db()
    assert (subscription.status, subscription.expires_at) == (S.CANCELLED, T0 + DAY)


def test_refund_without_a_paid_invoice_is_refused(staff):
    subscription = make("PENDING", user=buyer())
    issue_invoice(subscription.user, [subscription_draft(subscription)])

    with pytest.raises(BusinessRuleError) as raised:
        subscription_refund(subscription_id=subscription.pk, actor=staff)

    assert raised.value.message == "No paid invoice to refund for this subscription"


# --- add-ons on the subscription's invoices ------------------------------------------------------


def test_cancelling_a_trial_cancels_the_addons_pending_on_its_invoice():
    user = buyer()
    subscription = make("TRIALING", user=user)
    item = addon_subscription(user, AddOnFactory(), subscription=subscription)
    invoice = issue_invoice(user, [subscription_draft(subscription), addon_draft(item)])
    AddOnSubscription.objects.filter(pk=item.pk).update(invoice=invoice)

    subscription_cancel(subscription_id=subscription.pk, actor=user)

    item.refresh_from_db()
    assert item.status == AddOnSubscriptionStatus.CANCELLED


def test_tokens_are_unaffected_by_cancel(staff):
    subscription = make("ACTIVE")
    tokens_credit(user=subscription.user, amount=50, description="Bonus", transaction_type="BONUS")

    subscription_cancel(subscription_id=subscription.pk, actor=staff)

    assert balance_of(subscription.user) == 50

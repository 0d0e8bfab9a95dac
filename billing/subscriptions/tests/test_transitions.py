"""The transition tables of subscriptions, add-on subscriptions and token bundle purchases, walked
pair by pair through the model verbs: every (from, to) pair the table lists works, every other
pair is refused with InvalidTransition and leaves the row as it was."""

import datetime

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.catalog.tests.factories import PlanFactory
from billing.subscriptions.models import (
    ADDON_TRANSITIONS,
    TRANSITIONS,
    AddOnSubscriptionStatus,
    SubscriptionStatus,
)
from billing.subscriptions.tests.factories import AddOnSubscriptionFactory, SubscriptionFactory
from tokens.models import PURCHASE_TRANSITIONS, PurchaseStatus, TokenBundlePurchase
from tokens.tests.factories import TokenBundleFactory
from vbwd.exceptions import InvalidTransition

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2027, 5, 1, 12, tzinfo=datetime.UTC)
S = SubscriptionStatus
A = AddOnSubscriptionStatus
P = PurchaseStatus


def restore_to(status):
    def verb(row):
        row.restore(status=status, expires_at=NOW, cancelled_at=None)

    verb.__name__ = f"restore_{status.lower()}"
    return verb


# Each verb and the status it moves to.
SUBSCRIPTION_VERBS = [
    (S.ACTIVE, lambda row: row.activate()),
    (S.ACTIVE, lambda row: row.resume()),
    (S.ACTIVE, lambda row: row.reactivate()),
    (S.PAST_DUE, lambda row: row.mark_past_due()),
    (S.EXPIRED, lambda row: row.expire()),
    (S.PAUSED, lambda row: row.pause(at=NOW, until=NOW + datetime.timedelta(days=30))),
    (S.CANCELLED, lambda row: row.cancel(at=NOW, reason="Asked")),
    (S.CANCELLED, lambda row: row.end_now(at=NOW)),
] + [(status, restore_to(status)) for status in S.values]

ADDON_VERBS = [
    (A.ACTIVE, lambda row: row.activate()),
    (A.ACTIVE, lambda row: row.activate(starts_at=NOW, expires_at=NOW)),
    (A.CANCELLED, lambda row: row.cancel(at=NOW)),
    (A.EXPIRED, lambda row: row.expire()),
] + [(status, restore_to(status)) for status in A.values]

PURCHASE_VERBS = [
    (P.COMPLETED, lambda row: row.complete(at=NOW)),
    (P.COMPLETED, lambda row: row.reinstate()),
    (P.CANCELLED, lambda row: row.cancel()),
    (P.REFUNDED, lambda row: row.refund()),
]


def cases(table, verbs):
    return [
        pytest.param(origin, target, verb, id=f"{origin}-{index}-{target}")
        for origin in table
        for index, (target, verb) in enumerate(verbs)
    ]


def assert_walks(row, table, origin, target, verb):
    before = model_to_dict(row)
    if target in table[origin]:
        verb(row)
        row.save()
        row.refresh_from_db()
        assert row.status == target
    else:
        with pytest.raises(InvalidTransition) as raised:
            verb(row)
        assert raised.value.message.endswith(f"cannot move from {origin} to {target}")
        assert model_to_dict(row) == before  # nothing changed before the refusal
        row.refresh_from_db()
        assert model_to_dict(row) == before


def test_every_status_has_a_row_in_its_table():
    assert set(TRANSITIONS) == set(S.values)
    assert set(ADDON_TRANSITIONS) == set(A.values)
    assert set(PURCHASE_TRANSITIONS) == set(P.values)


def test_every_pair_of_each_table_is_reached_by_a_verb():
    for table, verbs in (
        (TRANSITIONS, SUBSCRIPTION_VERBS),
        (ADDON_TRANSITIONS, ADDON_VERBS),
        (PURCHASE_TRANSITIONS, PURCHASE_VERBS),
    ):
        targets = {target for target, _verb in verbs}
        assert all(to in targets for allowed in table.values() for to in allowed)


@pytest.mark.parametrize(("origin", "target", "verb"), cases(TRANSITIONS, SUBSCRIPTION_VERBS))
def test_subscription_transition(origin, target, verb):
    row = SubscriptionFactory(status=origin, cancelled_at=None, paused_at=None)

    assert_walks(row, TRANSITIONS, origin, target, verb)


@pytest.mark.parametrize(("origin", "target", "verb"), cases(ADDON_TRANSITIONS, ADDON_VERBS))
def test_addon_subscription_transition(origin, target, verb):
    row = AddOnSubscriptionFactory(status=origin)

    assert_walks(row, ADDON_TRANSITIONS, origin, target, verb)


@pytest.mark.parametrize(("origin", "target", "verb"), cases(PURCHASE_TRANSITIONS, PURCHASE_VERBS))
def test_bundle_purchase_transition(origin, target, verb):
    bundle = TokenBundleFactory()
    row = TokenBundlePurchase.objects.create(
        user=UserFactory(),
        bundle=bundle,
        bundle_name=bundle.name,
        token_amount=bundle.token_amount,
        price=bundle.price,
        currency=bundle.currency,
        status=origin,
    )

    assert_walks(row, PURCHASE_TRANSITIONS, origin, target, verb)


# --- what the verbs write besides the status ------------------------------------------------------


def test_ending_a_subscription_now_leaves_no_pause_and_no_scheduled_downgrade():
    row = SubscriptionFactory(
        paused=True, pause_ends_at=NOW, pending_plan=PlanFactory(), cancelled_at=None
    )

    row.end_now(at=NOW)

    assert (row.status, row.cancelled_at) == (S.CANCELLED, NOW)
    assert (row.paused_at, row.pause_ends_at, row.pending_plan) == (None, None, None)


def test_ending_a_cancelled_subscription_now_keeps_its_first_cancellation_time():
    first = timezone.now() - datetime.timedelta(days=3)
    row = SubscriptionFactory(cancelled=True, cancelled_at=first)

    row.end_now(at=NOW)

    assert (row.status, row.cancelled_at) == (S.CANCELLED, first)


def test_a_restore_can_only_name_what_a_refund_ends():
    row = SubscriptionFactory(cancelled=True)

    with pytest.raises(TypeError):
        row.restore(status=S.ACTIVE, expires_at=NOW, cancelled_at=None, plan_id=None)
    assert row.status == S.CANCELLED


def test_a_completed_purchase_records_its_tokens_and_time():
    bundle = TokenBundleFactory()
    row = TokenBundlePurchase(
        user=UserFactory(), bundle=bundle, bundle_name="B", token_amount=1, price=1, currency="EUR"
    )

    row.complete(at=NOW)

    assert (row.status, row.tokens_credited, row.completed_at) == (P.COMPLETED, True, NOW)

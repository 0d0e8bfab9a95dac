"""Plan changes (docs/concepts/subscriptions.md): the proration preview and its numbers, the
upgrade billed on a PLAN_CHANGE invoice and switched when paid, the downgrade applied by the
renewal that is paid, cancelling it, and every plan-change check in its documented order."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
import time_machine

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod, PaymentMethod
from billing.catalog.periods import period_end
from billing.catalog.tests.factories import CategoryFactory, PlanFactory
from billing.catalog.tests.factories_payment_methods import PaymentMethodFactory
from billing.invoices.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    LineType,
    NumberSequence,
)
from billing.invoices.services import invoice_mark_paid
from billing.invoices.tests.factories import buyer, de_vat, tax_rate
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.services.plan_change import (
    MESSAGE_DOWNGRADE_CLEARED,
    MESSAGE_DOWNGRADE_SCHEDULED,
    MESSAGE_UPGRADE_INVOICED,
    MESSAGE_UPGRADED,
    subscription_cancel_downgrade,
    subscription_downgrade,
    subscription_upgrade,
)
from billing.subscriptions.services.proration import (
    duration_text,
    plan_change_tokens,
    proration_preview,
)
from billing.subscriptions.tests.factories import SubscriptionFactory
from tests.support.race import run_together
from tokens.services.ledger import balance_of
from vbwd.exceptions import DomainError

pytestmark = pytest.mark.django_db

D = Decimal
UTC = datetime.UTC
DAY = 86400
LINE_FIELDS = (
    "type", "description", "quantity", "unit_price", "amount", "tax_rate", "tax_amount",
    "gross_amount", "period_start", "period_end",
)  # fmt: skip
EXCLUSIVE = (
    "You already have an active subscription in category 'Main'. Upgrade or downgrade instead."
)


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


APRIL_1, MAY_1, APRIL_21 = at(2026, 4, 1), at(2026, 5, 1), at(2026, 4, 21)


@pytest.fixture
def customer():
    """A German private buyer; 19 % VAT only where a test adds ``de_vat()``."""
    return buyer()


@pytest.fixture
def main():
    return CategoryFactory(name="Main", slug="main", is_single=True)


def plan(name: str, price: str, period=BillingPeriod.MONTHLY, **kwargs):
    kwargs.setdefault("slug", name.lower().replace(" ", "-"))
    kwargs.setdefault("features", {"default_tokens": 0})
    return PlanFactory(name=name, price=D(price), billing_period=period, **kwargs)


@pytest.fixture
def basic(main):
    row = plan("Basic", "9.99", features={"default_tokens": 100})
    main.plans.add(row)
    return row


@pytest.fixture
def pro(main):
    row = plan("Pro", "29.99", features={"default_tokens": 500})
    main.plans.add(row)
    return row


def active(user, on_plan, start=APRIL_1, end=MAY_1, **kwargs) -> Subscription:
    """An ACTIVE subscription whose current period is ``start`` → ``end``."""
    kwargs.setdefault("started_at", start)
    kwargs.setdefault("current_period_start", start)
    kwargs.setdefault("anchor_day", start.day)
    return SubscriptionFactory(user=user, plan=on_plan, expires_at=end, **kwargs)


def line_values(line) -> tuple:
    return tuple(getattr(line, name) for name in LINE_FIELDS)


def stored_lines(invoice) -> list[tuple]:
    return [line_values(line) for line in invoice.lines.order_by("position")]


def state() -> dict:
    """Everything a refused plan change must leave untouched."""
    return {
        "subscriptions": sorted(
            Subscription.objects.values_list(
                "pk", "plan_id", "pending_plan_id", "status", "expires_at"
            )
        ),
        "invoices": sorted(Invoice.objects.values_list("pk", "status")),
        "lines": InvoiceLine.objects.count(),
        "sequences": sorted(NumberSequence.objects.values_list("series", "year", "last_value")),
        "audit": AuditEntry.objects.count(),
    }


def refused(call, **kwargs) -> DomainError:
    before = state()
    with pytest.raises(DomainError) as caught:
        call(**kwargs)
    assert state() == before
    assert caught.value.status_code == 400
    return caught.value


def outcome(call, **kwargs) -> tuple[str, str]:
    error = refused(call, **kwargs)
    return error.code, error.message


# --- the numbers of an upgrade ----------------------------------------------------------------


def test_basic_to_pro_with_ten_of_thirty_days_left_credits_3_33(customer, basic, pro):
    de_vat()
    sub = active(customer, basic)

    proration = proration_preview(subscription=sub, new_plan_id=str(pro.pk), now=APRIL_21)

    assert (proration.period_start, proration.period_end) == (APRIL_1, MAY_1)
    assert (proration.period_seconds, proration.remaining_seconds) == (30 * DAY, 10 * DAY)
    assert proration.days_remaining == 10
    assert (proration.credit, proration.credit_applied, proration.new_price) == (
        D("3.33"), D("3.33"), D("29.99"),
    )  # fmt: skip
    assert (proration.subtotal, proration.tax_amount, proration.amount_due) == (
        D("26.66"), D("5.07"), D("31.73"),
    )  # fmt: skip
    assert (proration.currency, proration.current_plan, proration.new_plan) == ("EUR", basic, pro)
    assert [line_values(line) for line in proration.lines] == [
        (LineType.SUBSCRIPTION, "Pro (monthly)", 1, D("29.99"), D("29.99"), D("19.00"),
         D("5.70"), D("35.69"), APRIL_21, at(2026, 5, 21)),
        (LineType.PRORATION, "Credit for unused time on Basic", 1, D("-3.33"), D("-3.33"),
         D("19.00"), D("-0.63"), D("-3.96"), APRIL_21, MAY_1),
    ]  # fmt: skip
    assert [line.explanation for line in proration.lines] == [
        "Full price of Pro for a new monthly period",
        "Unused time on Basic, 10 d of 30 d",
    ]


def test_without_tax_the_amount_due_is_the_new_price_less_the_credit(customer, basic, pro):
    sub = active(customer, basic)

    proration = proration_preview(subscription=sub, new_plan_id=pro.pk, now=APRIL_21)

    assert (proration.subtotal, proration.tax_amount, proration.amount_due) == (
        D("26.66"), D("0.00"), D("26.66"),
    )  # fmt: skip


def test_the_preview_writes_nothing(customer, basic, pro):
    sub = active(customer, basic)
    before = state()

    proration_preview(subscription=sub, new_plan_id=str(pro.pk), now=APRIL_21)

    assert state() == before


def test_the_upgrade_invoice_carries_exactly_the_previewed_lines(customer, basic, pro):
    de_vat()
    sub = active(customer, basic)
    with time_machine.travel(APRIL_21, tick=False):
        preview = proration_preview(subscription=sub, new_plan_id=str(pro.pk))

        result = subscription_upgrade(subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk))

    invoice = result.invoice
    assert result.message == MESSAGE_UPGRADE_INVOICED
    assert stored_lines(invoice) == [line_values(line) for line in preview.lines]
    assert [line_values(line) for line in result.proration.lines] == stored_lines(invoice)
    assert (invoice.invoice_type, invoice.status, invoice.currency) == (
        InvoiceType.PLAN_CHANGE, InvoiceStatus.PENDING, "EUR",
    )  # fmt: skip
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        D("26.66"), D("5.07"), D("31.73"),
    )  # fmt: skip
    assert (invoice.subscription_id, invoice.tarif_plan_id) == (sub.pk, pro.pk)
    assert (invoice.period_start, invoice.period_end) == (APRIL_1, MAY_1)
    assert (invoice.payment_method, invoice.payment_method_name) == ("invoice", "Invoice")
    assert [
        (line.type, line.item_id, line.catalog_item_id)
        for line in invoice.lines.order_by("position")
    ] == [(LineType.SUBSCRIPTION, sub.pk, pro.pk), (LineType.PRORATION, sub.pk, basic.pk)]
    # nothing switches before the payment
    sub.refresh_from_db()
    assert (sub.plan_id, sub.status, sub.current_period_start, sub.expires_at) == (
        basic.pk, SubscriptionStatus.ACTIVE, APRIL_1, MAY_1,
    )  # fmt: skip
    assert result.subscription.plan_id == basic.pk
    assert (
        AuditEntry.objects.filter(
            action="subscription.plan_change_requested", object_id=str(sub.pk)
        ).count()
        == 1
    )


def test_paying_the_upgrade_switches_the_plan_from_the_payment_time_and_grants_tokens_once(
    customer, basic, pro
):
    de_vat()
    sub = active(customer, basic)
    with time_machine.travel(APRIL_21, tick=False):
        invoice = subscription_upgrade(
            subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk)
        ).invoice
    paid_at = at(2026, 4, 23, 10, 30)

    with time_machine.travel(paid_at, tick=False):
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="TR-1")
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="TR-1")

    sub.refresh_from_db()
    assert (sub.plan_id, sub.status, sub.pending_plan_id) == (
        pro.pk, SubscriptionStatus.ACTIVE, None,
    )  # fmt: skip
    assert (sub.current_period_start, sub.expires_at) == (paid_at, at(2026, 5, 23, 10, 30))
    # Priced on April 21 with 10 of Basic's 30 days unused: 500 - round(100 x 10 / 30) = 467.
    assert balance_of(customer) == 467
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total_amount) == (InvoiceStatus.PAID, D("31.73"))


def test_the_token_grant_keeps_the_period_the_upgrade_was_priced_on(customer, basic, pro):
    de_vat()
    sub = active(customer, basic)
    with time_machine.travel(APRIL_21, tick=False):
        invoice = subscription_upgrade(
            subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk)
        ).invoice
    # Staff move the end by ten days before the upgrade is paid.
    Subscription.objects.filter(pk=sub.pk).update(expires_at=at(2026, 5, 11))

    with time_machine.travel(at(2026, 4, 23), tick=False):
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="TR-2")

    # As the credit: 10 of Basic's 30 days were unused when it was priced, 500 - 33.
    assert balance_of(customer) == 467


def test_monthly_to_yearly_starts_a_yearly_period(customer, basic, main):
    yearly = plan("Pro Yearly", "299.00", BillingPeriod.YEARLY, features={"default_tokens": 6000})
    main.plans.add(yearly)
    sub = active(customer, basic)
    with time_machine.travel(APRIL_21, tick=False):
        result = subscription_upgrade(
            subscription_id=sub.pk, actor=customer, plan_id=str(yearly.pk)
        )

    assert [line_values(line) for line in result.proration.lines] == [
        (LineType.SUBSCRIPTION, "Pro Yearly (yearly)", 1, D("299.00"), D("299.00"), D("0.00"),
         D("0.00"), D("299.00"), APRIL_21, at(2027, 4, 21)),
        (LineType.PRORATION, "Credit for unused time on Basic", 1, D("-3.33"), D("-3.33"),
         D("0.00"), D("0.00"), D("-3.33"), APRIL_21, MAY_1),
    ]  # fmt: skip
    assert (
        result.proration.lines[0].explanation == "Full price of Pro Yearly for a new yearly period"
    )
    assert result.invoice.total_amount == D("295.67")

    with time_machine.travel(at(2026, 4, 22, 8), tick=False):
        invoice_mark_paid(invoice_id=result.invoice.pk, actor=None)

    sub.refresh_from_db()
    assert (sub.plan_id, sub.current_period_start, sub.expires_at) == (
        yearly.pk, at(2026, 4, 22, 8), at(2027, 4, 22, 8),
    )  # fmt: skip
    assert balance_of(customer) == 5967  # 6000 less Basic's unused 10 of 30 days (33 tokens)


def test_a_target_the_credit_covers_is_upgraded_at_once(customer, basic, main):
    de_vat()
    twin = plan("Basic Twin", "9.99", features={"default_tokens": 150})
    main.plans.add(twin)
    sub = active(customer, basic)

    with time_machine.travel(APRIL_1, tick=False):
        result = subscription_upgrade(subscription_id=sub.pk, actor=customer, plan_id=str(twin.pk))

    assert result.message == MESSAGE_UPGRADED
    assert (result.proration.credit, result.proration.credit_applied) == (D("9.99"), D("9.99"))
    assert [line_values(line) for line in result.proration.lines] == [
        (LineType.SUBSCRIPTION, "Basic Twin (monthly)", 1, D("9.99"), D("9.99"), D("19.00"),
         D("1.90"), D("11.89"), APRIL_1, MAY_1),
        (LineType.PRORATION, "Credit for unused time on Basic", 1, D("-9.99"), D("-9.99"),
         D("19.00"), D("-1.90"), D("-11.89"), APRIL_1, MAY_1),
    ]  # fmt: skip
    invoice = result.invoice
    assert (invoice.status, invoice.total_amount, invoice.payment_ref) == (
        InvoiceStatus.PAID, D("0.00"), "zero-price",
    )  # fmt: skip
    assert invoice.payment_method is None
    sub.refresh_from_db()
    assert (sub.plan_id, sub.current_period_start, sub.expires_at) == (
        twin.pk, APRIL_1, MAY_1,
    )  # fmt: skip
    assert result.subscription.plan_id == twin.pk
    # The twin's 150 tokens less all of Basic's 100, unused: only the difference is new.
    assert result.proration.tokens_granted == 50
    assert balance_of(customer) == 50


@pytest.mark.parametrize(("current", "new", "remaining", "period", "granted"), [
    (100, 500, 10, 30, 467),  # 500 - round(33.33)
    (100, 500, 0, 30, 500),  # nothing of the current period is left
    (100, 500, 30, 30, 400),  # all of it is left
    (100, 100, 30, 30, 0),  # an equal twin at the period's start
    (500, 100, 15, 30, 0),  # never below 0
    (3, 10, 1, 2, 8),  # 10 - round(1.5), half rounds up
    (100, 500, 10, 0, 500),  # no period to prorate
])  # fmt: skip
def test_plan_change_tokens_are_prorated_like_the_credit(current, new, remaining, period, granted):
    assert (
        plan_change_tokens(
            current=PlanFactory.build(features={"default_tokens": current}),
            new=PlanFactory.build(features={"default_tokens": new}),
            remaining_seconds=remaining,
            period_seconds=period,
        )
        == granted
    )


def test_tax_inclusive_prices_prorate_on_the_catalog_price(customer, basic, pro):
    tax_rate("DE", "20.00", is_inclusive=True, code="DE_INCL")
    sub = active(customer, basic)
    with time_machine.travel(APRIL_21, tick=False):
        preview = proration_preview(subscription=sub, new_plan_id=str(pro.pk))
        result = subscription_upgrade(subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk))

    assert (preview.credit, preview.credit_applied, preview.new_price) == (
        D("3.33"), D("3.33"), D("24.99"),
    )  # fmt: skip
    assert [line_values(line) for line in preview.lines] == [
        (LineType.SUBSCRIPTION, "Pro (monthly)", 1, D("24.99"), D("24.99"), D("20.00"),
         D("5.00"), D("29.99"), APRIL_21, at(2026, 5, 21)),
        (LineType.PRORATION, "Credit for unused time on Basic", 1, D("-2.77"), D("-2.77"),
         D("20.00"), D("-0.56"), D("-3.33"), APRIL_21, MAY_1),
    ]  # fmt: skip
    assert (preview.subtotal, preview.tax_amount, preview.amount_due) == (
        D("22.22"), D("4.44"), D("26.66"),
    )  # fmt: skip
    assert stored_lines(result.invoice) == [line_values(line) for line in preview.lines]


def test_no_time_left_gives_no_credit(customer, basic, pro):
    sub = active(customer, basic)

    proration = proration_preview(subscription=sub, new_plan_id=str(pro.pk), now=MAY_1)

    assert (proration.remaining_seconds, proration.credit, proration.amount_due) == (
        0, D("0.00"), D("29.99"),
    )  # fmt: skip
    assert [line.type for line in proration.lines] == [LineType.SUBSCRIPTION]


def test_a_period_still_ahead_credits_at_most_the_full_price(customer, basic, pro):
    # converted from a trial: the first paid period starts at the trial end
    sub = active(customer, basic, start=at(2026, 4, 25), end=at(2026, 5, 25))

    proration = proration_preview(subscription=sub, new_plan_id=str(pro.pk), now=APRIL_21)

    assert (proration.remaining_seconds, proration.period_seconds) == (30 * DAY, 30 * DAY)
    assert proration.credit == D("9.99")
    assert proration.lines[1].period_start == at(2026, 4, 25)


def test_credit_is_measured_in_seconds_and_rounded_half_up(customer, main):
    current = plan("Current", "1.00")
    target = plan("Target", "20.00")
    main.plans.add(current, target)
    sub = active(customer, current, start=at(2026, 1, 1), end=at(2026, 1, 2))  # 86400 s

    def credit(remaining_seconds: int) -> Decimal:
        now = at(2026, 1, 2) - datetime.timedelta(seconds=remaining_seconds)
        return proration_preview(subscription=sub, new_plan_id=str(target.pk), now=now).credit

    # 1.00 × 432 / 86400 = 0.005 and × 2160 / 86400 = 0.025: ties round up, not to even
    assert (credit(432), credit(2160)) == (D("0.01"), D("0.03"))
    assert (credit(431), credit(2159)) == (D("0.00"), D("0.02"))
    assert credit(43200) == D("0.50")


# --- explanations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "explanation"),
    [
        (at(2026, 1, 19, 17), "Unused time on Basic, 12 d 7 h of 31 d"),
        (at(2026, 1, 21), "Unused time on Basic, 11 d of 31 d"),
        (at(2026, 1, 31, 23, 15), "Unused time on Basic, 45 min of 31 d"),
        (at(2026, 1, 31, 19), "Unused time on Basic, 5 h of 31 d"),
    ],
)
def test_the_credit_line_explains_the_unused_time(customer, basic, pro, now, explanation):
    sub = active(customer, basic, start=at(2026, 1, 1), end=at(2026, 2, 1))

    proration = proration_preview(subscription=sub, new_plan_id=str(pro.pk), now=now)

    assert proration.lines[1].explanation == explanation
    assert proration.lines[0].explanation == "Full price of Pro for a new monthly period"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (31 * DAY, "31 d"),
        (12 * DAY + 7 * 3600 + 59 * 60, "12 d 7 h"),
        (45 * 60 + 30, "45 min"),
        (59 * 60 + 59, "59 min"),
        (0, "0 min"),
        (3600, "1 h"),
        (DAY + 3600, "1 d 1 h"),
    ],
)
def test_durations_are_written_in_days_and_hours_or_minutes(seconds, text):
    assert duration_text(seconds) == text


def test_other_periods_are_named_in_the_full_price_explanation(customer, basic, main):
    quarterly = plan("Team", "60.00", BillingPeriod.QUARTERLY)
    main.plans.add(quarterly)
    sub = active(customer, basic)

    proration = proration_preview(subscription=sub, new_plan_id=str(quarterly.pk), now=APRIL_21)

    assert proration.lines[0].description == "Team (quarterly)"
    assert proration.lines[0].explanation == "Full price of Team for a new quarterly period"
    assert proration.lines[0].period_end == at(2026, 7, 21)


# --- replacing, payment methods ---------------------------------------------------------------


def test_a_newer_upgrade_voids_the_older_pending_plan_change_invoice(customer, basic, pro, main):
    premium = plan("Premium", "49.99")
    main.plans.add(premium)
    sub = active(customer, basic)
    with time_machine.travel(APRIL_21, tick=False):
        first = subscription_upgrade(subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk))
        second = subscription_upgrade(
            subscription_id=sub.pk, actor=customer, plan_id=str(premium.pk)
        )

    first.invoice.refresh_from_db()
    assert first.invoice.status == InvoiceStatus.CANCELLED
    assert second.invoice.status == InvoiceStatus.PENDING
    assert second.invoice.total_amount == D("46.66")
    assert list(Invoice.objects.filter(subscription_id=sub.pk, status=InvoiceStatus.PENDING)) == [
        second.invoice
    ]
    sub.refresh_from_db()
    assert sub.plan_id == basic.pk


def test_the_subscription_method_is_used_unless_another_is_given(customer, basic, pro):
    card = PaymentMethodFactory(code="card", name="Card")
    sub = active(customer, basic, payment_method="card")
    with time_machine.travel(APRIL_21, tick=False):
        own = subscription_upgrade(subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk))
        given = subscription_upgrade(
            subscription_id=sub.pk,
            actor=customer,
            plan_id=str(pro.pk),
            payment_method_code="invoice",
        )

    assert own.invoice.payment_method == card.code
    assert given.invoice.payment_method == "invoice"


@pytest.mark.parametrize("method_code", ["gone", "off"])
def test_an_unusable_subscription_method_falls_back_to_the_default(
    customer, basic, pro, method_code
):
    PaymentMethodFactory(code="off", name="Off", is_active=False)
    sub = active(customer, basic, payment_method=method_code)
    with time_machine.travel(APRIL_21, tick=False):
        result = subscription_upgrade(subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk))

    assert result.invoice.payment_method == PaymentMethod.objects.get(is_default=True).code


def test_the_payment_method_must_accept_the_upgrade(customer, basic, pro):
    PaymentMethodFactory(code="small", name="Small", max_amount=D("10.00"))
    PaymentMethodFactory(code="off", name="Off", is_active=False)
    sub = active(customer, basic)
    with time_machine.travel(APRIL_21, tick=False):
        assert outcome(
            subscription_upgrade,
            subscription_id=sub.pk,
            actor=customer,
            plan_id=str(pro.pk),
            payment_method_code="small",
        ) == ("item_unavailable", "Payment method 'Small' is not available for this order")
        assert outcome(
            subscription_upgrade,
            subscription_id=sub.pk,
            actor=customer,
            plan_id=str(pro.pk),
            payment_method_code="off",
        ) == ("item_unavailable", "Payment method 'Off' is not available for this order")
        assert outcome(
            subscription_upgrade,
            subscription_id=sub.pk,
            actor=customer,
            plan_id=str(pro.pk),
            payment_method_code="nope",
        ) == ("validation_error", "Payment method 'nope' not found")


# --- the plan-change checks, in order -----------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field", "verb"),
    [(proration_preview, "new_plan_id", "upgraded"),
     (subscription_upgrade, "plan_id", "upgraded"),
     (subscription_downgrade, "plan_id", "downgraded")],
)  # fmt: skip
def test_the_checks_run_in_the_documented_order(customer, basic, main, call, field, verb):
    target = plan("Target", "19.99", BillingPeriod.ONE_TIME, currency="USD", is_active=False)
    main.plans.add(target)
    other = active(customer, plan("Other", "5.00"))
    main.plans.add(other.plan)
    sub = active(customer, basic, status=SubscriptionStatus.PAUSED, current_period_start=None)

    def check(plan_id):
        if call is proration_preview:
            sub.refresh_from_db()
            return outcome(call, subscription=sub, new_plan_id=plan_id, now=APRIL_21)
        with time_machine.travel(APRIL_21, tick=False):
            return outcome(call, subscription_id=sub.pk, actor=customer, plan_id=plan_id)

    assert check(None) == ("validation_error", f"{field} is required")
    assert check("") == ("validation_error", f"{field} is required")
    assert check("not-a-uuid") == ("validation_error", "Invalid plan_id format")
    assert check(str(target.pk)) == (
        "invalid_transition",
        f"Only active subscriptions can be {verb}",
    )
    Subscription.objects.filter(pk=sub.pk).update(status=SubscriptionStatus.ACTIVE)
    assert check(str(uuid.uuid4())) == ("validation_error", "Plan not found")
    assert check(str(target.pk)) == ("item_unavailable", "Plan is not active")
    target.is_active = True
    target.save()
    if call is not subscription_downgrade:
        assert check(str(basic.pk)) == ("business_rule", "Already subscribed to this plan")
        assert check(str(target.pk)) == (
            "business_rule", "Plan changes are not available for one-time plans",
        )  # fmt: skip
    else:
        assert check(str(target.pk)) == (
            "business_rule", "A downgrade target must be a recurring plan",
        )  # fmt: skip
    target.billing_period = BillingPeriod.MONTHLY
    target.save()
    assert check(str(target.pk)) == (
        "business_rule", "The new plan must use the same currency (EUR)",
    )  # fmt: skip
    target.currency = "EUR"
    target.save()
    assert check(str(target.pk)) == ("exclusive_category", EXCLUSIVE)
    main.plans.remove(other.plan)
    if call is not subscription_downgrade:
        assert check(str(target.pk)) == ("business_rule", "Unable to calculate proration")


def test_the_current_plan_may_not_be_one_time(customer, main, pro):
    lifetime = plan("Lifetime", "99.00", BillingPeriod.ONE_TIME)
    sub = active(customer, lifetime, end=None)

    for call in (subscription_upgrade, subscription_downgrade):
        assert outcome(call, subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk)) == (
            "business_rule", "Plan changes are not available for one-time plans",
        )  # fmt: skip


@pytest.mark.parametrize(
    "status",
    [SubscriptionStatus.PENDING, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE,
     SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED],
)  # fmt: skip
def test_only_active_subscriptions_change_plan(customer, basic, pro, status):
    sub = active(customer, basic, status=status)

    assert outcome(
        subscription_upgrade, subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk)
    ) == ("invalid_transition", "Only active subscriptions can be upgraded")
    assert outcome(
        subscription_downgrade, subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk)
    ) == ("invalid_transition", "Only active subscriptions can be downgraded")


def test_the_subscription_being_changed_does_not_block_its_own_category(customer, basic, pro):
    sub = active(customer, basic)
    # another user's subscription in the category does not count either
    active(buyer(), pro)

    proration = proration_preview(subscription=sub, new_plan_id=str(pro.pk), now=APRIL_21)

    assert proration.new_plan == pro


@pytest.mark.parametrize(
    "status", [SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE, SubscriptionStatus.PAUSED]
)
def test_another_held_subscription_blocks_the_exclusive_category(customer, basic, pro, status):
    sub = active(customer, basic)
    active(customer, plan("Other", "1.00"), status=status).plan.categories.add(pro.categories.get())

    assert outcome(
        subscription_upgrade, subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk)
    ) == ("exclusive_category", EXCLUSIVE)


# --- the downgrade is applied by the renewal that is paid ---------------------------------------


def renewal_issue(sub, now):
    from billing.subscriptions.services.renewal import renewal_invoice_issue

    with time_machine.travel(now, tick=False):
        return renewal_invoice_issue(subscription_id=sub.pk)


def renewal_plan(invoice) -> tuple:
    line = invoice.lines.get(type=LineType.SUBSCRIPTION)
    return invoice.tarif_plan_id, line.catalog_item_id, line.unit_price


def test_a_downgrade_is_stored_and_nothing_else_changes(customer, basic, pro):
    sub = active(customer, pro)

    with time_machine.travel(APRIL_21, tick=False):
        changed, message = subscription_downgrade(
            subscription_id=sub.pk, actor=customer, plan_id=str(basic.pk)
        )

    assert message == MESSAGE_DOWNGRADE_SCHEDULED
    assert (changed.plan_id, changed.pending_plan_id, changed.expires_at) == (
        pro.pk, basic.pk, MAY_1,
    )  # fmt: skip
    assert Invoice.objects.count() == 0
    entry = AuditEntry.objects.get(action="subscription.downgrade_scheduled")
    assert (entry.before["pending_plan_id"], entry.after["pending_plan_id"]) == (
        None,
        str(basic.pk),
    )


def test_a_downgrade_is_applied_exactly_at_the_renewal_that_is_paid(customer, basic, pro):
    sub = active(customer, pro)
    with time_machine.travel(APRIL_21, tick=False):
        subscription_downgrade(subscription_id=sub.pk, actor=customer, plan_id=str(basic.pk))

    renewal = renewal_issue(sub, at(2026, 4, 29))

    assert renewal is not None
    assert (renewal.invoice_type, renewal.period_start) == (InvoiceType.RENEWAL, MAY_1)
    assert renewal_plan(renewal) == (basic.pk, basic.pk, D("9.99"))
    sub.refresh_from_db()
    assert (sub.plan_id, sub.pending_plan_id) == (pro.pk, basic.pk)

    with time_machine.travel(at(2026, 4, 30, 12), tick=False):
        invoice_mark_paid(invoice_id=renewal.pk, actor=None)

    sub.refresh_from_db()
    assert (sub.plan_id, sub.pending_plan_id, sub.status) == (
        basic.pk, None, SubscriptionStatus.ACTIVE,
    )  # fmt: skip
    assert (sub.current_period_start, sub.expires_at) == (MAY_1, at(2026, 6, 1))
    assert balance_of(customer) == 100


def test_a_downgrade_reissues_an_unpaid_renewal_for_the_pending_plan(customer, basic, pro):
    sub = active(customer, pro)
    issued = renewal_issue(sub, at(2026, 4, 28, 12))
    assert renewal_plan(issued) == (pro.pk, pro.pk, D("29.99"))

    with time_machine.travel(at(2026, 4, 29), tick=False):
        subscription_downgrade(subscription_id=sub.pk, actor=customer, plan_id=str(basic.pk))

    issued.refresh_from_db()
    assert issued.status == InvoiceStatus.CANCELLED
    live = Invoice.objects.get(
        subscription_id=sub.pk, invoice_type=InvoiceType.RENEWAL, status=InvoiceStatus.PENDING
    )
    assert live.period_start == MAY_1
    assert renewal_plan(live) == (basic.pk, basic.pk, D("9.99"))


def test_cancelling_the_downgrade_reissues_the_renewal_for_the_current_plan(customer, basic, pro):
    sub = active(customer, pro)
    with time_machine.travel(APRIL_21, tick=False):
        subscription_downgrade(subscription_id=sub.pk, actor=customer, plan_id=str(basic.pk))
    for_basic = renewal_issue(sub, at(2026, 4, 29))

    with time_machine.travel(at(2026, 4, 29, 6), tick=False):
        cleared = subscription_cancel_downgrade(subscription_id=sub.pk, actor=customer)

    assert cleared.pending_plan_id is None
    for_basic.refresh_from_db()
    assert for_basic.status == InvoiceStatus.CANCELLED
    live = Invoice.objects.get(
        subscription_id=sub.pk, invoice_type=InvoiceType.RENEWAL, status=InvoiceStatus.PENDING
    )
    assert renewal_plan(live) == (pro.pk, pro.pk, D("29.99"))

    with time_machine.travel(at(2026, 4, 30), tick=False):
        invoice_mark_paid(invoice_id=live.pk, actor=None)
    sub.refresh_from_db()
    assert (sub.plan_id, sub.current_period_start, sub.expires_at) == (
        pro.pk, MAY_1, at(2026, 6, 1),
    )  # fmt: skip
    assert AuditEntry.objects.filter(action="subscription.downgrade_cleared").count() == 1


def test_cancelling_needs_a_scheduled_downgrade(customer, basic):
    sub = active(customer, basic)

    assert outcome(subscription_cancel_downgrade, subscription_id=sub.pk, actor=customer) == (
        "business_rule", "No downgrade is scheduled",
    )  # fmt: skip


def test_downgrading_to_the_current_plan_clears_the_schedule(customer, basic, pro):
    sub = active(customer, pro)
    with time_machine.travel(APRIL_21, tick=False):
        subscription_downgrade(subscription_id=sub.pk, actor=customer, plan_id=str(basic.pk))

        changed, message = subscription_downgrade(
            subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk)
        )

    assert message == MESSAGE_DOWNGRADE_CLEARED
    assert changed.pending_plan_id is None
    sub.refresh_from_db()
    assert sub.pending_plan_id is None


def test_any_other_recurring_plan_can_be_scheduled(customer, basic, pro):
    sub = active(customer, basic)

    with time_machine.travel(APRIL_21, tick=False):
        changed, message = subscription_downgrade(
            subscription_id=sub.pk, actor=customer, plan_id=str(pro.pk)
        )

    assert (message, changed.pending_plan_id) == (MESSAGE_DOWNGRADE_SCHEDULED, pro.pk)


def test_a_downgrade_voids_a_pending_plan_change_invoice(customer, basic, pro, main):
    premium = plan("Premium", "49.99")
    main.plans.add(premium)
    sub = active(customer, pro)
    with time_machine.travel(APRIL_21, tick=False):
        upgrade = subscription_upgrade(
            subscription_id=sub.pk, actor=customer, plan_id=str(premium.pk)
        )
        subscription_downgrade(subscription_id=sub.pk, actor=customer, plan_id=str(basic.pk))

    upgrade.invoice.refresh_from_db()
    assert upgrade.invoice.status == InvoiceStatus.CANCELLED


def test_an_upgrade_clears_a_scheduled_downgrade_and_its_renewal(customer, basic, pro, main):
    premium = plan("Premium", "49.99")
    main.plans.add(premium)
    sub = active(customer, pro)
    with time_machine.travel(APRIL_21, tick=False):
        subscription_downgrade(subscription_id=sub.pk, actor=customer, plan_id=str(basic.pk))
    for_basic = renewal_issue(sub, at(2026, 4, 29))

    with time_machine.travel(at(2026, 4, 29, 6), tick=False):
        result = subscription_upgrade(
            subscription_id=sub.pk, actor=customer, plan_id=str(premium.pk)
        )

    assert result.subscription.pending_plan_id is None
    for_basic.refresh_from_db()
    assert for_basic.status == InvoiceStatus.CANCELLED
    live = Invoice.objects.get(
        subscription_id=sub.pk, invoice_type=InvoiceType.RENEWAL, status=InvoiceStatus.PENDING
    )
    assert renewal_plan(live) == (pro.pk, pro.pk, D("29.99"))

    # paying the upgrade replaces the old period: its renewal is voided
    with time_machine.travel(at(2026, 4, 29, 8), tick=False):
        invoice_mark_paid(invoice_id=result.invoice.pk, actor=None)
    live.refresh_from_db()
    assert live.status == InvoiceStatus.CANCELLED
    sub.refresh_from_db()
    assert (sub.plan_id, sub.current_period_start) == (premium.pk, at(2026, 4, 29, 8))
    assert sub.expires_at == period_end(at(2026, 4, 29, 8), BillingPeriod.MONTHLY)


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_upgrades_leave_one_payable_plan_change_invoice():
    customer = buyer()
    category = CategoryFactory(name="Main", slug="main", is_single=True)
    basic = plan("Basic", "9.99")
    targets = [plan(f"Tier {n}", f"{20 + n}.00") for n in range(4)]
    category.plans.add(basic, *targets)
    now = datetime.datetime.now(UTC)
    sub = active(customer, basic, start=now - datetime.timedelta(days=5),
                 end=now + datetime.timedelta(days=25))  # fmt: skip
    results = run_together(
        [
            lambda target=target: subscription_upgrade(
                subscription_id=sub.pk, actor=customer, plan_id=str(target.pk)
            )
            for target in targets
        ]
    )
    outcomes = [getattr(result, "message", result) for result in results]

    assert outcomes == [MESSAGE_UPGRADE_INVOICED] * 4
    invoices = Invoice.objects.filter(subscription_id=sub.pk)
    assert invoices.count() == 4
    assert invoices.filter(status=InvoiceStatus.PENDING).count() == 1
    assert invoices.filter(status=InvoiceStatus.CANCELLED).count() == 3

"""Invoice use cases: issue, capture, staff mark-paid, zero totals, failed
attempts and void, with their audit rows and signals."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import AdminFactory
from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod, Currency
from billing.catalog.periods import period_end
from billing.invoices import signals
from billing.invoices.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    LineType,
    Payment,
    PaymentStatus,
)
from billing.invoices.services import (
    CaptureOutcome,
    invoice_capture,
    invoice_capture_zero,
    invoice_mark_paid,
    invoice_void,
    payment_fail,
)
from billing.invoices.tests.factories import (
    AddOnFactory,
    PlanFactory,
    TokenBundleFactory,
    addon_draft,
    addon_subscription,
    bundle_draft,
    bundle_purchase,
    buyer,
    custom_draft,
    de_vat,
    issue_invoice,
    set_billing_details,
    subscription,
    subscription_draft,
)
from billing.subscriptions.models import AddOnSubscriptionStatus, SubscriptionStatus
from platform_settings.services import platform_settings_update
from tokens.models import PurchaseStatus, TokenTransaction, TokenTransactionType
from tokens.services import balance_of
from vbwd.exceptions import InvalidTransition, ValidationFailed

pytestmark = pytest.mark.django_db

D = Decimal
UTC = datetime.UTC


@pytest.fixture(autouse=True)
def _german_vat():
    de_vat()


@pytest.fixture
def customer():
    return buyer()


@pytest.fixture
def staff():
    return AdminFactory()


class Received:
    """Collects what a signal delivered."""

    def __init__(self, signal):
        self.signal = signal
        self.calls: list[dict] = []

    def __call__(self, sender, **kwargs):
        self.calls.append(kwargs)

    def __enter__(self):
        self.signal.connect(self, weak=False, dispatch_uid=f"test-{id(self)}")
        return self

    def __exit__(self, *exc):
        self.signal.disconnect(dispatch_uid=f"test-{id(self)}")


def _actions(obj) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_id=str(obj.pk))
        .order_by("created_at")
        .values_list("action", flat=True)
    )


def _count(action: str, obj=None) -> int:
    rows = AuditEntry.objects.filter(action=action)
    if obj is not None:
        rows = rows.filter(object_id=str(obj.pk))
    return rows.count()


def _reload(invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def _capture(invoice, external_id="pi_1", *, amount=None, currency=None, **kwargs):
    return invoice_capture(
        invoice_id=invoice.pk,
        gateway="testpay",
        external_id=external_id,
        amount=invoice.total_amount if amount is None else D(amount),
        currency=currency or invoice.currency,
        **kwargs,
    )


def _checkout(user, *, plan=None, status=SubscriptionStatus.PENDING, addon=None, bundle=None):
    """A CHECKOUT invoice for a plan, an add-on and a token bundle with its pending purchases."""
    plan = plan or PlanFactory(price=D("29.99"), features={"default_tokens": 500})
    sub = subscription(user, plan, status=status)
    item = addon_subscription(user, addon or AddOnFactory(price=D("15.00")), subscription=sub)
    purchase = bundle_purchase(user, bundle or TokenBundleFactory(token_amount=1000, price=D("10")))
    invoice = issue_invoice(
        user, [subscription_draft(sub), addon_draft(item), bundle_draft(purchase)]
    )
    return invoice, sub, item, purchase


# Issue -----------------------------------------------------------------------------------------


def test_issue_stores_a_pending_invoice_with_taxed_lines_and_links(customer):
    plan = PlanFactory(price=D("9.99"))
    sub = subscription(customer, plan)
    now = timezone.now()

    invoice = issue_invoice(customer, [subscription_draft(sub), custom_draft("5.00")])

    stored = _reload(invoice)
    assert stored.invoice_number == f"INV-{now.year}-000001"
    assert stored.status == InvoiceStatus.PENDING
    assert stored.invoice_type == InvoiceType.CHECKOUT
    assert (stored.currency, stored.exchange_rate) == ("EUR", D("1"))
    assert (stored.payment_method, stored.payment_method_name) == ("invoice", "Invoice")
    assert (stored.subscription_id, stored.tarif_plan_id) == (sub.pk, plan.pk)
    assert (stored.subtotal, stored.tax_amount, stored.total_amount) == (
        D("14.99"),
        D("2.85"),
        D("17.84"),
    )
    assert stored.reverse_charge is False
    assert stored.paid_at is None
    assert stored.payment_ref is None
    lines = list(stored.lines.order_by("position"))
    assert [(line.position, line.type, line.item_id, line.catalog_item_id) for line in lines] == [
        (0, LineType.SUBSCRIPTION, sub.pk, plan.pk),
        (1, LineType.CUSTOM, None, None),
    ]
    assert [(line.amount, line.tax_amount, line.gross_amount) for line in lines] == [
        (D("9.99"), D("1.90"), D("11.89")),
        (D("5.00"), D("0.95"), D("5.95")),
    ]


def test_numbers_are_gapless_per_year_and_restart_each_year(customer):
    numbers = [issue_invoice(customer).invoice_number for _ in range(3)]
    next_year = datetime.datetime(timezone.now().year + 1, 1, 1, 0, 0, 1, tzinfo=UTC)
    following = issue_invoice(customer, now=next_year).invoice_number
    year = timezone.now().year

    assert numbers == [f"INV-{year}-00000{n}" for n in (1, 2, 3)]
    assert following == f"INV-{year + 1}-000001"
    assert issue_invoice(customer).invoice_number == f"INV-{year}-000004"


def test_a_new_number_format_applies_to_new_invoices_only(customer):
    first = issue_invoice(customer)
    platform_settings_update(data={"invoice_number_format": "RE/{year}/{sequence:04d}"}, actor=None)

    second = issue_invoice(customer)

    year = timezone.now().year
    assert _reload(first).invoice_number == f"INV-{year}-000001"
    assert second.invoice_number == f"RE/{year}/0002"


def _issue_then_fail(customer) -> None:
    with transaction.atomic():
        issue_invoice(customer)
        raise RuntimeError("the caller failed after issuing")


def test_a_rolled_back_issue_gives_its_number_back(customer, django_capture_on_commit_callbacks):
    issue_invoice(customer)

    with (
        Received(signals.invoice_issued) as received,
        django_capture_on_commit_callbacks(execute=True),
    ):
        with pytest.raises(RuntimeError):
            _issue_then_fail(customer)
        following = issue_invoice(customer)

    assert following.invoice_number.endswith("-000002")
    assert Invoice.objects.count() == 2
    assert [call["invoice"].pk for call in received.calls] == [following.pk]


def test_snapshots_are_copied_at_issue_and_never_follow_later_changes(customer):
    platform_settings_update(
        data={
            "company_name": "VBWD GmbH",
            "address_street": "Hauptstraße 1",
            "address_city": "Berlin",
            "address_postal_code": "10115",
            "vat_id": "DE136695976",
            "company_email": "billing@vbwd.example",
            "bank_iban": "DE89370400440532013000",
        },
        actor=None,
    )
    invoice = issue_invoice(customer)
    buyer_before = {
        "name": "Erika Mustermann",
        "company": None,
        "email": customer.email,
        "line1": "Heidestraße 17",
        "line2": None,
        "city": "Köln",
        "state": None,
        "postal_code": "51147",
        "country": "DE",
        "vat_id": None,
        "buyer_reference": None,
    }
    seller_before = {
        "company_name": "VBWD GmbH",
        "address_street": "Hauptstraße 1",
        "address_city": "Berlin",
        "address_postal_code": "10115",
        "address_country": "DE",
        "vat_id": "DE136695976",
        "company_contact_name": None,
        "company_phone": None,
        "company_register_id": None,
        "bank_account_holder": None,
        "bank_name": None,
        "bank_iban": "DE89370400440532013000",
        "bank_bic": None,
        "email": "billing@vbwd.example",
        "website_url": None,
    }
    assert invoice.billing_address == buyer_before
    assert invoice.seller == seller_before

    set_billing_details(customer, city="Bonn", company="Mustermann AG", last_name="Musterfrau")
    platform_settings_update(data={"company_name": "Other Ltd", "bank_iban": ""}, actor=None)
    later = issue_invoice(customer)

    stored = _reload(invoice)
    assert stored.billing_address == buyer_before
    assert stored.seller == seller_before
    assert later.billing_address["city"] == "Bonn"
    assert later.billing_address["name"] == "Erika Musterfrau"
    assert later.seller["company_name"] == "Other Ltd"
    assert later.seller["bank_iban"] is None


def test_a_buyer_without_details_gets_an_empty_snapshot_and_the_sellers_tax():
    from accounts.tests.factories import UserFactory

    user = UserFactory()
    invoice = issue_invoice(user, [custom_draft("10.00")])
    assert invoice.billing_address["email"] == user.email
    assert invoice.billing_address["country"] is None
    assert invoice.tax_amount == D("1.90")


def test_the_due_date_follows_the_payment_terms_at_issue(customer):
    moment = datetime.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    first = issue_invoice(customer, now=moment)
    platform_settings_update(data={"payment_terms_days": 30}, actor=None)
    second = issue_invoice(customer, now=moment)
    explicit = issue_invoice(customer, now=moment, due_date=moment + datetime.timedelta(days=3))

    assert first.invoiced_at == moment
    assert _reload(first).due_date == datetime.datetime(2026, 3, 15, 9, 30, tzinfo=UTC)
    assert _reload(second).due_date == datetime.datetime(2026, 3, 31, 9, 30, tzinfo=UTC)
    assert _reload(explicit).due_date == datetime.datetime(2026, 3, 4, 9, 30, tzinfo=UTC)


def test_an_invoice_in_another_currency_stores_the_rate_used(customer):
    usd = Currency.objects.get(code="USD")
    invoice = issue_invoice(customer, [custom_draft("10.00")], currency=usd)
    stored = _reload(invoice)
    assert (stored.currency, stored.exchange_rate) == ("USD", usd.exchange_rate)


def test_issue_refuses_an_empty_or_negative_invoice(customer):
    with pytest.raises(ValueError, match="at least one line"):
        issue_invoice(customer, [])
    with pytest.raises(ValueError, match="cannot be negative"):
        issue_invoice(customer, [custom_draft("-1.00")])
    assert Invoice.objects.count() == 0


def test_issue_writes_an_audit_row_and_sends_invoice_issued_once_after_commit(
    customer, django_capture_on_commit_callbacks
):
    with (
        Received(signals.invoice_issued) as received,
        django_capture_on_commit_callbacks(execute=True),
    ):
        invoice = issue_invoice(customer, [custom_draft("9.99")])
        assert received.calls == []  # not before commit

    assert [call["invoice"].pk for call in received.calls] == [invoice.pk]
    entry = AuditEntry.objects.get(action="invoice.issued", object_id=str(invoice.pk))
    assert entry.subject_user_id == customer.pk
    assert entry.summary == (
        f"Invoice {invoice.invoice_number} (CHECKOUT) issued to {customer.email}: 11.89 EUR"
    )
    assert entry.after == {"status": "PENDING", "total_amount": "11.89", "currency": "EUR"}


# Capture ---------------------------------------------------------------------------------------


def test_capture_marks_paid_and_activates_every_line(customer):
    paid_at = datetime.datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    invoice, sub, item, purchase = _checkout(customer)

    result = _capture(invoice, "pi_1", paid_at=paid_at)

    assert result.outcome == CaptureOutcome.CAPTURED
    assert result.paid is True
    stored = _reload(invoice)
    assert stored.status == InvoiceStatus.PAID
    assert stored.paid_at == paid_at
    assert stored.payment_ref == "pi_1"
    assert stored.needs_review is False
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.gateway, payment.external_id, payment.status) == (
        "testpay",
        "pi_1",
        PaymentStatus.CAPTURED,
    )
    assert (payment.amount, payment.currency, payment.captured_at) == (
        D("65.44"),
        "EUR",
        paid_at,
    )
    assert result.payment.pk == payment.pk

    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.started_at == paid_at
    assert sub.current_period_start == paid_at
    assert sub.expires_at == datetime.datetime(2026, 2, 28, 10, 0, tzinfo=UTC)

    item.refresh_from_db()
    assert item.status == AddOnSubscriptionStatus.ACTIVE
    assert item.starts_at == paid_at
    assert item.expires_at == datetime.datetime(2026, 2, 28, 10, 0, tzinfo=UTC)

    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.COMPLETED
    assert purchase.tokens_credited is True
    assert purchase.completed_at == paid_at

    assert balance_of(customer) == 1500
    credits = TokenTransaction.objects.filter(user=customer).order_by("created_at", "pk")
    assert sorted((row.transaction_type, row.amount) for row in credits) == [
        (TokenTransactionType.PURCHASE, 1000),
        (TokenTransactionType.SUBSCRIPTION, 500),
    ]
    line_keys = {
        f"invoice-line:{pk}"
        for pk in InvoiceLine.objects.filter(
            invoice=invoice, type__in=[LineType.SUBSCRIPTION, LineType.TOKEN_BUNDLE]
        ).values_list("pk", flat=True)
    }
    assert {row.idempotency_key for row in credits} == line_keys

    for action in (
        "invoice.paid",
        "payment.captured",
        "subscription.activated",
        "addon_subscription.activated",
        "token_bundle_purchase.completed",
    ):
        assert _count(action) == 1, action
    assert _count("token_balance.credited") == 2


def test_a_trialing_subscription_keeps_its_trial_days(customer):
    plan = PlanFactory(price=D("29.99"), trial_days=14, features={"default_tokens": 500})
    trial_end = datetime.datetime(2026, 5, 15, 8, 0, tzinfo=UTC)
    paid_at = datetime.datetime(2026, 5, 3, 12, 0, tzinfo=UTC)
    sub = subscription(customer, plan, status=SubscriptionStatus.TRIALING, trial_end_at=trial_end)
    invoice = issue_invoice(customer, [subscription_draft(sub)])

    _capture(invoice, paid_at=paid_at)

    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.current_period_start == trial_end
    assert sub.expires_at == datetime.datetime(2026, 6, 15, 8, 0, tzinfo=UTC)
    assert sub.trial_end_at == trial_end
    assert balance_of(customer) == 500


def test_paying_a_trial_after_it_ended_follows_on_from_the_trial_end(customer):
    """A late payment (inside the grace period) continues from the old end."""
    plan = PlanFactory(billing_period=BillingPeriod.YEARLY)
    trial_end = datetime.datetime(2026, 5, 15, 8, 0, tzinfo=UTC)
    paid_at = datetime.datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
    sub = subscription(customer, plan, status=SubscriptionStatus.TRIALING, trial_end_at=trial_end)
    invoice = issue_invoice(customer, [subscription_draft(sub)])

    _capture(invoice, paid_at=paid_at)

    sub.refresh_from_db()
    assert sub.current_period_start == trial_end
    assert sub.expires_at == datetime.datetime(2027, 5, 15, 8, 0, tzinfo=UTC)
    assert balance_of(customer) == 0  # the plan grants no tokens: no ledger entry
    assert not TokenTransaction.objects.filter(user=customer).exists()


@pytest.mark.parametrize(
    ("moment", "expected_end"),
    [
        (
            datetime.datetime(2028, 1, 31, 12, 0, tzinfo=UTC),
            datetime.datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
        ),
        (
            datetime.datetime(2027, 1, 31, 12, 0, tzinfo=UTC),
            datetime.datetime(2027, 2, 28, 12, 0, tzinfo=UTC),
        ),
    ],
)
def test_an_add_on_starts_now_and_runs_one_calendar_month(customer, moment, expected_end):
    with time_machine.travel(moment, tick=False):
        item = addon_subscription(customer, AddOnFactory(billing_period=BillingPeriod.MONTHLY))
        invoice = issue_invoice(customer, [addon_draft(item)])
        _capture(invoice)

    item.refresh_from_db()
    assert item.status == AddOnSubscriptionStatus.ACTIVE
    assert (item.starts_at, item.expires_at) == (moment, expected_end)
    assert _reload(invoice).invoice_number == f"INV-{moment.year}-000001"


def test_a_one_time_add_on_never_expires(customer):
    item = addon_subscription(customer, AddOnFactory(billing_period=BillingPeriod.ONE_TIME))
    invoice = issue_invoice(customer, [addon_draft(item)])
    _capture(invoice)
    item.refresh_from_db()
    assert item.status == AddOnSubscriptionStatus.ACTIVE
    assert item.expires_at is None


def test_a_repeated_capture_of_the_same_payment_changes_nothing(
    customer, django_capture_on_commit_callbacks
):
    invoice, sub, _item, _purchase = _checkout(customer)
    with Received(signals.payment_captured) as received:
        with django_capture_on_commit_callbacks(execute=True):
            first = _capture(invoice, "pi_1")
        sub.refresh_from_db()
        period = (sub.current_period_start, sub.expires_at)
        audit_rows = AuditEntry.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            second = _capture(invoice, "pi_1")
            third = _capture(invoice, "pi_1", amount="1.00")  # a replay is never re-evaluated

    assert first.outcome == CaptureOutcome.CAPTURED
    assert second.outcome == third.outcome == CaptureOutcome.ALREADY_CAPTURED
    assert second.paid is True
    assert second.payment.pk == first.payment.pk
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert AuditEntry.objects.count() == audit_rows
    assert _count("invoice.paid") == 1
    assert _count("subscription.activated") == 1
    assert balance_of(customer) == 1500
    assert TokenTransaction.objects.filter(user=customer).count() == 2
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.expires_at) == period
    assert len(received.calls) == 1
    assert received.calls[0]["invoice"].pk == invoice.pk
    assert received.calls[0]["payment"].pk == first.payment.pk
    assert _reload(invoice).needs_review is False


def test_an_amount_mismatch_is_recorded_and_flagged_not_paid(
    customer, django_capture_on_commit_callbacks
):
    invoice, sub, item, purchase = _checkout(customer)
    with (
        Received(signals.payment_captured) as received,
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = _capture(invoice, "pi_short", amount="65.00")

    assert result.outcome == CaptureOutcome.MISMATCH
    assert result.paid is False
    stored = _reload(invoice)
    assert stored.status == InvoiceStatus.PENDING
    assert stored.paid_at is None
    assert stored.payment_ref is None
    assert stored.needs_review is True
    assert stored.review_reason == (
        "Captured 65.00 EUR via testpay (pi_short) does not match the invoice total 65.44 EUR"
    )
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.status, payment.amount, payment.currency) == (
        PaymentStatus.CAPTURED,
        D("65.00"),
        "EUR",
    )
    entry = AuditEntry.objects.get(action="invoice.flagged", object_id=str(invoice.pk))
    assert entry.after == {"needs_review": True, "review_reason": stored.review_reason}
    assert _count("invoice.paid") == 0
    sub.refresh_from_db()
    item.refresh_from_db()
    purchase.refresh_from_db()
    assert sub.status == SubscriptionStatus.PENDING
    assert item.status == AddOnSubscriptionStatus.PENDING
    assert purchase.status == PurchaseStatus.PENDING
    assert balance_of(customer) == 0
    assert received.calls == []

    # The same provider payment again stays a mismatch; a correct payment then pays the invoice.
    assert _capture(invoice, "pi_short", amount="65.00").outcome == CaptureOutcome.MISMATCH
    assert _capture(invoice, "pi_full").outcome == CaptureOutcome.CAPTURED
    assert _reload(invoice).status == InvoiceStatus.PAID


def test_a_currency_mismatch_is_recorded_and_flagged(customer):
    invoice = issue_invoice(customer, [custom_draft("9.99")])

    result = _capture(invoice, "pi_usd", currency="usd")

    assert result.outcome == CaptureOutcome.MISMATCH
    stored = _reload(invoice)
    assert stored.status == InvoiceStatus.PENDING
    assert stored.review_reason == (
        "Captured 11.89 USD via testpay (pi_usd) does not match the invoice total 11.89 EUR"
    )
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.CAPTURED


def test_a_capture_of_a_voided_invoice_is_recorded_and_flagged(customer):
    invoice, sub, _item, _purchase = _checkout(customer)
    invoice_void(invoice_id=invoice.pk)

    result = _capture(invoice, "pi_late")

    assert result.outcome == CaptureOutcome.NOT_PAYABLE
    assert result.paid is False
    stored = _reload(invoice)
    assert stored.status == InvoiceStatus.CANCELLED
    assert stored.needs_review is True
    assert stored.review_reason == (
        "Payment 65.44 EUR via testpay (pi_late) received for an invoice in status CANCELLED"
    )
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.CAPTURED
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.CANCELLED
    assert balance_of(customer) == 0


def test_a_second_payment_of_a_paid_invoice_is_recorded_and_flagged(customer):
    invoice, *_rest = _checkout(customer)
    _capture(invoice, "pi_1")

    result = _capture(invoice, "pi_2")

    assert result.outcome == CaptureOutcome.ALREADY_PAID
    stored = _reload(invoice)
    assert (stored.status, stored.payment_ref) == (InvoiceStatus.PAID, "pi_1")
    assert stored.needs_review is True
    assert stored.review_reason == (
        "Payment 65.44 EUR via testpay (pi_2) received for an invoice in status PAID"
    )
    assert Payment.objects.filter(invoice=invoice, status=PaymentStatus.CAPTURED).count() == 2
    assert balance_of(customer) == 1500
    assert _count("invoice.paid") == 1


def test_capture_of_a_pending_gateway_payment_by_its_id(customer):
    invoice = issue_invoice(customer, [custom_draft("9.99")])
    session = Payment.objects.create(
        invoice=invoice,
        user=customer,
        gateway="testpay",
        external_id=None,
        amount=invoice.total_amount,
        currency="EUR",
        session_id="cs_1",
    )

    result = invoice_capture(
        invoice_id=invoice.pk,
        gateway="testpay",
        external_id="pi_9",
        amount=D("11.89"),
        currency="EUR",
        payment_id=session.pk,
    )

    assert result.outcome == CaptureOutcome.CAPTURED
    assert result.payment.pk == session.pk
    session.refresh_from_db()
    assert (session.status, session.external_id) == (PaymentStatus.CAPTURED, "pi_9")
    assert _reload(invoice).payment_ref == "pi_9"
    assert Payment.objects.count() == 1


# Staff mark-paid -------------------------------------------------------------------------------


def test_mark_paid_captures_with_the_staff_reference(customer, staff):
    invoice, sub, _item, _purchase = _checkout(customer)
    paid_at = timezone.now() - datetime.timedelta(days=2)

    result = invoice_mark_paid(
        invoice_id=invoice.pk,
        actor=staff,
        payment_reference="TRANSFER-42",
        amount=D("65.44"),
        paid_at=paid_at,
        reason="Seen on the bank statement",
    )

    assert result.outcome == CaptureOutcome.CAPTURED
    stored = _reload(invoice)
    assert (stored.status, stored.payment_ref, stored.paid_at) == (
        InvoiceStatus.PAID,
        "TRANSFER-42",
        paid_at,
    )
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.gateway, payment.external_id, payment.amount) == (
        "manual",
        "TRANSFER-42",
        D("65.44"),
    )
    assert payment.provider_data == {"method": "manual"}
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.current_period_start == paid_at
    entry = AuditEntry.objects.get(action="invoice.paid")
    assert (entry.actor_id, entry.actor_email, entry.reason) == (
        staff.pk,
        staff.email,
        "Seen on the bank statement",
    )
    assert entry.before == {"status": "PENDING"}
    assert entry.after == {"status": "PAID", "payment_ref": "TRANSFER-42"}


def test_mark_paid_repeated_with_the_same_reference_returns_the_same_result(customer, staff):
    invoice, *_rest = _checkout(customer)
    first = invoice_mark_paid(invoice_id=invoice.pk, actor=staff)
    rows = AuditEntry.objects.count()

    again = invoice_mark_paid(invoice_id=invoice.pk, actor=staff)

    assert first.invoice.payment_ref == "MANUAL"
    assert again.outcome == CaptureOutcome.ALREADY_CAPTURED
    assert again.payment.pk == first.payment.pk
    assert AuditEntry.objects.count() == rows
    assert balance_of(customer) == 1500


def test_mark_paid_with_another_reference_on_a_paid_invoice_is_refused(customer, staff):
    invoice = issue_invoice(customer)
    invoice_mark_paid(invoice_id=invoice.pk, actor=staff, payment_reference="A")

    with pytest.raises(InvalidTransition) as error:
        invoice_mark_paid(invoice_id=invoice.pk, actor=staff, payment_reference="B")

    assert error.value.message == "Invoice already paid"
    assert error.value.code == "invalid_transition"
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_an_invoice_paid_online_cannot_be_marked_paid_again(customer, staff):
    invoice = issue_invoice(customer)
    _capture(invoice, "MANUAL")
    with pytest.raises(InvalidTransition, match=r"^Invoice already paid$"):
        invoice_mark_paid(invoice_id=invoice.pk, actor=staff)


@pytest.mark.parametrize(
    "status", [InvoiceStatus.CANCELLED, InvoiceStatus.FAILED, InvoiceStatus.REFUNDED]
)
def test_mark_paid_is_refused_outside_pending_and_overdue(customer, staff, status):
    invoice = issue_invoice(customer)
    Invoice.objects.filter(pk=invoice.pk).update(status=status)

    with pytest.raises(InvalidTransition) as error:
        invoice_mark_paid(invoice_id=invoice.pk, actor=staff)

    assert error.value.message == f"Cannot mark as paid: invoice status is {status}"
    assert not Payment.objects.exists()


def test_mark_paid_of_an_overdue_invoice(customer, staff):
    invoice = issue_invoice(customer)
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.OVERDUE)

    result = invoice_mark_paid(invoice_id=invoice.pk, actor=staff)

    assert result.outcome == CaptureOutcome.CAPTURED
    assert _reload(invoice).status == InvoiceStatus.PAID
    assert AuditEntry.objects.get(action="invoice.paid").before == {"status": "OVERDUE"}


def test_mark_paid_with_another_amount_is_refused(customer, staff):
    invoice = issue_invoice(customer, [custom_draft("9.99")])

    with pytest.raises(ValidationFailed) as error:
        invoice_mark_paid(invoice_id=invoice.pk, actor=staff, amount=D("9.99"))

    assert error.value.message == "Amount does not match the invoice total (11.89 EUR)"
    assert error.value.errors == {"amount": [error.value.message]}
    assert _reload(invoice).status == InvoiceStatus.PENDING
    assert not Payment.objects.exists()


def test_the_same_staff_reference_may_pay_several_invoices(customer, staff):
    first, second = issue_invoice(customer), issue_invoice(customer)
    invoice_mark_paid(invoice_id=first.pk, actor=staff)
    invoice_mark_paid(invoice_id=second.pk, actor=staff)
    assert Invoice.objects.filter(status=InvoiceStatus.PAID, payment_ref="MANUAL").count() == 2


# Zero totals -----------------------------------------------------------------------------------


def test_a_zero_total_is_captured_with_the_zero_price_reference(customer):
    sub = subscription(customer, PlanFactory(price=D("0.00"), features={"default_tokens": 50}))
    invoice = issue_invoice(customer, [subscription_draft(sub)])

    result = invoice_capture_zero(invoice_id=invoice.pk)

    assert result.outcome == CaptureOutcome.CAPTURED
    stored = _reload(invoice)
    assert (stored.status, stored.payment_ref, stored.total_amount) == (
        InvoiceStatus.PAID,
        "zero-price",
        D("0.00"),
    )
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.gateway, payment.external_id, payment.amount) == ("zero", "zero-price", D("0"))
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert balance_of(customer) == 50
    assert invoice_capture_zero(invoice_id=invoice.pk).outcome == CaptureOutcome.ALREADY_CAPTURED
    assert balance_of(customer) == 50


def test_only_a_zero_total_is_captured_without_a_payment(customer):
    invoice = issue_invoice(customer, [custom_draft("0.01")])
    with pytest.raises(ValueError, match="zero total"):
        invoice_capture_zero(invoice_id=invoice.pk)
    assert _reload(invoice).status == InvoiceStatus.PENDING


# Failed attempts -------------------------------------------------------------------------------


def _pending_payment(invoice, external_id="pi_x") -> Payment:
    return Payment.objects.create(
        invoice=invoice,
        user=invoice.user,
        gateway="testpay",
        external_id=external_id,
        amount=invoice.total_amount,
        currency=invoice.currency,
    )


def test_a_failed_attempt_leaves_the_invoice_payable(customer, django_capture_on_commit_callbacks):
    invoice = issue_invoice(customer, [custom_draft("9.99")])
    payment = _pending_payment(invoice)

    with (
        Received(signals.payment_failed) as received,
        django_capture_on_commit_callbacks(execute=True),
    ):
        failed = payment_fail(payment_id=payment.pk, reason="Card declined")

    assert (failed.status, failed.failure_reason) == (PaymentStatus.FAILED, "Card declined")
    stored = _reload(invoice)
    assert stored.status == InvoiceStatus.PENDING
    assert stored.is_payable is True
    entry = AuditEntry.objects.get(action="payment.failed", object_id=str(payment.pk))
    assert entry.summary == f"Payment for {invoice.invoice_number} failed: Card declined"
    assert entry.before == {"status": "PENDING"}
    assert entry.after == {"status": "FAILED"}
    assert [(call["payment"].pk, call["reason"]) for call in received.calls] == [
        (payment.pk, "Card declined")
    ]

    # A second report changes nothing; a retry with another payment pays the invoice.
    payment_fail(payment_id=payment.pk, reason="Again")
    payment.refresh_from_db()
    assert payment.failure_reason == "Card declined"
    assert _count("payment.failed") == 1
    assert _capture(invoice, "pi_retry").outcome == CaptureOutcome.CAPTURED


def test_a_captured_payment_is_never_failed(customer):
    invoice = issue_invoice(customer, [custom_draft("9.99")])
    result = _capture(invoice, "pi_ok")

    payment = payment_fail(payment_id=result.payment.pk, reason="Late decline")

    assert payment.status == PaymentStatus.CAPTURED
    assert payment.failure_reason is None
    assert _reload(invoice).status == InvoiceStatus.PAID
    assert _count("payment.failed") == 0


def test_a_failed_payment_captured_later_by_its_provider(customer):
    invoice = issue_invoice(customer, [custom_draft("9.99")])
    payment = _pending_payment(invoice, "pi_slow")
    payment_fail(payment_id=payment.pk, reason="Timeout")

    result = _capture(invoice, "pi_slow")

    assert result.outcome == CaptureOutcome.CAPTURED
    payment.refresh_from_db()
    assert (payment.status, payment.failure_reason) == (PaymentStatus.CAPTURED, None)


# Void ------------------------------------------------------------------------------------------


def test_void_cancels_the_invoice_and_its_pending_purchases(customer, staff):
    invoice, sub, item, purchase = _checkout(customer)

    voided = invoice_void(invoice_id=invoice.pk, actor=staff, reason="Customer changed their mind")

    assert voided.status == InvoiceStatus.CANCELLED
    stored = _reload(invoice)
    assert stored.status == InvoiceStatus.CANCELLED
    assert stored.cancelled_at is not None
    assert stored.amount_due == D("0")
    sub.refresh_from_db()
    item.refresh_from_db()
    purchase.refresh_from_db()
    assert (sub.status, sub.cancelled_at) == (SubscriptionStatus.CANCELLED, stored.cancelled_at)
    assert item.status == AddOnSubscriptionStatus.CANCELLED
    assert purchase.status == PurchaseStatus.CANCELLED
    entry = AuditEntry.objects.get(action="invoice.voided")
    assert (entry.actor_id, entry.reason) == (staff.pk, "Customer changed their mind")
    assert (entry.before, entry.after) == ({"status": "PENDING"}, {"status": "CANCELLED"})
    assert entry.summary == f"Invoice {invoice.invoice_number} voided"
    assert _actions(sub)[-1] == "subscription.cancelled"
    assert _actions(item)[-1] == "addon_subscription.cancelled"
    assert _actions(purchase)[-1] == "token_bundle_purchase.cancelled"
    assert balance_of(customer) == 0


def test_voiding_a_trial_invoice_leaves_the_trial_running(customer):
    invoice, sub, item, purchase = _checkout(customer, status=SubscriptionStatus.TRIALING)
    trial_end = sub.trial_end_at

    invoice_void(invoice_id=invoice.pk)

    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.TRIALING
    assert sub.trial_end_at == trial_end
    assert sub.cancelled_at is None
    assert _count("subscription.cancelled") == 0
    item.refresh_from_db()
    purchase.refresh_from_db()
    assert item.status == AddOnSubscriptionStatus.CANCELLED
    assert purchase.status == PurchaseStatus.CANCELLED


def test_an_overdue_invoice_can_be_voided(customer):
    invoice = issue_invoice(customer)
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.OVERDUE)
    assert invoice_void(invoice_id=invoice.pk).status == InvoiceStatus.CANCELLED
    assert AuditEntry.objects.get(action="invoice.voided").before == {"status": "OVERDUE"}


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (InvoiceStatus.PAID, "Paid invoices cannot be voided; refund them instead"),
        (InvoiceStatus.CANCELLED, "Invoice is already voided"),
        (InvoiceStatus.FAILED, "Cannot void an invoice in status FAILED"),
        (InvoiceStatus.REFUNDED, "Cannot void an invoice in status REFUNDED"),
    ],
)
def test_void_is_refused_outside_pending_and_overdue(customer, status, message):
    invoice = issue_invoice(customer)
    Invoice.objects.filter(pk=invoice.pk).update(status=status)

    with pytest.raises(InvalidTransition) as error:
        invoice_void(invoice_id=invoice.pk)

    assert error.value.message == message
    assert _reload(invoice).status == status
    assert _count("invoice.voided") == 0


def test_a_voided_invoice_keeps_its_number_and_the_next_one_follows(customer):
    first = issue_invoice(customer)
    invoice_void(invoice_id=first.pk)
    second = issue_invoice(customer)
    assert second.invoice_number.endswith("-000002")
    assert Invoice.objects.count() == 2


def test_the_period_helper_agrees_with_the_activation(customer):
    """The subscription period on activation is the catalog's calendar period."""
    plan = PlanFactory(billing_period=BillingPeriod.QUARTERLY)
    sub = subscription(customer, plan)
    paid_at = datetime.datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    _capture(issue_invoice(customer, [subscription_draft(sub)]), paid_at=paid_at)
    sub.refresh_from_db()
    assert sub.expires_at == period_end(paid_at, BillingPeriod.QUARTERLY)
    assert sub.expires_at == datetime.datetime(2027, 2, 28, 23, 59, tzinfo=UTC)


def test_a_provider_payment_of_another_invoice_never_pays_this_one(customer):
    first = issue_invoice(customer, [custom_draft("9.99")])
    second = issue_invoice(customer, [custom_draft("9.99")])
    assert _capture(first, "pi_shared").outcome == CaptureOutcome.CAPTURED

    result = _capture(second, "pi_shared")

    assert result.outcome == CaptureOutcome.MISMATCH
    stored = _reload(second)
    assert stored.status == InvoiceStatus.PENDING
    assert stored.needs_review is True
    assert stored.review_reason == (
        f"Payment pi_shared via testpay belongs to invoice {first.invoice_number}"
    )
    assert Payment.objects.filter(invoice=second).count() == 0

"""Every pair of invoice and payment statuses: a pair the transition table allows is made by its
verb; every other pair is refused by every verb, and the row stays as it was."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from billing.invoices.models import (
    PAYMENT_TRANSITIONS,
    TRANSITIONS,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
)
from billing.invoices.tests.factories import buyer, custom_draft, issue_invoice
from vbwd.exceptions import InvalidTransition

pytestmark = pytest.mark.django_db
I = InvoiceStatus  # noqa: E741
P = PaymentStatus
AT = timezone.now()

# Each verb, the status it moves to, and the statuses it moves from (all others are refused).
INVOICE_VERBS = {
    "mark_paid": (I.PAID, {I.PENDING, I.OVERDUE}),
    "mark_overdue": (I.OVERDUE, {I.PENDING}),
    "mark_failed": (I.FAILED, {I.PENDING}),
    "void": (I.CANCELLED, {I.PENDING, I.OVERDUE}),
    "refund": (I.REFUNDED, {I.PAID}),
    "reverse_refund": (I.PAID, {I.REFUNDED}),
}
PAYMENT_VERBS = {
    "capture": (P.CAPTURED, {P.PENDING, P.FAILED}),
    "fail": (P.FAILED, {P.PENDING}),
    "refund_all": (P.REFUNDED, {P.CAPTURED, P.PARTIALLY_REFUNDED}),
    "refund_part": (P.PARTIALLY_REFUNDED, {P.CAPTURED, P.PARTIALLY_REFUNDED}),
    "reverse_all": (P.CAPTURED, {P.PARTIALLY_REFUNDED, P.REFUNDED}),
    "reverse_part": (P.PARTIALLY_REFUNDED, {P.PARTIALLY_REFUNDED, P.REFUNDED}),
}
PAYMENT_AMOUNT = Decimal("100.0000")
# What a payment in each status has refunded.
PAYMENT_REFUNDED = {
    P.PENDING: Decimal("0"),
    P.FAILED: Decimal("0"),
    P.CAPTURED: Decimal("0"),
    P.PARTIALLY_REFUNDED: Decimal("40.0000"),
    P.REFUNDED: PAYMENT_AMOUNT,
}


def _pairs(verbs: dict) -> set[tuple[str, str]]:
    return {(source, target) for target, sources in verbs.values() for source in sources}


def _table_pairs(table: dict) -> set[tuple[str, str]]:
    return {(source, target) for source, targets in table.items() for target in targets}


def test_the_verbs_make_exactly_the_invoice_transitions_of_the_table():
    assert _pairs(INVOICE_VERBS) == _table_pairs(TRANSITIONS)
    assert set(TRANSITIONS) == set(I.values)


def test_the_verbs_make_exactly_the_payment_transitions_of_the_table():
    assert _pairs(PAYMENT_VERBS) == _table_pairs(PAYMENT_TRANSITIONS)
    assert set(PAYMENT_TRANSITIONS) == set(P.values)


def _invoice_in(status: str) -> Invoice:
    invoice = issue_invoice(buyer(), [custom_draft("10.00")])
    refunded = invoice.total_amount if status == I.REFUNDED else Decimal("0")
    Invoice.objects.filter(pk=invoice.pk).update(status=status, refunded_amount=refunded)
    return Invoice.objects.get(pk=invoice.pk)


def _call_invoice_verb(invoice: Invoice, verb: str) -> None:
    if verb == "mark_paid":
        invoice.mark_paid(at=AT, payment_ref="REF-1")
    elif verb == "void":
        invoice.void(at=AT)
    elif verb == "refund":
        invoice.refund(invoice.total_amount - invoice.refunded_amount, at=AT)
    elif verb == "reverse_refund":
        invoice.reverse_refund(invoice.total_amount, full_refund=True, last_refunded_at=None)
    else:
        getattr(invoice, verb)()


def _payment_in(status: str) -> Payment:
    invoice = issue_invoice(buyer(), [custom_draft("10.00")])
    return Payment.objects.create(
        invoice=invoice,
        user=invoice.user,
        gateway="manual",
        external_id="REF-1",
        amount=PAYMENT_AMOUNT,
        currency=invoice.currency,
        status=status,
        refunded_amount=PAYMENT_REFUNDED[status],
    )


def _call_payment_verb(payment: Payment, verb: str) -> None:
    small = Decimal("10.0000")
    calls = {
        "capture": lambda: payment.capture(at=AT),
        "fail": lambda: payment.fail("declined"),
        "refund_all": lambda: payment.refund(PAYMENT_AMOUNT - payment.refunded_amount),
        "refund_part": lambda: payment.refund(small),
        "reverse_all": lambda: payment.reverse_refund(payment.refunded_amount),
        "reverse_part": lambda: payment.reverse_refund(small),
    }
    calls[verb]()


def _row(instance) -> dict:
    return model_to_dict(type(instance).objects.get(pk=instance.pk))


def _fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.fields}


INVOICE_CASES = [
    (source, target, verb)
    for source, target in itertools.product(I.values, I.values)
    for verb, (verb_target, _) in INVOICE_VERBS.items()
    if verb_target == target
]
PAYMENT_CASES = [
    (source, target, verb)
    for source, target in itertools.product(P.values, P.values)
    for verb, (verb_target, _) in PAYMENT_VERBS.items()
    if verb_target == target
]


def test_no_verb_moves_an_invoice_or_a_payment_back_to_pending():
    assert all(target != I.PENDING for target, _ in INVOICE_VERBS.values())
    assert all(target != P.PENDING for target, _ in PAYMENT_VERBS.values())
    assert not any(I.PENDING in targets for targets in TRANSITIONS.values())
    assert not any(P.PENDING in targets for targets in PAYMENT_TRANSITIONS.values())


@pytest.mark.parametrize(("source", "target", "verb"), INVOICE_CASES)
def test_invoice_verb_moves_only_along_the_table(source, target, verb):
    invoice = _invoice_in(source)
    before_row, before_fields = _row(invoice), _fields(invoice)
    allowed = source in INVOICE_VERBS[verb][1]

    if allowed:
        assert target in TRANSITIONS[source]
        _call_invoice_verb(invoice, verb)
        assert invoice.status == target
        invoice.save()
        assert Invoice.objects.get(pk=invoice.pk).status == target
    else:
        with pytest.raises(InvalidTransition):
            _call_invoice_verb(invoice, verb)
        assert _fields(invoice) == before_fields
        assert _row(invoice) == before_row


@pytest.mark.parametrize(("source", "target", "verb"), PAYMENT_CASES)
def test_payment_verb_moves_only_along_the_table(source, target, verb):
    payment = _payment_in(source)
    before_row, before_fields = _row(payment), _fields(payment)
    allowed = source in PAYMENT_VERBS[verb][1]

    if allowed:
        assert target in PAYMENT_TRANSITIONS[source]
        _call_payment_verb(payment, verb)
        assert payment.status == target
        payment.save()
        assert Payment.objects.get(pk=payment.pk).status == target
    else:
        with pytest.raises(InvalidTransition):
            _call_payment_verb(payment, verb)
        assert _fields(payment) == before_fields
        assert _row(payment) == before_row


def test_every_invoice_and_payment_pair_outside_the_tables_is_refused_by_every_verb():
    """The parametrized cases above cover these; this names the pairs they refuse."""
    refused_invoice = set(itertools.product(I.values, I.values)) - _table_pairs(TRANSITIONS)
    refused_payment = set(itertools.product(P.values, P.values)) - _table_pairs(PAYMENT_TRANSITIONS)
    for source, target in refused_invoice:
        for verb, (verb_target, sources) in INVOICE_VERBS.items():
            assert verb_target != target or source not in sources, (verb, source, target)
    for source, target in refused_payment:
        for verb, (verb_target, sources) in PAYMENT_VERBS.items():
            assert verb_target != target or source not in sources, (verb, source, target)

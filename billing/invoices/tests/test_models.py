"""Issued invoices, their lines and credit notes are immutable records: only their status
fields change, and nothing is ever deleted."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.invoices.models import (
    OPEN_STATUSES,
    TRANSITIONS,
    CreditNote,
    ImmutableRecordError,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from billing.invoices.tests.factories import buyer, custom_draft, de_vat, issue_invoice

pytestmark = pytest.mark.django_db
S = InvoiceStatus


@pytest.fixture
def invoice():
    de_vat()
    return issue_invoice(buyer(), [custom_draft("9.99"), custom_draft("5.00")])


def _credit_note(invoice) -> CreditNote:
    return CreditNote.objects.create(
        credit_note_number="CN-2026-000001",
        invoice=invoice,
        user=invoice.user,
        currency=invoice.currency,
        net_amount=Decimal("5.00"),
        tax_amount=Decimal("0.95"),
        amount=Decimal("5.95"),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_amount", Decimal("1.00")),
        ("subtotal", Decimal("1.00")),
        ("tax_amount", Decimal("0.00")),
        ("invoice_number", "INV-2000-000001"),
        ("currency", "USD"),
        ("billing_address", {"name": "Someone else"}),
        ("seller", {}),
        ("reverse_charge", True),
    ],
)
def test_saving_a_changed_immutable_invoice_field_is_refused(invoice, field, value):
    stored = Invoice.objects.get(pk=invoice.pk)
    setattr(stored, field, value)

    with pytest.raises(ImmutableRecordError, match=field):
        stored.save()

    assert getattr(Invoice.objects.get(pk=invoice.pk), field) == getattr(invoice, field)


def test_update_fields_naming_an_immutable_field_is_refused(invoice):
    stored = Invoice.objects.get(pk=invoice.pk)
    stored.total_amount = Decimal("0.01")

    with pytest.raises(ImmutableRecordError, match="total_amount"):
        stored.save(update_fields=["status", "total_amount"])


def test_the_instance_returned_by_issue_is_guarded_too(invoice):
    invoice.subtotal = Decimal("0.00")

    with pytest.raises(ImmutableRecordError):
        invoice.save()


def test_queryset_update_of_an_immutable_field_is_refused(invoice):
    with pytest.raises(ImmutableRecordError, match="total_amount"):
        Invoice.objects.filter(pk=invoice.pk).update(total_amount=Decimal("0"))
    with pytest.raises(ImmutableRecordError, match="amount"):
        InvoiceLine.objects.filter(invoice=invoice).update(amount=Decimal("0"))

    assert Invoice.objects.get(pk=invoice.pk).total_amount == Decimal("17.84")


def test_mutable_invoice_fields_save(invoice):
    stored = Invoice.objects.get(pk=invoice.pk)
    now = timezone.now()
    stored.status = InvoiceStatus.PAID
    stored.paid_at = now
    stored.payment_ref = "REF-1"
    stored.needs_review = True
    stored.review_reason = "Checked by hand"
    stored.save()

    reloaded = Invoice.objects.get(pk=invoice.pk)
    assert reloaded.status == InvoiceStatus.PAID
    assert reloaded.paid_at == now
    assert reloaded.payment_ref == "REF-1"
    assert reloaded.needs_review is True
    assert reloaded.review_reason == "Checked by hand"

    # A second save of the same instance is compared with what the first one stored.
    reloaded.status = InvoiceStatus.REFUNDED
    reloaded.save(update_fields=["status", "updated_at"])
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.REFUNDED


def test_queryset_update_of_mutable_fields_is_allowed(invoice):
    assert Invoice.objects.filter(pk=invoice.pk).update(needs_review=True) == 1
    assert Invoice.objects.get(pk=invoice.pk).needs_review is True


def test_a_line_cannot_change(invoice):
    line = InvoiceLine.objects.filter(invoice=invoice).first()
    line.description = "Something else"

    with pytest.raises(ImmutableRecordError, match="description"):
        line.save()


def test_invoices_lines_and_credit_notes_are_never_deleted(invoice):
    note = _credit_note(invoice)
    line = invoice.lines.first()

    with pytest.raises(ImmutableRecordError):
        Invoice.objects.get(pk=invoice.pk).delete()
    with pytest.raises(ImmutableRecordError):
        line.delete()
    with pytest.raises(ImmutableRecordError):
        note.delete()
    with pytest.raises(ImmutableRecordError):
        Invoice.objects.all().delete()
    with pytest.raises(ImmutableRecordError):
        InvoiceLine.objects.filter(invoice=invoice).delete()
    with pytest.raises(ImmutableRecordError):
        CreditNote.objects.all().delete()

    assert Invoice.objects.count() == 1
    assert InvoiceLine.objects.filter(invoice=invoice).count() == 2
    assert CreditNote.objects.count() == 1


def test_a_credit_note_may_only_record_its_reversal(invoice):
    note = CreditNote.objects.get(pk=_credit_note(invoice).pk)
    note.amount = Decimal("1.00")
    with pytest.raises(ImmutableRecordError, match="amount"):
        note.save()

    note = CreditNote.objects.get(pk=note.pk)
    note.reversed_at = timezone.now()
    note.save()
    assert CreditNote.objects.get(pk=note.pk).reversed_at == note.reversed_at
    with pytest.raises(ImmutableRecordError):
        CreditNote.objects.filter(pk=note.pk).update(reason="changed")


def test_status_transitions_are_those_of_domain_6():
    expected = {
        S.PENDING: {S.PAID, S.CANCELLED, S.FAILED, S.OVERDUE},
        S.OVERDUE: {S.PAID, S.CANCELLED},
        S.PAID: {S.REFUNDED},
        S.REFUNDED: {S.PAID},
        S.CANCELLED: set(),
        S.FAILED: set(),
    }
    assert expected == TRANSITIONS
    assert set(TRANSITIONS) == set(S.values)
    assert OPEN_STATUSES == (S.PENDING, S.OVERDUE)


@pytest.mark.parametrize(
    ("status", "is_open", "is_payable", "amount_due"),
    [
        (InvoiceStatus.PENDING, True, True, Decimal("17.84")),
        (InvoiceStatus.OVERDUE, True, True, Decimal("17.84")),
        (InvoiceStatus.PAID, False, False, Decimal("0")),
        (InvoiceStatus.CANCELLED, False, False, Decimal("0")),
        (InvoiceStatus.FAILED, False, False, Decimal("0")),
        (InvoiceStatus.REFUNDED, False, False, Decimal("0")),
    ],
)
def test_open_payable_and_amount_due_follow_the_status(
    invoice, status, is_open, is_payable, amount_due
):
    invoice.status = status
    assert invoice.is_open is is_open
    assert invoice.is_payable is is_payable
    assert invoice.amount_due == amount_due
    assert invoice.can_become(InvoiceStatus.PAID) is (
        status in (InvoiceStatus.PENDING, InvoiceStatus.OVERDUE, InvoiceStatus.REFUNDED)
    )


def test_a_zero_total_is_open_but_not_payable():
    de_vat()
    invoice = issue_invoice(buyer(), [custom_draft("0.00")])
    assert invoice.is_open is True
    assert invoice.is_payable is False
    assert invoice.refundable_amount == Decimal("0.00")

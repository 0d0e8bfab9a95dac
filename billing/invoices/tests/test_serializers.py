"""The invoice shapes of the API: exact keys, money strings in the currency's places, the tax
breakdown, admin variants and the OpenAPI component names."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from drf_spectacular.generators import SchemaGenerator

from billing.catalog.tests.factories import PlanFactory
from billing.catalog.tests.factories_geography import CurrencyFactory
from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    LineType,
    Payment,
    PaymentStatus,
)
from billing.invoices.selectors import invoice_for_staff, invoices_for_user
from billing.invoices.serializers import (
    admin_invoice_data,
    admin_invoices_data,
    credit_note_data,
    invoice_data,
    invoice_ref_data,
    invoices_data,
    payment_data,
)
from billing.invoices.services import LineDraft, invoice_void
from billing.invoices.tests.factories import (
    buyer,
    custom_draft,
    de_vat,
    issue_invoice,
    paid_invoice,
    subscription,
    subscription_draft,
)
from billing.subscriptions.models import SubscriptionStatus

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 14, 9, 30, tzinfo=datetime.UTC)

INVOICE_KEYS = [
    "id",
    "invoice_number",
    "invoice_type",
    "user_id",
    "status",
    "currency",
    "exchange_rate",
    "subtotal",
    "tax_amount",
    "total_amount",
    "amount",
    "amount_due",
    "refunded_amount",
    "is_payable",
    "reverse_charge",
    "payment_method",
    "payment_method_name",
    "payment_ref",
    "tarif_plan_id",
    "subscription_id",
    "billing_address",
    "seller",
    "line_items",
    "tax_breakdown",
    "invoiced_at",
    "due_date",
    "expires_at",
    "paid_at",
    "cancelled_at",
    "refunded_at",
    "created_at",
    "updated_at",
]
ADMIN_DETAIL_EXTRA = [
    "plan_name",
    "plan_description",
    "plan_billing_period",
    "plan_price",
    "subscription_status",
    "subscription_start_date",
    "subscription_end_date",
    "subscription_is_trial",
    "subscription_trial_end",
]


def three_lines() -> list[LineDraft]:
    """Two lines at the buyer's 19 % and one at a forced 7 %."""
    return [
        custom_draft("10.00", description="Consulting"),
        LineDraft(type=LineType.FEE, description="Setup fee", unit_price=Decimal("5.00"),
                  quantity=2),
        custom_draft("7.00", description="E-book", tax_rate=Decimal("7.00"),
                     tax_name="MwSt. ermäßigt"),
    ]  # fmt: skip


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_invoice_shape_is_exact(frozen):
    de_vat()
    user = buyer(email="erika@example.com")
    invoice = issue_invoice(user, three_lines())
    lines = list(invoice.lines.order_by("position"))

    data = invoice_data(invoice)

    assert list(data) == INVOICE_KEYS
    assert data == {
        "id": str(invoice.pk),
        "invoice_number": "INV-2026-000001",
        "invoice_type": "CHECKOUT",
        "user_id": str(user.pk),
        "status": "PENDING",
        "currency": "EUR",
        "exchange_rate": "1.000000",
        "subtotal": "27.00",
        "tax_amount": "4.29",
        "total_amount": "31.29",
        "amount": "31.29",
        "amount_due": "31.29",
        "refunded_amount": "0.00",
        "is_payable": True,
        "reverse_charge": False,
        "payment_method": "invoice",
        "payment_method_name": "Invoice",
        "payment_ref": None,
        "tarif_plan_id": None,
        "subscription_id": None,
        "billing_address": {
            "name": "Erika Mustermann",
            "company": None,
            "email": "erika@example.com",
            "line1": "Heidestraße 17",
            "line2": None,
            "city": "Köln",
            "state": None,
            "postal_code": "51147",
            "country": "DE",
            "vat_id": None,
        },
        "seller": {
            "company_name": None,
            "address_street": None,
            "address_city": None,
            "address_postal_code": None,
            "address_country": "DE",
            "vat_id": None,
            "email": None,
            "website_url": None,
            "bank_account_holder": None,
            "bank_name": None,
            "bank_iban": None,
            "bank_bic": None,
        },
        "line_items": [
            {
                "id": str(lines[0].pk),
                "invoice_id": str(invoice.pk),
                "type": "CUSTOM",
                "description": "Consulting",
                "quantity": 1,
                "unit_price": "10.00",
                "amount": "10.00",
                "total_price": "10.00",
                "tax_rate": "19.00",
                "tax_amount": "1.90",
                "gross_amount": "11.90",
                "item_id": None,
                "catalog_item_id": None,
                "period_start": None,
                "period_end": None,
                "extra_data": {},
            },
            {
                "id": str(lines[1].pk),
                "invoice_id": str(invoice.pk),
                "type": "FEE",
                "description": "Setup fee",
                "quantity": 2,
                "unit_price": "5.00",
                "amount": "10.00",
                "total_price": "10.00",
                "tax_rate": "19.00",
                "tax_amount": "1.90",
                "gross_amount": "11.90",
                "item_id": None,
                "catalog_item_id": None,
                "period_start": None,
                "period_end": None,
                "extra_data": {},
            },
            {
                "id": str(lines[2].pk),
                "invoice_id": str(invoice.pk),
                "type": "CUSTOM",
                "description": "E-book",
                "quantity": 1,
                "unit_price": "7.00",
                "amount": "7.00",
                "total_price": "7.00",
                "tax_rate": "7.00",
                "tax_amount": "0.49",
                "gross_amount": "7.49",
                "item_id": None,
                "catalog_item_id": None,
                "period_start": None,
                "period_end": None,
                "extra_data": {},
            },
        ],
        "tax_breakdown": [
            {"tax_name": "MwSt.", "tax_rate": "19.00", "net_amount": "20.00", "tax_amount": "3.80"},
            {
                "tax_name": "MwSt. ermäßigt",
                "tax_rate": "7.00",
                "net_amount": "7.00",
                "tax_amount": "0.49",
            },
        ],
        "invoiced_at": "2026-03-14T09:30:00Z",
        "due_date": "2026-03-28T09:30:00Z",
        "expires_at": "2026-03-28T09:30:00Z",
        "paid_at": None,
        "cancelled_at": None,
        "refunded_at": None,
        "created_at": "2026-03-14T09:30:00Z",
        "updated_at": "2026-03-14T09:30:00Z",
    }


def test_money_has_the_currency_places_zero_decimal_currency(frozen):
    de_vat()
    jpy = CurrencyFactory(code="JPY", decimal_places=0, exchange_rate=Decimal("160.000000"))
    invoice = issue_invoice(buyer(), [custom_draft("1200", description="Credits")], currency=jpy)

    data = invoice_data(invoice)

    assert {key: data[key] for key in ("currency", "exchange_rate", "subtotal", "tax_amount",
                                       "total_amount", "amount", "amount_due",
                                       "refunded_amount")} == {
        "currency": "JPY",
        "exchange_rate": "160.000000",
        "subtotal": "1200",
        "tax_amount": "228",
        "total_amount": "1428",
        "amount": "1428",
        "amount_due": "1428",
        "refunded_amount": "0",
    }  # fmt: skip
    line = data["line_items"][0]
    assert (line["unit_price"], line["amount"], line["total_price"], line["tax_amount"],
            line["gross_amount"]) == ("1200", "1200", "1200", "228", "1428")  # fmt: skip
    assert data["tax_breakdown"] == [
        {"tax_name": "MwSt.", "tax_rate": "19.00", "net_amount": "1200", "tax_amount": "228"}
    ]


def test_untaxed_buyer_has_one_zero_rate_row():
    # No tax rate for the buyer's country: one row at 0.00 without a name.
    invoice = issue_invoice(buyer(), [custom_draft("4.50"), custom_draft("0.50")])

    assert invoice_data(invoice)["tax_breakdown"] == [
        {"tax_name": None, "tax_rate": "0.00", "net_amount": "5.00", "tax_amount": "0.00"}
    ]


def test_paid_and_voided_invoices_owe_nothing():
    paid = paid_invoice(drafts=[custom_draft("12.00")])
    voided = issue_invoice(drafts=[custom_draft("3.00")])
    invoice_void(invoice_id=voided.pk)
    voided.refresh_from_db()
    zero = issue_invoice(drafts=[custom_draft("0.00")])

    paid_data, voided_data, zero_data = (invoice_data(row) for row in (paid, voided, zero))

    assert (paid_data["status"], paid_data["amount_due"], paid_data["is_payable"],
            paid_data["payment_ref"]) == ("PAID", "0.00", False, "TRANSFER-1")  # fmt: skip
    assert paid_data["paid_at"] is not None
    assert (voided_data["status"], voided_data["amount_due"], voided_data["is_payable"]) == (
        "CANCELLED",
        "0.00",
        False,
    )
    assert voided_data["cancelled_at"] is not None
    # Open but nothing to pay: not payable, amount due 0.00.
    assert (zero_data["status"], zero_data["amount_due"], zero_data["is_payable"]) == (
        "PENDING",
        "0.00",
        False,
    )


def test_detail_adds_payments_newest_first_and_credit_notes(frozen, admin_user):
    invoice = paid_invoice(drafts=[custom_draft("20.00")], reference="TRANSFER-9")
    with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
        failed = Payment.objects.create(
            invoice=invoice, user=invoice.user, gateway="demo", external_id=None,
            amount=Decimal("20.00"), currency="EUR", status=PaymentStatus.FAILED,
            failure_reason="Card declined", provider_data={"raw": "x"},
        )  # fmt: skip
    captured = invoice.payments.get(gateway="manual")
    note = CreditNote.objects.create(
        credit_note_number="CN-2026-000001", invoice=invoice, user=invoice.user,
        payment=captured, currency="EUR", net_amount=Decimal("5.00"),
        tax_amount=Decimal("0.00"), amount=Decimal("5.00"), reason="Goodwill",
        refund_reference="ADMIN_REFUND", full_refund=False, created_by=admin_user,
    )  # fmt: skip
    detail = invoice_data(invoice_for_staff(invoice.pk), detail=True)

    assert list(detail) == [*INVOICE_KEYS, "payments", "credit_notes"]
    assert [payment["id"] for payment in detail["payments"]] == [str(failed.pk), str(captured.pk)]
    assert detail["payments"][1] == {
        "id": str(captured.pk),
        "invoice_id": str(invoice.pk),
        "gateway": "manual",
        "external_id": "TRANSFER-9",
        "amount": "20.00",
        "currency": "EUR",
        "status": "CAPTURED",
        "refunded_amount": "0.00",
        "failure_reason": None,
        "created_at": "2026-03-14T09:30:00Z",
        "captured_at": "2026-03-14T09:30:00Z",
        "updated_at": "2026-03-14T09:30:00Z",
    }
    assert detail["payments"][0]["failure_reason"] == "Card declined"
    assert "provider_data" not in detail["payments"][0]
    assert detail["credit_notes"] == [
        {
            "id": str(note.pk),
            "credit_note_number": "CN-2026-000001",
            "invoice_id": str(invoice.pk),
            "invoice_number": invoice.invoice_number,
            "user_id": str(invoice.user_id),
            "currency": "EUR",
            "net_amount": "5.00",
            "tax_amount": "0.00",
            "amount": "5.00",
            "reason": "Goodwill",
            "refund_reference": "ADMIN_REFUND",
            "payment_id": str(captured.pk),
            "full_refund": False,
            "created_by": str(admin_user.pk),
            "created_at": "2026-03-14T09:30:00Z",
        }
    ]
    assert credit_note_data(note) == detail["credit_notes"][0]
    assert payment_data(failed, admin=True)["provider_data"] == {"raw": "x"}
    assert list(payment_data(failed)) == list(detail["payments"][0])


def test_admin_list_shape_adds_user_and_review_fields():
    user = buyer(email="max@example.com", first_name="Max", last_name="Muster")
    invoice = issue_invoice(user)

    data = admin_invoices_data([invoice_for_staff(invoice.pk, detail=False)])[0]

    assert list(data) == [*INVOICE_KEYS, "user_email", "user_name", "needs_review",
                          "review_reason"]  # fmt: skip
    assert (data["user_email"], data["user_name"], data["needs_review"], data["review_reason"]) == (
        "max@example.com",
        "Max Muster",
        False,
        None,
    )


def test_admin_detail_has_plan_and_subscription_facts(frozen):
    user = buyer()
    plan = PlanFactory(name="Pro", description="Everything", price=Decimal("29.9900"))
    trial = subscription(
        user, plan, status=SubscriptionStatus.TRIALING, trial_end_at=NOW + datetime.timedelta(14)
    )
    invoice = issue_invoice(user, [subscription_draft(trial)])
    Payment.objects.create(
        invoice=invoice, user=user, gateway="demo", amount=invoice.total_amount, currency="EUR",
        session_id="cs_1", provider_data={"session": "cs_1"},
    )  # fmt: skip

    data = admin_invoice_data(invoice_for_staff(invoice.pk), detail=True)

    assert list(data) == [
        *INVOICE_KEYS,
        "user_email",
        "user_name",
        "needs_review",
        "review_reason",
        "payments",
        "credit_notes",
        *ADMIN_DETAIL_EXTRA,
    ]
    assert {key: data[key] for key in ADMIN_DETAIL_EXTRA} == {
        "plan_name": "Pro",
        "plan_description": "Everything",
        "plan_billing_period": "MONTHLY",
        "plan_price": "29.99",
        "subscription_status": "TRIALING",
        "subscription_start_date": "2026-03-14T09:30:00Z",
        "subscription_end_date": "2026-03-28T09:30:00Z",
        "subscription_is_trial": True,
        "subscription_trial_end": "2026-03-28T09:30:00Z",
    }
    assert data["tarif_plan_id"] == str(plan.pk)
    assert data["subscription_id"] == str(trial.pk)
    assert data["payments"][0]["provider_data"] == {"session": "cs_1"}


def test_admin_detail_without_subscription_has_null_facts():
    invoice = issue_invoice()

    data = admin_invoice_data(invoice_for_staff(invoice.pk), detail=True)

    assert {key: data[key] for key in ADMIN_DETAIL_EXTRA} == dict.fromkeys(ADMIN_DETAIL_EXTRA)


def test_invoice_ref_shape(frozen):
    invoice = issue_invoice(drafts=[custom_draft("8.50")])

    assert invoice_ref_data(invoice) == {
        "id": str(invoice.pk),
        "invoice_number": invoice.invoice_number,
        "status": "PENDING",
        "amount": "8.50",
        "total_amount": "8.50",
        "currency": "EUR",
        "created_at": "2026-03-14T09:30:00Z",
    }


def test_list_serialisation_queries_do_not_grow_with_rows(django_assert_num_queries):
    de_vat()
    user = buyer()
    issue_invoice(user, three_lines())

    # Two queries for the invoices and their lines, one for the currencies.
    with django_assert_num_queries(3):
        one = invoices_data(invoices_for_user(user))
    for _ in range(19):
        issue_invoice(user, three_lines())
    with django_assert_num_queries(3):
        twenty = invoices_data(invoices_for_user(user))

    assert (len(one), len(twenty)) == (1, 20)
    assert all(len(row["line_items"]) == 3 for row in twenty)


def test_status_enum_values_are_uppercase():
    invoice = issue_invoice()
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.FAILED)
    invoice.refresh_from_db()

    assert invoice_data(invoice)["status"] == "FAILED"


def test_schema_components_carry_the_shape_names():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    for name in ("Invoice", "InvoiceLine", "Payment", "CreditNote", "PaymentStart",
                 "BankTransferInstructions", "GatewaySession"):  # fmt: skip
        assert name in components, name
    invoice = components["Invoice"]
    assert list(invoice["properties"]) == INVOICE_KEYS
    assert invoice["properties"]["line_items"]["items"] == {
        "$ref": "#/components/schemas/InvoiceLine"
    }
    assert "provider_data" not in components["Payment"]["properties"]

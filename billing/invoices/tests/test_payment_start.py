"""Starting the payment of an invoice: a zero total is captured, an offline method
returns bank-transfer instructions, a gateway method opens or reuses a checkout session; a non-zero
invoice is never marked paid here."""

from __future__ import annotations

import datetime
import time
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEntry
from billing.catalog.models import PaymentMethod
from billing.catalog.tests.factories import PlanFactory
from billing.catalog.tests.factories_payment_methods import (
    PaymentMethodFactory,
    PaymentMethodTranslationFactory,
)
from billing.invoices.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.invoices.services import invoice_void
from billing.invoices.services.payments import (
    MESSAGE_BANK_TRANSFER,
    MESSAGE_PAID,
    MESSAGE_REDIRECT,
    invoice_payment_start,
)
from billing.invoices.tests.factories import (
    buyer,
    custom_draft,
    issue_invoice,
    paid_invoice,
    set_billing_details,
    subscription,
    subscription_draft,
)
from billing.subscriptions.models import Subscription, SubscriptionStatus
from platform_settings.services import platform_settings_update
from plugins import gateway as gateways
from plugins import state as plugin_state
from tests.support.race import run_together
from vbwd.exceptions import DomainError, InvalidTransition, NotFound

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 14, 9, 30, tzinfo=datetime.UTC)
BANK = {
    "company_name": "VBWD Software GmbH",
    "bank_account_holder": "VBWD Software GmbH",
    "bank_name": "Commerzbank",
    "bank_iban": "DE89370400440532013000",
    "bank_bic": "COBADEFFXXX",
}


class FakeGateway(gateways.PaymentGateway):
    """A provider that records the requests it gets; ``fail`` makes the next call refuse."""

    name = "fakepay"
    supports_saved_methods = True
    currencies = frozenset({"EUR"})

    def __init__(self) -> None:
        self.requests: list[gateways.PaymentRequest] = []
        self.fail: Exception | None = None

    def create_session(self, request):
        if self.fail is not None:
            raise self.fail
        self.requests.append(request)
        number = len(self.requests)
        return gateways.PaymentSession(
            session_id=f"cs_test_{number}",
            session_url=f"https://pay.example.test/cs_test_{number}",
            client_secret=f"secret_{number}",
            expires_at=timezone.now() + datetime.timedelta(minutes=30),
            saves_payment_method=request.save_payment_method,
        )

    def session_status(self, session_id):
        raise NotImplementedError

    def parse_webhook(self, headers, body):
        raise NotImplementedError

    def refund(
        self, *, external_payment_id, amount, currency, currency_places, idempotency_key=None
    ):
        raise NotImplementedError


@pytest.fixture
def fakepay(monkeypatch):
    """The ``fakepay`` plugin: installed and enabled, its gateway a FakeGateway."""
    provider = FakeGateway()
    enabled = {"fakepay": True}
    monkeypatch.setattr(plugin_state, "is_enabled", lambda name: enabled.get(name, False))

    def gateway_for(name):
        if name != "fakepay":
            raise gateways.NotConfigured(f"{name} is not a payment gateway")
        return provider

    monkeypatch.setattr(gateways, "gateway_for", gateway_for)
    provider.enabled = enabled
    return provider


@pytest.fixture
def card():
    return PaymentMethodFactory(code="card", name="Credit card", plugin_id="fakepay")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def payments_of(invoice) -> list[Payment]:
    return list(Payment.objects.filter(invoice=invoice).order_by("created_at"))


# --- zero total -------------------------------------------------------------------------------


def test_zero_total_is_captured_and_activates_its_lines():
    user = buyer()
    plan = PlanFactory(price=Decimal("0.00"))
    pending = subscription(user, plan)
    invoice = issue_invoice(user, [subscription_draft(pending)])

    start = invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert (start.action, start.message, start.payment, start.instructions, start.session) == (
        "PAID",
        MESSAGE_PAID,
        None,
        None,
        None,
    )
    assert (start.invoice.status, start.invoice.payment_ref) == ("PAID", "zero-price")
    [payment] = payments_of(invoice)
    assert (payment.gateway, payment.external_id, payment.status, payment.amount) == (
        "zero",
        "zero-price",
        PaymentStatus.CAPTURED,
        Decimal("0.00"),
    )
    assert Subscription.objects.get(pk=pending.pk).status == SubscriptionStatus.ACTIVE


def test_zero_total_needs_no_available_method():
    # The method is irrelevant when nothing is paid.
    method = PaymentMethodFactory(is_active=False)
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("0.00")], payment_method=method)

    assert invoice_payment_start(invoice_id=invoice.pk, user=user).action == "PAID"


# --- offline method (bank transfer) -----------------------------------------------------------


def test_offline_method_returns_instructions_and_changes_nothing(frozen, admin_user):
    platform_settings_update(data=BANK, actor=admin_user)
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("100.00")])
    audit_before = AuditEntry.objects.count()

    start = invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert (start.action, start.message, start.payment, start.session) == (
        "BANK_TRANSFER",
        MESSAGE_BANK_TRANSFER,
        None,
        None,
    )
    assert start.instructions == {
        "method_code": "invoice",
        "method_name": "Invoice",
        "text": "Transfer the invoice total to the bank account on the invoice, quoting the "
        "invoice number.",
        "account_holder": "VBWD Software GmbH",
        "bank_name": "Commerzbank",
        "iban": "DE89370400440532013000",
        "bic": "COBADEFFXXX",
        "reference": invoice.invoice_number,
        "amount": "100.00",
        "currency": "EUR",
        "due_date": NOW + datetime.timedelta(days=14),
    }
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at, invoice.payment_ref) == ("PENDING", None, None)
    assert payments_of(invoice) == []
    assert AuditEntry.objects.count() == audit_before


def test_instructions_name_the_account_printed_on_the_invoice(frozen, admin_user):
    platform_settings_update(data=BANK, actor=admin_user)
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("100.00")])
    platform_settings_update(
        data={"bank_iban": "DE02120300000000202051", "bank_name": "Other Bank"}, actor=admin_user
    )

    start = invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert (start.instructions["iban"], start.instructions["bank_name"]) == (
        "DE89370400440532013000",
        "Commerzbank",
    )


def test_bank_transfer_text_is_translated_for_the_locale_or_the_saved_language():
    method = PaymentMethod.objects.get(code="invoice")
    PaymentMethodTranslationFactory(
        payment_method=method, locale="de", name="Rechnung", instructions="Bitte überweisen."
    )
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("10.00")])

    explicit = invoice_payment_start(invoice_id=invoice.pk, user=user, locale="de-AT")
    base = invoice_payment_start(invoice_id=invoice.pk, user=user)
    set_billing_details(user, config={"language": "de"})
    saved = invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert (explicit.instructions["method_name"], explicit.instructions["text"]) == (
        "Rechnung",
        "Bitte überweisen.",
    )
    assert base.instructions["method_name"] == "Invoice"
    assert saved.instructions["text"] == "Bitte überweisen."


def test_invoice_without_method_uses_the_default_method():
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("10.00")], payment_method=None)

    start = invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert (start.action, start.instructions["method_code"]) == ("BANK_TRANSFER", "invoice")


def test_overdue_invoice_can_still_be_paid():
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("10.00")])
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.OVERDUE)

    start = invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert (start.action, start.invoice.status) == ("BANK_TRANSFER", "OVERDUE")


# --- gateway method ---------------------------------------------------------------------------


def test_gateway_method_opens_a_session_and_records_a_pending_payment(
    frozen, fakepay, card, settings
):
    settings.VBWD_FRONTEND_URL = "https://app.example.test/"
    user = buyer(email="payer@example.com")
    invoice = issue_invoice(
        user,
        [custom_draft("10.00", description="Consulting"), custom_draft("2.50", quantity=2)],
        payment_method=card,
    )

    start = invoice_payment_start(invoice_id=invoice.pk, user=user, idempotency_key="key-1")

    [payment] = payments_of(invoice)
    assert (start.action, start.message, start.instructions) == ("REDIRECT", MESSAGE_REDIRECT, None)
    assert start.payment == payment
    assert start.session == {
        "provider": "fakepay",
        "session_id": "cs_test_1",
        "session_url": "https://pay.example.test/cs_test_1",
        "client_secret": "secret_1",
        "expires_at": NOW + datetime.timedelta(minutes=30),
    }
    assert (
        payment.gateway,
        payment.status,
        payment.amount,
        payment.currency,
        payment.external_id,
        payment.session_id,
        payment.session_url,
        payment.session_expires_at,
        payment.user_id,
    ) == (
        "fakepay",
        PaymentStatus.PENDING,
        Decimal("15.00"),
        "EUR",
        None,
        "cs_test_1",
        "https://pay.example.test/cs_test_1",
        NOW + datetime.timedelta(minutes=30),
        user.pk,
    )
    [request] = fakepay.requests
    assert request == gateways.PaymentRequest(
        invoice_id=str(invoice.pk),
        user_id=str(user.pk),
        amount=Decimal("15.00"),
        currency="EUR",
        currency_places=2,
        description=f"Invoice {invoice.invoice_number}",
        success_url="https://app.example.test/pay/fakepay/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=f"https://app.example.test/pay/fakepay/cancel?invoice={invoice.pk}",
        lines=(
            gateways.PaymentLine(description="Consulting", quantity=1, amount=Decimal("10.00")),
            gateways.PaymentLine(description="Service", quantity=2, amount=Decimal("5.00")),
        ),
        customer_email="payer@example.com",
        save_payment_method=False,
        idempotency_key=f"{user.pk}:key-1",
        metadata={
            "invoice_id": str(invoice.pk),
            "user_id": str(user.pk),
            "payment_id": str(payment.pk),
        },
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at, invoice.payment_ref) == ("PENDING", None, None)
    assert AuditEntry.objects.filter(
        action="payment.session_created", object_id=str(payment.pk)
    ).exists()


def test_recurring_item_asks_the_gateway_to_keep_the_method(fakepay, card):
    user = buyer()
    pending = subscription(user, PlanFactory(price=Decimal("20.00")))
    invoice = issue_invoice(user, [subscription_draft(pending)], payment_method=card)

    invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert fakepay.requests[0].save_payment_method is True
    assert payments_of(invoice)[0].provider_data == {
        "kind": "session",
        "saves_payment_method": True,
    }


def test_open_session_is_reused_until_it_expires(fakepay, card):
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("10.00")], payment_method=card)

    with time_machine.travel(NOW, tick=False):
        first = invoice_payment_start(invoice_id=invoice.pk, user=user)
    with time_machine.travel(NOW + datetime.timedelta(minutes=29), tick=False):
        again = invoice_payment_start(invoice_id=invoice.pk, user=user)
    with time_machine.travel(NOW + datetime.timedelta(minutes=31), tick=False):
        fresh = invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert again.payment.pk == first.payment.pk
    assert again.session["session_id"] == "cs_test_1"
    assert fresh.payment.pk != first.payment.pk
    assert fresh.session["session_id"] == "cs_test_2"
    assert len(fakepay.requests) == 2
    assert [payment.session_id for payment in payments_of(invoice)] == ["cs_test_1", "cs_test_2"]


def test_provider_error_is_502_and_keeps_only_the_claim_for_the_retry(fakepay, card):
    fakepay.fail = gateways.GatewayError("card_declined: test mode")
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("10.00")], payment_method=card)

    with pytest.raises(DomainError) as caught:
        invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        502,
        "provider_error",
        "Payment provider error: card_declined: test mode",
    )
    [claim] = payments_of(invoice)
    assert (claim.status, claim.session_id, claim.call_started_at, claim.external_id) == (
        PaymentStatus.PENDING,
        None,
        None,
        None,
    )

    fakepay.fail = None
    start = invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert start.payment.pk == claim.pk
    assert [payment.session_id for payment in payments_of(invoice)] == ["cs_test_1"]


@pytest.mark.parametrize("where", ["gateway_for", "create_session"])
def test_unconfigured_gateway_is_503(fakepay, card, monkeypatch, where):
    if where == "gateway_for":
        monkeypatch.setattr(
            gateways, "gateway_for", lambda name: (_ for _ in ()).throw(gateways.NotConfigured())
        )
    else:
        fakepay.fail = gateways.NotConfigured("secret key missing")
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("10.00")], payment_method=card)

    with pytest.raises(DomainError) as caught:
        invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        503,
        "service_unavailable",
        "fakepay is not configured",
    )
    # Nothing reached the provider; a claim written before the call stays for the retry.
    claims = payments_of(invoice)
    assert len(claims) == (0 if where == "gateway_for" else 1)
    assert all(
        (claim.status, claim.session_id) == (PaymentStatus.PENDING, None) for claim in claims
    )


def test_currency_the_gateway_does_not_take_is_refused(fakepay, card):
    from billing.catalog.tests.factories_geography import CurrencyFactory

    user = buyer()
    invoice = issue_invoice(
        user, [custom_draft("10.00")], payment_method=card, currency=CurrencyFactory(code="QAA")
    )

    with pytest.raises(DomainError) as caught:
        invoice_payment_start(invoice_id=invoice.pk, user=user)

    assert (caught.value.code, caught.value.message) == (
        "item_unavailable",
        "Currency QAA is not supported by fakepay",
    )


# --- refusals ---------------------------------------------------------------------------------


def test_paid_invoice_is_refused():
    invoice = paid_invoice(drafts=[custom_draft("10.00")])

    with pytest.raises(InvalidTransition, match=r"^Invoice already paid$"):
        invoice_payment_start(invoice_id=invoice.pk, user=invoice.user)


@pytest.mark.parametrize("status", [InvoiceStatus.FAILED, InvoiceStatus.REFUNDED])
def test_closed_invoice_is_refused(status):
    invoice = issue_invoice(drafts=[custom_draft("10.00")])
    Invoice.objects.filter(pk=invoice.pk).update(status=status)

    with pytest.raises(InvalidTransition) as caught:
        invoice_payment_start(invoice_id=invoice.pk, user=invoice.user)

    assert caught.value.message == f"Invoice is {status} and cannot be paid"


def test_voided_invoice_is_refused():
    invoice = issue_invoice(drafts=[custom_draft("10.00")])
    invoice_void(invoice_id=invoice.pk)

    with pytest.raises(InvalidTransition, match=r"^Invoice is CANCELLED and cannot be paid$"):
        invoice_payment_start(invoice_id=invoice.pk, user=invoice.user)


def test_inactive_method_is_unavailable():
    method = PaymentMethodFactory(name="Wire", is_active=False)
    invoice = issue_invoice(drafts=[custom_draft("10.00")], payment_method=method)

    with pytest.raises(DomainError) as caught:
        invoice_payment_start(invoice_id=invoice.pk, user=invoice.user)

    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        400,
        "item_unavailable",
        "Payment method 'Wire' is currently unavailable",
    )


def test_method_of_a_disabled_plugin_is_unavailable(fakepay, card):
    fakepay.enabled["fakepay"] = False
    invoice = issue_invoice(drafts=[custom_draft("10.00")], payment_method=card)

    with pytest.raises(DomainError) as caught:
        invoice_payment_start(invoice_id=invoice.pk, user=invoice.user)

    assert (caught.value.code, caught.value.message) == (
        "item_unavailable",
        "Payment method 'Credit card' is currently unavailable",
    )
    assert fakepay.requests == []


def test_another_users_invoice_is_not_found():
    invoice = issue_invoice(drafts=[custom_draft("10.00")])

    with pytest.raises(NotFound, match=r"^Invoice not found$"):
        invoice_payment_start(invoice_id=invoice.pk, user=buyer())


# --- concurrency (real row locks) -------------------------------------------------------------


def _run_twice(target) -> list:
    """Runs ``target`` in two threads released together; returns both outcomes (a refusal as
    its message)."""
    return [_outcome(result) for result in run_together([target, target])]


def _outcome(result):
    if isinstance(result, DomainError):
        return result.message
    if isinstance(result, Exception):
        raise result
    return result


class SlowGateway(FakeGateway):
    """Answers slowly, so a second request arrives while the first session is being created."""

    def create_session(self, request):
        time.sleep(0.3)
        return super().create_session(request)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_pays_open_one_session(monkeypatch):
    provider = SlowGateway()
    monkeypatch.setattr(plugin_state, "is_enabled", lambda name: name == "fakepay")
    monkeypatch.setattr(gateways, "gateway_for", lambda name: provider)
    card = PaymentMethodFactory(code="card", name="Credit card", plugin_id="fakepay")
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("10.00")], payment_method=card)

    outcomes = _run_twice(lambda: invoice_payment_start(invoice_id=invoice.pk, user=user))

    assert [outcome.action for outcome in outcomes] == ["REDIRECT", "REDIRECT"]
    assert outcomes[0].payment.pk == outcomes[1].payment.pk
    assert len(provider.requests) == 1
    assert Payment.objects.filter(invoice=invoice).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_pays_of_a_zero_invoice_capture_once():
    user = buyer()
    invoice = issue_invoice(user, [custom_draft("0.00")])

    outcomes = _run_twice(lambda: invoice_payment_start(invoice_id=invoice.pk, user=user).action)

    assert sorted(outcomes) == ["Invoice already paid", "PAID"]
    assert Payment.objects.filter(invoice=invoice).count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.needs_review) == (InvoiceStatus.PAID, False)

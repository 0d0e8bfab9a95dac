"""Invoice PDF rendering time: a 10-line invoice against the 150 ms budget, beside baselines
measured in the same run (the same template rendered to a string only, and a 1-line invoice).

Two clocks: pytest-benchmark's own table is wall time (perf_counter), which other processes on a
busy machine inflate; ``Cpu`` also takes the CPU time of every call (process_time), the render's
own cost, and the budget is checked against its median.
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import UserDetails
from accounts.tests.factories import UserFactory
from billing.catalog.models import Currency, PaymentMethod, TaxRate
from billing.invoices.models import CreditNote, LineType
from billing.invoices.pdf import (
    INVOICE_TEMPLATE,
    invoice_pdf_context,
    render_credit_note_pdf,
    render_invoice_pdf,
)
from billing.invoices.services import LineDraft, invoice_issue, invoice_mark_paid
from platform_settings.services import platform_settings_update

pytestmark = [pytest.mark.django_db, pytest.mark.benchmark(group="invoice-pdf")]

# VBWD_PDF_BUDGET_MS overrides the budget on a machine known to be slower.
BUDGET_MS = float(os.environ.get("VBWD_PDF_BUDGET_MS", "150"))
PDF_ROUNDS = 30
HTML_ROUNDS = 200


class Cpu:
    """Wraps the benchmarked callable and keeps the CPU time of every call."""

    def __init__(self, function, *args):
        self.function, self.args, self.seconds = function, args, []

    def __call__(self):
        started = time.process_time()
        result = self.function(*self.args)
        self.seconds.append(time.process_time() - started)
        return result


def record(results: dict, name: str, benchmark, cpu: Cpu, budget: float | None = None):
    """Keeps a finished benchmark's numbers (ms) for the summary; None when benchmarks are off."""
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is None:
        return None
    results[name] = {
        "median": stats.median * 1000,
        "min": stats.min * 1000,
        "cpu": statistics.median(cpu.seconds) * 1000,  # warm-up calls included
        "rounds": stats.rounds,
        "budget": budget,
    }
    return results[name]


@pytest.fixture
def seller(admin_user):
    return platform_settings_update(
        data={
            "company_name": "VBWD Software GmbH",
            "address_street": "Hauptstraße 5",
            "address_city": "Berlin",
            "address_postal_code": "10115",
            "address_country": "DE",
            "vat_id": "DE136695976",
            "company_email": "billing@vbwd.example",
            "bank_account_holder": "VBWD Software GmbH",
            "bank_name": "Commerzbank",
            "bank_iban": "DE89370400440532013000",
            "bank_bic": "COBADEFFXXX",
            "invoice_footer": "Registered at Amtsgericht Berlin, HRB 123456",
        },
        actor=admin_user,
    )


@pytest.fixture
def make_invoice(seller):
    TaxRate.objects.create(country_code="GR", name="ΦΠΑ", code="GR_VAT_24", rate=Decimal("24"),
                           valid_from=datetime.date(2020, 1, 1))  # fmt: skip
    user = UserFactory()
    UserDetails.objects.filter(user=user).update(
        first_name="Иван", last_name="Петров", address_line_1="Οδός Ερμού 10", city="Αθήνα",
        postal_code="10563", country="GR",
    )  # fmt: skip
    user.refresh_from_db()

    def make(lines: int):
        drafts = [
            LineDraft(type=LineType.CUSTOM, description=f"Service {number} — Ελληνικά / Русский",
                      unit_price=Decimal("19.90") + number, quantity=number + 1)
            for number in range(lines)
        ]  # fmt: skip
        return invoice_issue(
            user=user,
            invoice_type="MANUAL",
            currency=Currency.objects.get(code="EUR"),
            drafts=drafts,
            payment_method=PaymentMethod.objects.get(code="invoice"),
        )

    return make


def test_invoice_html_10_lines(benchmark, make_invoice, bench_results):
    invoice = make_invoice(10)

    cpu = Cpu(lambda: render_to_string(INVOICE_TEMPLATE, invoice_pdf_context(invoice)))

    html = benchmark.pedantic(cpu, rounds=HTML_ROUNDS, warmup_rounds=5)

    assert invoice.invoice_number in html
    record(bench_results, "invoice_html_10_lines", benchmark, cpu)


def test_invoice_pdf_1_line(benchmark, make_invoice, bench_results):
    invoice = make_invoice(1)

    cpu = Cpu(render_invoice_pdf, invoice)

    data = benchmark.pedantic(cpu, rounds=PDF_ROUNDS, warmup_rounds=2)

    assert data.startswith(b"%PDF-")
    record(bench_results, "invoice_pdf_1_line", benchmark, cpu)


def test_invoice_pdf_10_lines(benchmark, make_invoice, bench_results):
    invoice = make_invoice(10)

    cpu = Cpu(render_invoice_pdf, invoice)

    data = benchmark.pedantic(cpu, rounds=PDF_ROUNDS, warmup_rounds=2)

    assert data.startswith(b"%PDF-")
    result = record(bench_results, "invoice_pdf_10_lines", benchmark, cpu, BUDGET_MS)
    if result is not None:
        assert result["cpu"] < BUDGET_MS, (
            f"10-line invoice PDF: CPU median {result['cpu']:.1f} ms (wall median "
            f"{result['median']:.1f} ms), budget {BUDGET_MS:.0f} ms"
        )


def test_credit_note_pdf(benchmark, make_invoice, admin_user, bench_results):
    invoice = make_invoice(10)
    invoice = invoice_mark_paid(invoice_id=invoice.pk, actor=admin_user).invoice
    credit_note = CreditNote.objects.create(
        credit_note_number=f"CN-{timezone.now().year}-000001",
        invoice=invoice,
        user=invoice.user,
        currency=invoice.currency,
        net_amount=invoice.subtotal,
        tax_amount=invoice.tax_amount,
        amount=invoice.total_amount,
        full_refund=True,
        reason="Cancelled within the withdrawal period",
    )

    cpu = Cpu(render_credit_note_pdf, credit_note)

    data = benchmark.pedantic(cpu, rounds=PDF_ROUNDS, warmup_rounds=2)

    assert data.startswith(b"%PDF-")
    record(bench_results, "credit_note_pdf", benchmark, cpu)

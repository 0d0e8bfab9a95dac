"""An operator's journeys through the back office in a real browser: sign in, the dashboard,
a customer's page and its tabs, an invoice's PDF, a partial refund and a plan change each
previewed before they are confirmed, and an invoices CSV export. Every page loads without a
console error or a content-security-policy violation, and the browser never asks another host
than the server for anything."""

from __future__ import annotations

import csv
import datetime
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from billing.invoices.models import CreditNote, Invoice, InvoiceType
from billing.invoices.tests.factories import buyer, custom_draft, monthly_plan, paid_invoice
from billing.subscriptions.models import SubscriptionStatus
from billing.subscriptions.tests.factories import SubscriptionFactory
from plugins import services
from tokens.models import TokenTransactionType
from tokens.services.ledger import tokens_credit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_and_the_dashboard_shows_its_cards_and_chart(signed_in, watch, live_server):
    services.plugin_enable(name="analytics")
    page = signed_in
    page.goto(f"{live_server.url}/admin/?interval=week")

    expect(page.locator("[data-kpi]")).to_have_count(8)
    expect(page.locator("[data-kpi=mrr] .kpi-value")).to_contain_text("EUR")
    canvas = page.locator("canvas.chart")
    expect(canvas).to_have_count(1)
    # Chart.js drew on the canvas (it gives the canvas its size and a chart instance).
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.querySelector('canvas.chart'))"
    )
    expect(page.locator("[data-attention]")).to_have_count(4)
    watch.assert_clean(page)


def test_the_dashboard_without_analytics_says_how_to_enable_it(signed_in, watch, live_server):
    page = signed_in
    expect(page.locator("#dashboard-disabled")).to_contain_text("analytics plugin")
    expect(page.locator("[data-attention]")).to_have_count(4)
    watch.assert_clean(page)


def test_a_customer_page_and_its_tabs(signed_in, watch, live_server, staff):
    customer = buyer(email="erika@example.com")
    invoice = paid_invoice(customer, [custom_draft("12.50")])
    plan = monthly_plan(name="Team", price=Decimal("19.00"))
    SubscriptionFactory(user=customer, plan=plan, status=SubscriptionStatus.ACTIVE)
    tokens_credit(
        user=customer,
        amount=250,
        transaction_type=TokenTransactionType.ADJUSTMENT,
        description="Welcome tokens",
    )
    page = signed_in
    page.goto(f"{live_server.url}/admin/accounts/user/{customer.pk}/change/")

    expect(page.locator("body")).to_contain_text("erika@example.com")
    tabs = page.locator("#tabs-items a")
    tabs.filter(has_text="Subscriptions").click()
    expect(page.get_by_role("link", name=re.compile("Team")).first).to_be_visible()
    watch.screenshot(page)
    tabs.filter(has_text="Token balance").click()
    expect(page.locator("body")).to_contain_text("250")
    tabs.filter(has_text="Token ledger").click()
    expect(page.locator("body")).to_contain_text("Welcome tokens")
    watch.screenshot(page)
    tabs.filter(has_text="Invoices").click()
    expect(page.get_by_role("link", name=invoice.invoice_number).first).to_be_visible()
    tabs.filter(has_text="Payments").click()
    expect(page.get_by_role("link", name=invoice.invoice_number).first).to_be_visible()
    tabs.filter(has_text="Credit notes").click()
    tabs.filter(has_text="General").click()
    expect(page.locator("body")).to_contain_text("erika@example.com")
    watch.assert_clean(page)


def test_an_invoice_page_opens_its_pdf(signed_in, watch, live_server, context):
    invoice = paid_invoice(buyer(), [custom_draft("20.00")])
    page = signed_in
    page.goto(f"{live_server.url}/admin/invoices/invoice/{invoice.pk}/change/")
    expect(page.locator("body")).to_contain_text(invoice.invoice_number)

    link = page.locator(f'a[href$="/invoices/invoice/{invoice.pk}/pdf/"]').first
    with context.expect_event("response", lambda r: r.url.endswith("/pdf/")) as answer:
        page.evaluate("(a) => a.click()", link.element_handle())
    response = answer.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    watch.assert_clean(page)


def test_a_partial_refund_is_previewed_before_it_is_confirmed(
    signed_in, watch, live_server, context
):
    invoice = paid_invoice(buyer(), [custom_draft("50.00")])
    page = signed_in
    page.goto(f"{live_server.url}/admin/invoices/invoice/{invoice.pk}/refund/")

    page.fill("input[name=amount]", "15.00")
    page.fill("textarea[name=reason]", "Partly unhappy")
    page.click("button[name=preview]")
    effect = page.locator("#action-effect")
    expect(effect).to_contain_text("issue a credit note of 15.00 EUR")
    expect(effect).to_contain_text("still refundable")
    assert not CreditNote.objects.filter(invoice=invoice).exists()
    page.click("button[name=confirm]")

    page.wait_for_url(f"{live_server.url}/admin/invoices/invoice/{invoice.pk}/change/")
    expect(page.locator("body")).to_contain_text("refunded 15.00 EUR")
    note = CreditNote.objects.get(invoice=invoice)
    assert note.amount == Decimal("15.00")
    # The invoice page lists the credit note; its page opens its PDF.
    page.get_by_role("link", name=note.credit_note_number).first.click()
    page.wait_for_url(f"{live_server.url}/admin/invoices/creditnote/{note.pk}/change/")
    watch.screenshot(page)
    link = page.locator(f'a[href$="/invoices/creditnote/{note.pk}/pdf/"]').first
    with context.expect_event("response", lambda r: r.url.endswith("/pdf/")) as answer:
        page.evaluate("(a) => a.click()", link.element_handle())
    assert answer.value.status == 200
    assert answer.value.headers["content-type"] == "application/pdf"
    watch.assert_clean(page)


def test_a_plan_change_shows_its_proration_before_it_is_confirmed(signed_in, watch, live_server):
    basic = monthly_plan(name="Basic", price=Decimal("10.00"))
    pro = monthly_plan(name="Pro", price=Decimal("40.00"))
    sub = SubscriptionFactory(user=buyer(), plan=basic, status=SubscriptionStatus.ACTIVE)
    page = signed_in
    page.goto(f"{live_server.url}/admin/subscriptions/subscription/{sub.pk}/change-plan/")

    page.select_option("select[name=plan]", str(pro.pk))
    page.click("button[name=preview]")
    effect = page.locator("#action-effect")
    expect(effect).to_contain_text("issue a plan-change invoice from Basic to Pro")
    expect(effect).to_contain_text("credit for the unused")
    expect(effect).to_contain_text("amount due:")
    assert not Invoice.objects.filter(invoice_type=InvoiceType.PLAN_CHANGE).exists()
    page.click("button[name=confirm]")

    page.wait_for_url(f"{live_server.url}/admin/subscriptions/subscription/{sub.pk}/change/")
    invoice = Invoice.objects.get(invoice_type=InvoiceType.PLAN_CHANGE)
    expect(page.locator("body")).to_contain_text(invoice.invoice_number)
    watch.assert_clean(page)


def test_invoices_export_as_csv_for_a_range_of_days(signed_in, watch, live_server):
    invoice = paid_invoice(buyer(), [custom_draft("9.00")])
    today = datetime.date.today()
    page = signed_in
    page.goto(f"{live_server.url}/admin/invoices/invoice/")
    page.get_by_role("link", name=re.compile("Export CSV")).first.click()
    page.fill("input[name=first]", (today - datetime.timedelta(days=1)).isoformat())
    page.fill("input[name=last]", today.isoformat())

    with page.expect_download() as download:
        page.click("button[name=export]")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert download.value.suggested_filename.startswith("invoices-")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert [row[header.index("number")] for row in rows] == [invoice.invoice_number]
    assert rows[0][header.index("currency")] == "EUR"
    watch.assert_clean(page)


def test_the_watch_sees_a_content_security_policy_violation(signed_in, watch):
    page = signed_in
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.inline = 1'; document.body.appendChild(s); }"
    )
    page.wait_for_function("() => window.__cspViolations.length > 0")

    assert page.evaluate("window.inline") is None  # the inline script did not run
    assert page.evaluate("window.__cspViolations")[0].startswith("script-src")
    watch.console_errors.clear()  # the browser reports the refusal on the console too

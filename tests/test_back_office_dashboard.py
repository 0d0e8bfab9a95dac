"""The back office's index: the analytics figures equal the API's for the same period and
currency, each attention list links to a list filtered to exactly its rows, the page without the
analytics plugin, the pickers' checks, and a constant number of queries."""

from __future__ import annotations

import datetime
import html
import json
import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import AdminFactory
from billing.admin_dashboard import overdue_and_review
from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType, Payment, PaymentStatus
from billing.invoices.tests.factories import buyer, custom_draft, issue_invoice, monthly_plan
from billing.invoices.tests.factories import subscription as make_subscription
from billing.subscriptions.models import Subscription, SubscriptionStatus
from conftest import bearer
from plugins import services
from plugins.analytics import movement, selectors
from plugins.analytics.tests.fixtures import END, NOW, START, build_business

pytestmark = pytest.mark.django_db

INDEX = "/admin/"
KPI = re.compile(r'data-kpi="(\w+)" data-value="([^"]*)" data-change="([^"]*)"')


def _staff_page(query: dict | None = None, staff=None):
    client = Client()
    client.force_login(staff or AdminFactory())
    response = client.get(INDEX, query or {})
    assert response.status_code == 200
    return client, response


def _kpis(html: str) -> dict:
    return {key: (Decimal(value), Decimal(change)) for key, value, change in KPI.findall(html)}


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def enabled():
    services.plugin_enable(name="analytics")


# --- the figures equal the API's ---------------------------------------------------------------


@pytest.mark.parametrize("currency", ["EUR", "USD"])
def test_the_cards_show_the_apis_figures_for_the_same_period_and_currency(enabled, currency):
    with time_machine.travel(NOW, tick=False):
        build_business()
        staff = AdminFactory()
        query = {"start": START.isoformat(), "end": END.isoformat(), "currency": currency}
        _, response = _staff_page(query, staff)
        api = Client().get(
            "/api/v1/admin/analytics/dashboard", query, **bearer(staff)
        )  # the same clock, the same data
    assert api.status_code == 200
    body = api.json()
    cards = _kpis(response.content.decode())

    for key in ("mrr", "arr", "revenue", "active_subscriptions", "churn", "arpu"):
        assert cards[key] == (
            Decimal(str(body[key]["total"])),
            Decimal(str(body[key]["change_percent"])),
        ), key
    assert response.context["dashboard"]["api"] == body
    assert response.context["dashboard"]["currency"] == currency
    assert {"overdue", "needs_review"} <= set(cards)


def test_the_mrr_movement_leads_from_the_mrr_at_the_start_to_the_one_at_the_end(enabled):
    day = datetime.timedelta(days=1)
    with time_machine.travel(NOW, tick=False):
        build_business()
        moves = movement.mrr_movement(start=START, end=END)
        at_end = selectors.dashboard(start=START, end=END)["mrr"]["total"]
        # the period ending the day before START ends when the period asked for starts
        at_start = selectors.dashboard(start=START - 30 * day, end=START - day)["mrr"]["total"]

    assert moves["start_mrr"] == at_start
    assert moves["end_mrr"] == at_end
    assert (
        moves["start_mrr"]
        + moves["new"]["amount"]
        + moves["expansion"]["amount"]
        - moves["contraction"]["amount"]
        - moves["churn"]["amount"]
        == moves["end_mrr"]
    )
    assert moves["new"]["customers"] + moves["churn"]["customers"] > 0


# --- the lists of what needs attention -----------------------------------------------------


def _attention_data():
    """One row for each list and one row next to it that the list must leave out."""
    customer = buyer(email="late@example.com")
    overdue = issue_invoice(
        customer, [custom_draft("30.00")], due_date=timezone.now() - datetime.timedelta(days=3)
    )
    pending = issue_invoice(customer, [custom_draft("5.00")])
    Invoice.objects.filter(pk=overdue.pk).update(status=InvoiceStatus.OVERDUE)
    renewal = issue_invoice(customer, [custom_draft("12.00")], invoice_type=InvoiceType.RENEWAL)
    failed = Payment.objects.create(
        invoice=renewal,
        user=customer,
        gateway="stripe",
        amount=renewal.total_amount,
        currency="EUR",
        status=PaymentStatus.FAILED,
        failure_reason="card_declined",
    )
    Payment.objects.create(  # a failed checkout charge is not a failed renewal
        invoice=pending,
        user=customer,
        gateway="stripe",
        amount=pending.total_amount,
        currency="EUR",
        status=PaymentStatus.FAILED,
    )
    plan = monthly_plan(name="Team")
    past_due = make_subscription(customer, plan, status=SubscriptionStatus.PAST_DUE)
    make_subscription(buyer(), plan, status=SubscriptionStatus.ACTIVE)
    review = issue_invoice(customer, [custom_draft("7.00")])
    Invoice.objects.filter(pk=review.pk).update(needs_review=True, review_reason="amount")
    return {
        "overdue_invoices": {overdue.pk},
        "failed_renewal_charges": {failed.pk},
        "past_due_subscriptions": {past_due.pk},
        "invoices_needing_review": {review.pk},
    }


@pytest.mark.parametrize("plugin_enabled", [True, False])
def test_each_attention_list_links_to_a_list_filtered_to_exactly_its_rows(plugin_enabled):
    if plugin_enabled:
        services.plugin_enable(name="analytics")
    expected = _attention_data()
    client, response = _staff_page()
    lists = {item["key"]: item for item in response.context["dashboard"]["attention"]}

    assert set(lists) == set(expected)
    for key, pks in expected.items():
        item = lists[key]
        assert item["count"] == len(pks)
        assert {urlsplit(row["url"]).path.split("/")[-3] for row in item["rows"]} == {
            str(pk) for pk in pks
        }
        assert f'href="{item["url"].replace("&", "&amp;")}"' in response.content.decode()
        changelist = client.get(item["url"])
        assert changelist.status_code == 200, key
        shown = {row.pk for row in changelist.context["cl"].result_list}
        assert shown == pks, key


def test_the_index_without_the_analytics_plugin_says_how_to_enable_it():
    _attention_data()
    _, response = _staff_page()
    html = response.content.decode()

    assert 'id="dashboard-disabled"' in html
    assert "analytics plugin, which is disabled" in html
    assert 'href="/admin/plugins/plugin/"' in html
    assert "Enable selected plugins" in html
    assert 'data-kpi="' not in html
    assert 'class="chart"' not in html
    assert html.count('data-attention="') == 4
    assert "late@example.com" in html


def test_the_index_with_the_plugin_has_the_cards_the_chart_and_the_movement(enabled):
    _, response = _staff_page({"interval": "week"})
    html = response.content.decode()

    assert set(_kpis(html)) == {
        "mrr",
        "arr",
        "revenue",
        "active_subscriptions",
        "churn",
        "arpu",
        "overdue",
        "needs_review",
    }
    assert '<canvas class="chart"' in html
    assert 'data-type="line"' in html
    assert "&quot;labels&quot;" in html  # the chart's data is an attribute, not a script
    assert "<script>" not in html
    assert html.count('data-movement="') == 4
    assert response.context["dashboard"]["revenue"]["interval"] == "week"


# --- the pickers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"start": "yesterday"}, "start:"),
        ({"end": "2026-02-30"}, "end:"),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "start must not be after end"),
        ({"currency": "XXX"}, "Currency 'XXX' is not supported"),
        ({"interval": "year"}, "interval must be day, week or month"),
        ({"start": "0001-01-02", "end": "0001-01-03"}, "must be between 1900-01-01"),
        ({"start": "2000-01-01", "end": "2026-01-01", "interval": "day"}, "more than 3660"),
    ],
)
def test_a_refused_picker_value_shows_the_default_with_a_message(enabled, query, problem):
    _, default = _staff_page()
    _, response = _staff_page(query)

    texts = _messages(response)
    assert len(texts) == 1
    assert problem in texts[0]
    assert "The default period and currency are shown" in texts[0]
    assert response.context["dashboard"]["period"] == default.context["dashboard"]["period"]
    assert response.context["dashboard"]["currency"] == "EUR"


def test_good_picker_values_are_used(enabled):
    _, response = _staff_page(
        {"start": "2026-01-01", "end": "2026-01-31", "interval": "month", "currency": "usd"}
    )
    dashboard = response.context["dashboard"]

    assert _messages(response) == []
    assert dashboard["period"]["start"] == datetime.date(2026, 1, 1)
    assert dashboard["period"]["previous_end"] == datetime.date(2025, 12, 31)
    assert dashboard["currency"] == "USD"
    assert [point["date"] for point in dashboard["revenue"]["data"]] == ["2026-01-01"]


# --- the overdue and review figures ------------------------------------------------------------


def test_overdue_and_review_are_read_at_both_moments():
    customer = buyer()
    with time_machine.travel(datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC), tick=False):
        late = issue_invoice(
            customer,
            [custom_draft("40.00")],
            due_date=datetime.datetime(2026, 3, 10, tzinfo=datetime.UTC),
        )
        issue_invoice(
            customer,
            [custom_draft("1.00")],
            due_date=datetime.datetime(2026, 3, 20, tzinfo=datetime.UTC),
        )
    Invoice.objects.filter(pk=late.pk).update(status=InvoiceStatus.OVERDUE, needs_review=True)
    Invoice.objects.exclude(pk=late.pk).update(
        status=InvoiceStatus.PAID, paid_at=datetime.datetime(2026, 3, 5, tzinfo=datetime.UTC)
    )
    moments = {
        "before": datetime.datetime(2026, 3, 5, tzinfo=datetime.UTC),
        "after": datetime.datetime(2026, 3, 31, tzinfo=datetime.UTC),
    }

    found = overdue_and_review(moments)

    assert found["before"] == {"overdue": {}, "needs_review": 1}
    assert found["after"] == {"overdue": {"EUR": Decimal("40.00")}, "needs_review": 1}


# --- a constant number of queries ----------------------------------------------------------------


def _more_rows(count: int) -> None:
    plan = monthly_plan()
    for _ in range(count):
        customer = buyer()
        invoice = issue_invoice(
            customer, [custom_draft("10.00")], due_date=timezone.now() - datetime.timedelta(days=1)
        )
        Invoice.objects.filter(pk=invoice.pk).update(
            status=InvoiceStatus.OVERDUE, needs_review=True
        )
        make_subscription(customer, plan, status=SubscriptionStatus.PAST_DUE)
        Subscription.objects.filter(user=customer).update(started_at=timezone.now())


def _queries_of_the_index(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(INDEX).status_code == 200
    return len(queries)


@pytest.mark.parametrize("plugin_enabled", [True, False])
def test_the_index_runs_as_many_queries_whatever_the_data(
    plugin_enabled, django_assert_max_num_queries
):
    if plugin_enabled:
        services.plugin_enable(name="analytics")
    client = Client()
    client.force_login(AdminFactory())
    _more_rows(2)
    small = _queries_of_the_index(client)
    _more_rows(15)

    with django_assert_max_num_queries(small):
        assert client.get(INDEX).status_code == 200
    assert small <= (40 if plugin_enabled else 25)


# --- the chart ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "points"),
    [
        ("day", ["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"]),
        ("week", ["2026-01-26", "2026-02-02", "2026-02-09", "2026-02-16", "2026-02-23"]),
        ("month", ["2026-02-01"]),
    ],
)
def test_the_chart_has_one_point_per_interval_with_the_apis_revenue(enabled, interval, points):
    end = {"day": "2026-02-04", "week": "2026-02-28", "month": "2026-02-28"}[interval]
    query = {"start": "2026-02-01", "end": end, "interval": interval}
    staff = AdminFactory()
    client, response = _staff_page(query, staff)
    canvas = re.search(r'<canvas class="chart"[^>]*data-value="([^"]*)"', response.content.decode())

    chart = json.loads(html.unescape(canvas.group(1)))
    api = client.get("/api/v1/admin/analytics/revenue", query, **bearer(staff)).json()
    assert chart["labels"] == points
    assert chart["labels"] == [point["date"] for point in api["data"]]
    assert chart["datasets"][0]["data"] == [point["value"] for point in api["data"]]

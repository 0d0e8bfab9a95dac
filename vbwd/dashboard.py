"""The back office's index page (UNFOLD["DASHBOARD_CALLBACK"]): the business figures of a period
with their change against the period before it, the revenue chart, the MRR movement, and the
lists of what needs attention.

The figures are the analytics plugin's, computed by the same functions as its API, so the page
and ``/api/v1/admin/analytics/dashboard`` show the same numbers for the same period and
currency. While the plugin is disabled the page says how to turn it on and shows the lists only.
The period and currency come from the query string, checked like the API's; a value the API
would refuse is replaced by the default, with a message saying so.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.urls import reverse
from django.utils import timezone

from billing.admin_dashboard import attention_lists, overdue_and_review
from billing.catalog.models import Currency
from billing.catalog.pricing import format_money
from plugins import state
from plugins.analytics import movement, selectors
from plugins.analytics.money import ZERO, Converter, change_percent
from plugins.analytics.periods import periods_for
from plugins.analytics.serializers import (
    Interval,
    RevenueQuerySerializer,
    dashboard_data,
    revenue_data,
)
from vbwd.exceptions import ValidationFailed

PLUGIN = "analytics"
CHART_COLOR = "var(--color-primary-600)"
MOVEMENT_TITLES = {
    "new": "New",
    "expansion": "Expansion",
    "contraction": "Contraction",
    "churn": "Churn",
}


def dashboard_callback(request, context: dict) -> dict:
    """Adds ``dashboard`` to the index page's context (see the module notes)."""
    enabled = state.is_enabled(PLUGIN)
    dashboard: dict = {
        "enabled": enabled,
        "attention": [_attention(item) for item in attention_lists()],
    }
    if enabled:
        dashboard.update(_figures(request))
    else:
        dashboard["plugins_url"] = reverse("admin:plugins_plugin_changelist")
    context["dashboard"] = dashboard
    return context


def _attention(item) -> dict:
    url = reverse(item.changelist)
    return {
        "key": item.key,
        "title": item.title,
        "count": item.count,
        "url": f"{url}?{urlencode(item.changelist_query)}",
        "rows": [_attention_row(row) for row in item.rows],
    }


def _attention_row(row) -> dict:
    meta = row._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
    if meta.model_name == "invoice":
        label = row.invoice_number
        detail = f"{row.total_amount} {row.currency}, due {row.due_date:%Y-%m-%d}"
    elif meta.model_name == "payment":
        label = row.invoice.invoice_number
        detail = f"{row.amount} {row.currency}: {row.failure_reason or 'failed'}"
    else:
        label = row.plan.name
        detail = f"expired {row.expires_at:%Y-%m-%d}" if row.expires_at else ""
    return {"url": url, "label": label, "customer": row.user.email, "detail": detail}


def _query(request) -> dict:
    """The period, interval and currency asked for; a refused value falls back to the default."""
    asked = {
        key: request.GET[key]
        for key in ("start", "end", "currency", "interval")
        if request.GET.get(key)
    }
    if not asked:
        return {}
    query = RevenueQuerySerializer(data=asked)
    if query.is_valid():
        return dict(query.validated_data)
    problems = "; ".join(
        f"{field}: {' '.join(str(error) for error in errors)}"
        for field, errors in query.errors.items()
    )
    messages.warning(request, f"{problems}. The default period and currency are shown.")
    return {}


def _figures(request) -> dict:
    query = _query(request)
    now = timezone.now()
    try:
        return _compute(query, now)
    except ValidationFailed as error:
        messages.warning(request, f"{error.message}. The default period and currency are shown.")
        return _compute({}, now)


def _compute(query: dict, now) -> dict:
    interval = query.get("interval") or Interval.DAY
    period = {key: query.get(key) for key in ("start", "end", "currency")}
    figures = selectors.dashboard(**period, now=now)
    api = dashboard_data(figures)
    revenue = revenue_data(selectors.revenue(**period, interval=interval, now=now))
    moves = movement.mrr_movement(**period, now=now)
    places, currency = figures["places"], figures["currency"]
    dates = figures["period"]
    return {
        "kpis": _kpis(api, figures, _core_figures(figures, now), places, currency),
        "api": api,
        "revenue": revenue,
        "revenue_total": format_money(figures["revenue"]["total"], places),
        "chart": json.dumps(_chart(revenue)),
        "movement": [
            {
                "key": kind,
                "title": MOVEMENT_TITLES[kind],
                "amount": format_money(moves[kind]["amount"], places),
                "customers": moves[kind]["customers"],
            }
            for kind in movement.KINDS
        ],
        "movement_start": format_money(moves["start_mrr"], places),
        "movement_end": format_money(moves["end_mrr"], places),
        "currency": currency,
        "period": dates,
        "interval": interval,
        "intervals": [value for value, _ in Interval.choices],
        "currencies": list(
            Currency.objects.filter(is_active=True).order_by("code").values_list("code", flat=True)
        ),
    }


def _core_figures(figures: dict, now) -> dict:
    """The overdue total (in the figures' currency) and the invoices waiting for review at the
    end of the period and of the previous one."""
    dates = figures["period"]
    periods = periods_for(start=dates["start"], end=dates["end"], now=now)
    moments = {"current": periods.current.end_at, "previous": periods.previous.end_at}
    found = overdue_and_review(moments)
    money = Converter(figures["currency"])
    overdue = {
        key: money.round(
            sum(
                (money.convert(amount, code) for code, amount in found[key]["overdue"].items()),
                ZERO,
            )
        )
        for key in moments
    }
    return {
        "overdue": {
            "total": overdue["current"],
            "change_percent": change_percent(overdue["current"], overdue["previous"]),
        },
        "needs_review": {
            "total": found["current"]["needs_review"],
            "change_percent": change_percent(
                found["current"]["needs_review"], found["previous"]["needs_review"]
            ),
        },
    }


KPI_CARDS = (
    ("mrr", "MRR", "money"),
    ("arr", "ARR", "money"),
    ("revenue", "Revenue", "money"),
    ("active_subscriptions", "Active subscriptions", "count"),
    ("churn", "Churn", "percent"),
    ("arpu", "ARPU", "money"),
)


def _kpis(api: dict, figures: dict, core: dict, places: int, currency: str) -> list[dict]:
    def shown(kind: str, total) -> str:
        if kind == "money":
            return f"{format_money(total, places)} {currency}"
        if kind == "percent":
            return f"{total}%"
        return str(total)

    cards = [
        {
            "key": key,
            "title": title,
            "value": api[key]["total"],
            "display": shown(kind, figures[key]["total"]),
            "change_percent": api[key]["change_percent"],
        }
        for key, title, kind in KPI_CARDS
    ]
    cards.append(
        {
            "key": "overdue",
            "title": "Overdue total",
            "value": core["overdue"]["total"],
            "display": shown("money", core["overdue"]["total"]),
            "change_percent": float(core["overdue"]["change_percent"]),
        }
    )
    cards.append(
        {
            "key": "needs_review",
            "title": "Invoices needing review",
            "value": core["needs_review"]["total"],
            "display": str(core["needs_review"]["total"]),
            "change_percent": float(core["needs_review"]["change_percent"]),
        }
    )
    return cards


def _chart(revenue: dict) -> dict:
    """Chart.js data for unfold's chart component (read from the canvas's data attribute)."""
    return {
        "labels": [point["date"] for point in revenue["data"]],
        "datasets": [
            {
                "label": f"Net revenue ({revenue['currency']})",
                "data": [point["value"] for point in revenue["data"]],
                "borderColor": CHART_COLOR,
                "backgroundColor": CHART_COLOR,
            }
        ],
    }

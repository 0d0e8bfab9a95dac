"""What an example shows of an answer when the whole of it would say less (each guide says so
where it uses one), and small helpers of the scenario."""

from __future__ import annotations

import datetime


def by(items: list[dict], key: str, value) -> dict:
    return next(item for item in items if item[key] == value)


def plugin_list(built_in: set[str]):
    """Only the plugins that ship with VBWD (the test settings add fixtures of their own)."""

    def show(body: dict) -> dict:
        return {**body, "plugins": [p for p in body["plugins"] if p["name"] in built_in]}

    return show


def first(key: str):
    """The list under ``key`` cut to its first item (the guide says so where it shows it)."""

    def show(body: dict) -> dict:
        return {**body, key: body[key][:1]}

    return show


def checkout_summary(body: dict) -> dict:
    """A checkout answer cut to the invoice's number, status and total, and the message."""
    invoice = body.get("invoice")
    if invoice is None:
        return body
    keys = ("id", "invoice_number", "status", "total_amount", "currency")
    return {"invoice": {key: invoice[key] for key in keys}, "message": body["message"]}


def invoice_numbers(body: dict) -> dict:
    """A page of invoices, each shown by its number and status only."""
    rows = [
        {"invoice_number": row["invoice_number"], "status": row["status"]}
        for row in body["invoices"]
    ]
    return {**body, "invoices": rows}


def days(count: int) -> datetime.timedelta:
    return datetime.timedelta(days=count)

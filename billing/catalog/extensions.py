"""Hooks through which higher apps (subscriptions, invoices, tokens) tell the catalog what uses
its rows, since the catalog may not import them. Each registers in its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# name -> callable(obj) -> int; a positive count blocks deletion.
_usage_counters: dict[str, list[Callable[[Any], int]]] = {
    "plan": [],  # subscriptions and invoice lines of the plan
    "addon": [],  # add-on subscriptions
    "currency": [],  # bundles, invoices (plans and add-ons are checked by the catalog itself)
    "payment_method": [],  # unpaid invoices or subscriptions using it
    "tax_rate": [],  # issued invoice lines carrying it
}
# callable(plans) -> {plan_id: number of TRIALING/ACTIVE/PAST_DUE/PAUSED subscriptions}
_subscriber_counter: Callable[[list], dict] | None = None
# callable(user) -> ids of plans on which the user holds a valid subscription
_subscribed_plans: Callable[[Any], set] | None = None


def register_usage_counter(kind: str, counter: Callable[[Any], int]) -> None:
    if counter not in _usage_counters[kind]:
        _usage_counters[kind].append(counter)


def unregister_usage_counter(kind: str, counter: Callable[[Any], int]) -> None:
    if counter in _usage_counters[kind]:
        _usage_counters[kind].remove(counter)


def usage_count(kind: str, obj) -> int:
    return sum(counter(obj) for counter in _usage_counters[kind])


def register_subscriber_counter(counter: Callable[[list], dict] | None) -> None:
    global _subscriber_counter
    _subscriber_counter = counter


def subscriber_counts(plans: list) -> dict:
    """One batch call for a page of plans."""
    return _subscriber_counter(plans) if _subscriber_counter is not None else {}


def register_subscribed_plans(provider: Callable[[Any], set] | None) -> None:
    global _subscribed_plans
    _subscribed_plans = provider


def subscribed_plan_ids(user) -> set:
    return _subscribed_plans(user) if _subscribed_plans is not None else set()

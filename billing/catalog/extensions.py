"""Questions through which higher apps (subscriptions, invoices, tokens) tell the catalog what uses
its rows, since the catalog may not import them. Each registers its answers in its
``AppConfig.ready()`` (``vbwd.extensions.Question``)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from vbwd.extensions import Question


@runtime_checkable
class UsageCounter(Protocol):
    """How many rows of the answering app use ``obj``; a positive count blocks deletion."""

    def __call__(self, obj: Any, /) -> int: ...


@runtime_checkable
class SubscriberCounter(Protocol):
    """``{plan_id: number of TRIALING/ACTIVE/PAST_DUE/PAUSED subscriptions}``, one batch call
    for a page of plans."""

    def __call__(self, plans: list, /) -> dict: ...


@runtime_checkable
class SubscribedPlans(Protocol):
    """Ids of the plans on which ``user`` holds a valid subscription."""

    def __call__(self, user: Any, /) -> set: ...


#: Subscriptions and invoice lines of the plan.
PLAN_USAGE: Question[UsageCounter] = Question("catalog.plan_usage", UsageCounter, many=True)
#: Add-on subscriptions and invoice lines of the add-on.
ADDON_USAGE: Question[UsageCounter] = Question("catalog.addon_usage", UsageCounter, many=True)
#: Bundles and invoices in the currency (plans and add-ons are checked by the catalog itself).
CURRENCY_USAGE: Question[UsageCounter] = Question("catalog.currency_usage", UsageCounter, many=True)
#: Unpaid invoices or subscriptions using the payment method.
PAYMENT_METHOD_USAGE: Question[UsageCounter] = Question(
    "catalog.payment_method_usage", UsageCounter, many=True
)
#: Issued invoice lines carrying the tax rate.
TAX_RATE_USAGE: Question[UsageCounter] = Question("catalog.tax_rate_usage", UsageCounter, many=True)
#: Answered by subscriptions; without it no plan has subscribers.
SUBSCRIBER_COUNTS: Question[SubscriberCounter] = Question(
    "catalog.subscriber_counts", SubscriberCounter, fallback=None
)
#: Answered by subscriptions; without it no user is subscribed to a plan.
SUBSCRIBED_PLANS: Question[SubscribedPlans] = Question(
    "catalog.subscribed_plans", SubscribedPlans, fallback=None
)

USAGE: dict[str, Question[UsageCounter]] = {
    "plan": PLAN_USAGE,
    "addon": ADDON_USAGE,
    "currency": CURRENCY_USAGE,
    "payment_method": PAYMENT_METHOD_USAGE,
    "tax_rate": TAX_RATE_USAGE,
}


def usage_count(kind: str, obj) -> int:
    """What uses ``obj`` (a ``kind`` of catalog row), summed over every answering app."""
    return sum(counter(obj) for counter in USAGE[kind].answers())


def subscriber_counts(plans: list) -> dict:
    """One batch call for a page of plans."""
    counter = SUBSCRIBER_COUNTS.answer()
    return counter(plans) if counter is not None else {}


def subscribed_plan_ids(user) -> set:
    provider = SUBSCRIBED_PLANS.answer()
    return provider(user) if provider is not None else set()

"""The one way a higher app answers a lower app's question (``vbwd.extensions.Question``)."""

from typing import Protocol, runtime_checkable

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from accounts import extensions as account_extensions
from billing.catalog import extensions as catalog_extensions
from billing.invoices import extensions as invoice_extensions
from vbwd.extensions import Question, Unanswered


@runtime_checkable
class Doubler(Protocol):
    def __call__(self, value: int, /) -> int: ...


@pytest.fixture
def starting_up(monkeypatch):
    """The app registry while AppConfig.ready() methods run."""
    monkeypatch.setattr(apps, "ready", False)


def double(value):
    return value * 2


def test_one_answer_question_returns_its_answer(starting_up):
    question = Question("test.double", Doubler)

    question.register(double)
    question.register(double)  # the same answer again (ready() run twice) changes nothing

    assert question.answer() is double
    assert question.answers() == (double,)


def test_a_second_answer_is_refused(starting_up):
    question = Question("test.double", Doubler)
    question.register(double)

    with pytest.raises(ImproperlyConfigured, match=r"test\.double has two answers"):
        question.register(lambda value: value + value)


def test_unanswered_question_without_fallback_raises():
    question = Question("test.double", Doubler)

    with pytest.raises(Unanswered, match=r"No installed app answers test\.double"):
        question.answer()


def test_unanswered_question_with_fallback_returns_it():
    assert Question("test.double", Doubler, fallback=None).answer() is None


def test_many_answer_question_collects_every_answer(starting_up):
    question = Question("test.counters", Doubler, many=True)
    triple = lambda value: value * 3  # noqa: E731

    question.register(double)
    question.register(triple)

    assert question.answers() == (double, triple)
    with pytest.raises(TypeError, match="use answers"):
        question.answer()


def test_answers_are_registered_only_while_apps_start():
    question = Question("test.double", Doubler)

    with pytest.raises(ImproperlyConfigured, match=r"registered in AppConfig\.ready\(\)"):
        question.register(double)
    assert question.answers() == ()


def test_an_answer_must_implement_the_protocol(starting_up):
    question = Question("test.double", Doubler)

    with pytest.raises(TypeError, match="does not implement Doubler"):
        question.register(42)


def test_answered_by_swaps_answers_for_a_block_only(starting_up):
    single = Question("test.double", Doubler)
    single.register(double)
    many = Question("test.counters", Doubler, many=True)
    many.register(double)
    replacement = lambda value: 0  # noqa: E731

    with single.answered_by(replacement), many.answered_by(replacement):
        assert single.answer() is replacement
        assert many.answers() == (double, replacement)

    assert single.answer() is double
    assert many.answers() == (double,)


def test_installed_apps_answer_the_core_questions():
    from billing.invoices import receivers as invoice_receivers
    from billing.subscriptions import hooks, receivers
    from tokens.selectors import bundle_count_in_currency
    from tokens.services import ledger

    assert catalog_extensions.PLAN_USAGE.answers() == (
        invoice_receivers._plan_usage,
        hooks._plan_usage,
    )
    assert bundle_count_in_currency in catalog_extensions.CURRENCY_USAGE.answers()
    assert catalog_extensions.SUBSCRIBER_COUNTS.answer() is hooks._subscriber_counts
    assert catalog_extensions.SUBSCRIBED_PLANS.answer() is hooks._subscribed_plans
    assert account_extensions.SUBSCRIPTION_SUMMARIES.answer() is hooks._summaries
    assert set(account_extensions.FINANCIAL_RECORDS.answers()) == {
        invoice_receivers._financial_records,
        receivers._subscription_count,
        ledger._financial_records,
    }
    assert account_extensions.PAID_INVOICE_COUNT.answer() is invoice_receivers._paid_invoice_count
    assert account_extensions.TOKEN_BALANCE_SETTER.answer() is ledger._set_balance_for_staff
    assert account_extensions.COUNTRY_LOOKUP.answer() is not None
    assert invoice_extensions.SUBSCRIPTION_FACTS.answer() is receivers._subscription_facts
    assert invoice_extensions.TOKEN_LEDGER.answer() is not None

"""The shared input field types of ``vbwd.fields``: what they accept, what they refuse and the
messages the error envelope carries."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import models
from rest_framework import serializers

from vbwd.exceptions import exception_handler
from vbwd.fields import (
    MoneyField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictDateField,
    StrictDecimalField,
    StrictIntegerField,
    UUIDField,
)


class Input(serializers.Serializer):
    invoice_id = UUIDField()
    amount = MoneyField(required=False)
    credit = MoneyField(required=False, allow_negative=True)
    force = StrictBooleanField(required=False, default=False)


def _errors(data, **context) -> dict:
    serializer = Input(data=data, context=context)
    assert not serializer.is_valid()
    return serializer.errors


def test_valid_input_becomes_typed_values():
    invoice_id = uuid.uuid4()
    serializer = Input(
        data={"invoice_id": str(invoice_id).upper(), "amount": "9.99", "force": True}
    )

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {
        "invoice_id": invoice_id,
        "amount": Decimal("9.99"),
        "force": True,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "invoice_id is required"),
        ({"invoice_id": None}, "invoice_id is required"),
        ({"invoice_id": ""}, "invoice_id is required"),
        ({"invoice_id": "abc"}, "Invalid invoice_id format"),
        ({"invoice_id": 12}, "Invalid invoice_id format"),
    ],
)
def test_a_missing_or_malformed_uuid_names_the_field(data, message):
    assert _errors(data) == {"invoice_id": [message]}


@pytest.mark.parametrize(
    ("amount", "places", "message"),
    [
        ("9.999", 2, "amount must have at most 2 decimal places"),
        ("1.5", 0, "amount must have at most 0 decimal places"),
        ("-1", 2, "amount cannot be negative"),
        ("ten", 2, "amount must be an amount"),
        (True, 2, "amount must be an amount"),
        ("NaN", 2, "amount must be an amount"),
    ],
)
def test_money_keeps_to_the_currency_places(amount, places, message):
    errors = _errors({"invoice_id": str(uuid.uuid4()), "amount": amount}, places=places)

    assert errors == {"amount": [message]}


def test_money_takes_json_numbers_and_the_currency_places_from_the_context():
    serializer = Input(
        data={"invoice_id": str(uuid.uuid4()), "amount": 12.5, "credit": "-3.125"},
        context={"places": 3},
    )

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["amount"] == Decimal("12.500")
    assert serializer.validated_data["credit"] == Decimal("-3.125")


@pytest.mark.parametrize("value", ["true", "1", 1, "yes", None])
def test_a_strict_boolean_is_json_true_or_false_only(value):
    errors = _errors({"invoice_id": str(uuid.uuid4()), "force": value})

    assert errors == {"force": ["force must be true or false"]}


def test_the_error_envelope_carries_the_first_message():
    serializer = Input(data={"invoice_id": "nope"})
    with pytest.raises(serializers.ValidationError) as caught:
        serializer.is_valid(raise_exception=True)

    response = exception_handler(caught.value, {})

    assert response.status_code == 400
    assert response.data == {
        "error": "Invalid invoice_id format",
        "code": "validation_error",
        "errors": {"invoice_id": ["Invalid invoice_id format"]},
    }


class Counts(serializers.Serializer):
    title = StrictCharField(max_length=5)
    note = StrictCharField(required=False, null_as_empty=True, allow_blank=True)
    days = StrictIntegerField(required=False, min_value=0, max_value=30)
    position = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=10,
        accept_integral=True,
        error_messages={
            "invalid": "{name} must be a whole number from {min_value} to {max_value}",
            "range": "{name} must be a whole number from {min_value} to {max_value}",
        },
    )
    enabled = StrictBooleanField(required=False, accept_strings=True)


def _count_errors(data) -> dict:
    serializer = Counts(data=data)
    assert not serializer.is_valid()
    return serializer.errors


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({}, {"title": ["title is required"]}),
        ({"title": 5}, {"title": ["title must be a string"]}),
        ({"title": None}, {"title": ["title must be a string"]}),
        ({"title": "  "}, {"title": ["title cannot be empty"]}),
        ({"title": "toolong"}, {"title": ["title must be at most 5 characters"]}),
        ({"title": "a", "days": "3"}, {"days": ["days must be an integer"]}),
        ({"title": "a", "days": True}, {"days": ["days must be an integer"]}),
        ({"title": "a", "days": 31}, {"days": ["days must be an integer between 0 and 30"]}),
        (
            {"title": "a", "position": "1.5"},
            {"position": ["position must be a whole number from 1 to 10"]},
        ),
        (
            {"title": "a", "position": 11},
            {"position": ["position must be a whole number from 1 to 10"]},
        ),
        ({"title": "a", "enabled": "maybe"}, {"enabled": ["enabled must be true or false"]}),
        ({"title": "a", "enabled": None}, {"enabled": ["enabled must be true or false"]}),
    ],
)
def test_strict_text_integers_and_flags_name_the_field(data, errors):
    assert _count_errors(data) == errors


def test_strict_fields_return_typed_values():
    serializer = Counts(
        data={"title": " ab ", "note": None, "days": 0, "position": "4.0", "enabled": "YES"}
    )

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {
        "title": "ab",
        "note": "",
        "days": 0,
        "position": 4,
        "enabled": True,
    }


class Period(models.TextChoices):
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"


class Numbers(serializers.Serializer):
    rate = StrictDecimalField(
        required=False,
        max_places=2,
        max_digits=5,
        min_value=Decimal(0),
        max_value=Decimal(100),
        range_first=True,
        error_messages={
            "min_value": "{name} must be between 0 and 100",
            "max_value": "{name} must be between 0 and 100",
        },
    )
    exchange_rate = StrictDecimalField(
        required=False,
        max_places=6,
        max_digits=18,
        min_value=Decimal(0),
        min_exclusive=True,
        max_value=Decimal(1000),
        error_messages={"min_value": "{name} must be greater than 0"},
    )
    valid_from = StrictDateField(required=False, allow_null=True, blank_as_null=True)
    period = StrictChoiceField(Period, required=False)
    price = MoneyField(
        required=False,
        negative_first=True,
        quantize=False,
        places=2,
        error_messages={"negative": "Price cannot be negative"},
    )
    plan_id = UUIDField(required=False, blank_as_null=True)


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"rate": "100.001"}, {"rate": ["rate must be between 0 and 100"]}),
        ({"rate": "19.125"}, {"rate": ["rate must have at most 2 decimal places"]}),
        ({"rate": True}, {"rate": ["rate must be a number"]}),
        ({"rate": ""}, {"rate": ["rate must be a number"]}),
        ({"exchange_rate": 0}, {"exchange_rate": ["exchange_rate must be greater than 0"]}),
        (
            {"exchange_rate": "2000.1234567"},
            {"exchange_rate": ["exchange_rate must have at most 6 decimal places"]},
        ),
        ({"exchange_rate": "2000"}, {"exchange_rate": ["exchange_rate is too large"]}),
        ({"valid_from": "2025-02-30"}, {"valid_from": ["valid_from must be a date (YYYY-MM-DD)"]}),
        ({"period": "hourly"}, {"period": ["Unknown period: hourly"]}),
        ({"price": "-1.999"}, {"price": ["Price cannot be negative"]}),
        ({"price": "1.999"}, {"price": ["price must have at most 2 decimal places"]}),
    ],
)
def test_decimal_date_choice_and_money_options(data, errors):
    serializer = Numbers(data=data)

    assert not serializer.is_valid()
    assert serializer.errors == errors


def test_decimal_date_choice_and_money_values():
    serializer = Numbers(
        data={
            "rate": 19,
            "exchange_rate": "1.0800000",
            "valid_from": "",
            "period": " monthly ",
            "price": "9.5",
            "plan_id": "",
        }
    )

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {
        "rate": Decimal("19.00"),
        "exchange_rate": Decimal("1.080000"),
        "valid_from": None,
        "period": "MONTHLY",
        "price": Decimal("9.5"),
        "plan_id": None,
    }

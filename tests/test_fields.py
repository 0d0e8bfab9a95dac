"""The shared input field types of ``vbwd.fields``: what they accept, what they refuse and the
messages the error envelope carries."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import models
from rest_framework import serializers

from vbwd.exceptions import exception_handler
from vbwd.fields import (
    DateOrDateTimeField,
    MoneyField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictDateField,
    StrictDateTimeField,
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


# --- characters, digits and ranges -------------------------------------------------------------


class Texts(serializers.Serializer):
    name = StrictCharField(required=False, max_length=20)
    description = StrictCharField(required=False, multiline=True)
    password = StrictCharField(required=False, secret=True)


def _text_errors(data) -> dict:
    serializer = Texts(data=data)
    assert not serializer.is_valid()
    return serializer.errors


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("\x01", "name contains a control character"),
        ("red\x1b[31m", "name contains a control character"),
        ("a\x7fb", "name contains a control character"),
        ("a\x85b", "name contains a control character"),  # C1 NEL inside the text
        ("a\nb", "name contains a control character"),  # single-line: no line break
        ("a\tb", "name contains a control character"),
        ("a\x00b", "name contains a NUL character"),
        ("a\ud800b", "name contains a lone surrogate, which is not valid Unicode"),
        ("\udfff", "name contains a lone surrogate, which is not valid Unicode"),
        ("\u202eevil", "name contains a bidirectional formatting character"),
        ("a\u202ab", "name contains a bidirectional formatting character"),
        ("a\u2066b\u2069", "name contains a bidirectional formatting character"),
        ("a\u200bb", "name contains an invisible character"),
        ("a\u2060b", "name contains an invisible character"),
        ("a\ufeffb", "name contains an invisible character"),
        ("a\u2028b", "name contains an invisible character"),
    ],
)
def test_single_line_text_refuses_control_bidi_and_invisible_characters(value, message):
    assert _text_errors({"name": value}) == {"name": [message]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\x01b", "description contains a control character"),
        ("a\x0bb", "description contains a control character"),  # vertical tab
        ("a\u202eb", "description contains a bidirectional formatting character"),
        ("a\ufeffb", "description contains an invisible character"),
        ("a\x00b", "description contains a NUL character"),
    ],
)
def test_multi_line_text_refuses_the_same_but_line_breaks_and_tabs(value, message):
    assert _text_errors({"description": value}) == {"description": [message]}


def test_multi_line_text_keeps_line_breaks_tabs_and_the_zero_width_space():
    text = "Line one\r\n\tLine two\nคำ\u200bไทย"
    serializer = Texts(data={"description": f"  {text}\n"})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"description": text}


@pytest.mark.parametrize(
    "value",
    [
        "👨\u200d👩\u200d👧",  # a family emoji is joined with ZWJ
        "می\u200cخواهم",  # Persian needs the zero-width non-joiner
        "\u05e9\u05dc\u05d5\u05dd \u200fok",  # Hebrew with a right-to-left mark
        "Zoë Ørsted-Łukasz",
    ],
)
def test_joiners_marks_and_letters_of_every_script_are_text(value):
    serializer = Texts(data={"name": value})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"name": value}


def test_text_is_trimmed_of_every_white_space_before_its_length_is_counted():
    serializer = Texts(data={"name": "\u00a0\u3000 " + "x" * 20 + "\t\n"})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"name": "x" * 20}


def test_a_secret_is_kept_as_sent_and_refuses_only_what_cannot_be_stored():
    serializer = Texts(data={"password": " p\u202ea\x01ss "})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"password": " p\u202ea\x01ss "}
    assert _text_errors({"password": "a\x00"}) == {
        "password": ["password contains a NUL character"]
    }


def test_a_text_field_cannot_be_told_not_to_trim():
    with pytest.raises(TypeError, match="secret=True"):
        StrictCharField(trim_whitespace=False)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1e309", "amount must be a number with at most 8 digits before the decimal point"),
        ("1" * 27, "amount must be a number with at most 8 digits before the decimal point"),
        ("123456789", "amount must be a number with at most 8 digits before the decimal point"),
        (1e300, "amount must be a number with at most 8 digits before the decimal point"),
        (2**64, "amount must be a number with at most 8 digits before the decimal point"),
        ("1e999999999", "amount must be a number with at most 8 digits before the decimal point"),
        ("NaN", "amount must be an amount"),
        ("-Infinity", "amount must be an amount"),
        ("sNaN", "amount must be an amount"),
        (float("inf"), "amount must be an amount"),
        ("1_000", "amount must be an amount"),
        ("0x1A", "amount must be an amount"),
        ("\u0661\u0662\u0663", "amount must use ASCII digits"),  # Arabic-Indic 123
        ("\uff11\uff12", "amount must use ASCII digits"),  # full-width 12
        ("\u0967.50", "amount must use ASCII digits"),  # Devanagari 1
        ([], "amount must be an amount"),
    ],
)
def test_money_takes_ascii_digits_within_the_columns(amount, message):
    assert _errors({"invoice_id": str(uuid.uuid4()), "amount": amount}) == {"amount": [message]}


@pytest.mark.parametrize(
    ("amount", "expected"), [("-0", "0.00"), ("-0.00", "0.00"), (-0.0, "0.00")]
)
def test_money_reads_negative_zero_as_zero(amount, expected):
    serializer = Input(data={"invoice_id": str(uuid.uuid4()), "amount": amount})

    assert serializer.is_valid(), serializer.errors
    assert str(serializer.validated_data["amount"]) == expected


def test_money_takes_the_largest_amount_the_columns_hold():
    serializer = Input(data={"invoice_id": str(uuid.uuid4()), "amount": "99999999.99"})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["amount"] == Decimal("99999999.99")


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"title": "a", "days": 2**63}, {"days": ["days must be an integer between 0 and 30"]}),
        (
            {"title": "a", "position": "\u0663"},
            {"position": ["position must use ASCII digits"]},
        ),
        (
            {"title": "a", "position": "1e999999999"},
            {"position": ["position must be a whole number from 1 to 10"]},
        ),
        (
            {"title": "a", "position": "1_0"},
            {"position": ["position must be a whole number from 1 to 10"]},
        ),
    ],
)
def test_integers_take_ascii_digits_within_their_bounds(data, errors):
    assert _count_errors(data) == errors


class Unbounded(serializers.Serializer):
    amount = StrictIntegerField(required=False)
    balance = StrictIntegerField(
        required=False, min_value=0, error_messages={"range": "balance must be non-negative"}
    )


INTEGER_COLUMN = "must be an integer between -2147483648 and 2147483647"


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"amount": 2**31}, {"amount": [f"amount {INTEGER_COLUMN}"]}),
        ({"amount": -(2**31) - 1}, {"amount": [f"amount {INTEGER_COLUMN}"]}),
        ({"amount": 2**64}, {"amount": [f"amount {INTEGER_COLUMN}"]}),
        ({"balance": -1}, {"balance": ["balance must be non-negative"]}),
        ({"balance": 2**63}, {"balance": ["balance must be an integer between 0 and 2147483647"]}),
    ],
)
def test_an_integer_without_bounds_is_held_to_an_integer_column(data, errors):
    serializer = Unbounded(data=data)

    assert not serializer.is_valid()
    assert serializer.errors == errors


def test_an_integer_column_holds_its_extremes():
    serializer = Unbounded(data={"amount": -(2**31), "balance": 2**31 - 1})

    assert serializer.is_valid(), serializer.errors


INVALID_ID = "Invalid plan_id format"


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"rate": "1" * 27}, {"rate": ["rate must be between 0 and 100"]}),
        ({"rate": "\u0661\u0669"}, {"rate": ["rate must use ASCII digits"]}),
        ({"rate": "Infinity"}, {"rate": ["rate must be a number"]}),
        (
            {"exchange_rate": "1e999999999"},
            {"exchange_rate": ["exchange_rate is too large"]},
        ),
        (
            {"exchange_rate": "1e-999999999"},
            {"exchange_rate": ["exchange_rate must have at most 6 decimal places"]},
        ),
        ({"valid_from": "0000-01-01"}, {"valid_from": ["valid_from must be a date (YYYY-MM-DD)"]}),
        ({"valid_from": "10000-01-01"}, {"valid_from": ["valid_from must be a date (YYYY-MM-DD)"]}),
        ({"valid_from": "20250131"}, {"valid_from": ["valid_from must be a date (YYYY-MM-DD)"]}),
        (
            {"valid_from": "\u0662\u0660\u0662\u0665-01-31"},
            {"valid_from": ["valid_from must be a date (YYYY-MM-DD)"]},
        ),
        (
            {"valid_from": "1899-12-31"},
            {"valid_from": ["valid_from must be between 1900-01-01 and 9998-12-31"]},
        ),
        (
            {"valid_from": "9999-12-31"},
            {"valid_from": ["valid_from must be between 1900-01-01 and 9998-12-31"]},
        ),
        ({"plan_id": "\u0661" * 8 + "-1234-1234-1234-123456789012"}, {"plan_id": [INVALID_ID]}),
        ({"plan_id": "12345678_1234-1234-1234-123456789012"}, {"plan_id": [INVALID_ID]}),
    ],
)
def test_decimals_dates_and_ids_take_ascii_within_their_ranges(data, errors):
    serializer = Numbers(data=data)

    assert not serializer.is_valid()
    assert serializer.errors == errors


def test_a_decimal_reads_negative_zero_as_zero():
    serializer = Numbers(data={"rate": "-0"})

    assert serializer.is_valid(), serializer.errors
    assert str(serializer.validated_data["rate"]) == "0.00"


class Moments(serializers.Serializer):
    paid_at = StrictDateTimeField(required=False)
    since = DateOrDateTimeField()


OUT_OF_RANGE = "must be between 1900-01-01 and 9998-12-31"
NOT_A_BOUND = "must be a date (YYYY-MM-DD) or a datetime"
NOT_A_MOMENT = "paid_at must be a datetime"


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"paid_at": "0000-01-01T00:00:00Z"}, {"paid_at": ["paid_at must be a datetime"]}),
        ({"paid_at": "0001-01-01T00:00:00+01:00"}, {"paid_at": [f"paid_at {OUT_OF_RANGE}"]}),
        ({"paid_at": "9999-12-31T23:59:59-14:00"}, {"paid_at": [f"paid_at {OUT_OF_RANGE}"]}),
        ({"paid_at": "10000-01-01T00:00:00Z"}, {"paid_at": ["paid_at must be a datetime"]}),
        ({"paid_at": "\u0662\u0660\u0662\u0665-01-01T00:00Z"}, {"paid_at": [NOT_A_MOMENT]}),
        ({"paid_at": 1700000000}, {"paid_at": ["paid_at must be a datetime"]}),
        ({"since": "0000-01-01"}, {"since": [f"since {NOT_A_BOUND}"]}),
        ({"since": "9999-12-31"}, {"since": [f"since {OUT_OF_RANGE}"]}),
        ({"since": "\u0662\u0660\u0662\u0665-01-01"}, {"since": [f"since {NOT_A_BOUND}"]}),
    ],
)  # fmt: skip
def test_datetimes_and_period_bounds_take_ascii_within_the_range(data, errors):
    serializer = Moments(data=data)

    assert not serializer.is_valid()
    assert serializer.errors == errors


def test_datetimes_and_period_bounds_at_the_ends_of_the_range():
    serializer = Moments(data={"paid_at": " 1900-01-01T00:00:00Z ", "since": "9998-12-31"})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {
        "paid_at": datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC),
        "since": datetime.date(9998, 12, 31),
    }

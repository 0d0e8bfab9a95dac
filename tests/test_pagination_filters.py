"""Pagination and query-parameter parsing: vbwd/pagination.py, vbwd/filters.py."""

from __future__ import annotations

import uuid

import pytest
from django.http import QueryDict
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import User, UserStatus
from accounts.tests.factories import UserFactory
from vbwd.exceptions import ValidationFailed, exception_handler
from vbwd.filters import normalise_enum, parse_bool, parse_uuid
from vbwd.pagination import PAGE_KEYS, Window, is_requested, page_serializer, paginate


def _meta(total, page, per_page, pages, offset):
    return {
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": pages,
        "limit": per_page,
        "offset": offset,
    }


@pytest.fixture
def twelve_users(db):
    UserFactory.create_batch(12)
    return User.objects.order_by("email")


# Pagination: window arithmetic


@pytest.mark.parametrize("query", [{}, QueryDict(""), {"page": "", "per_page": "", "limit": ""}])
def test_defaults_are_page_one_of_twenty(query):
    window = Window.from_query(query)

    assert window == Window(offset=0, per_page=20)


@pytest.mark.parametrize(
    ("query_string", "offset", "per_page"),
    [
        ("page=3&per_page=10", 20, 10),
        ("page=1&per_page=1", 0, 1),
        ("per_page=0", 0, 1),
        ("per_page=-7", 0, 1),
        ("per_page=100", 0, 100),
        ("per_page=101", 0, 100),
        ("page=2&per_page=5000", 100, 100),
        ("page=0", 0, 20),
        ("page=-4&per_page=5", 0, 5),
    ],
)
def test_page_mode_clamps_page_and_size(query_string, offset, per_page):
    window = Window.from_query(QueryDict(query_string))

    assert window == Window(offset=offset, per_page=per_page)


@pytest.mark.parametrize(
    ("query_string", "offset", "per_page"),
    [
        ("limit=10&offset=30", 30, 10),
        ("limit=10", 0, 10),
        ("offset=45", 45, 20),
        ("limit=0&offset=3", 3, 1),
        ("limit=-1", 0, 1),
        ("limit=250&offset=0", 0, 100),
        ("limit=5&offset=-9", 0, 5),
    ],
)
def test_offset_mode_clamps_limit_and_offset(query_string, offset, per_page):
    window = Window.from_query(QueryDict(query_string))

    assert window == Window(offset=offset, per_page=per_page)


@pytest.mark.parametrize(
    ("query", "offset", "per_page"),
    [
        # page given: page mode, offset and limit are ignored
        ({"page": "2", "offset": "50"}, 20, 20),
        ({"page": "2", "limit": "5", "offset": "50"}, 20, 20),
        # per_page given: page mode too
        ({"per_page": "5", "offset": "50"}, 0, 5),
        ({"per_page": "5", "limit": "10"}, 0, 5),
        # empty page/per_page mean "not given": offset mode
        ({"page": "", "per_page": "", "limit": "4", "offset": "8"}, 8, 4),
    ],
)
def test_mode_is_offset_only_without_page_and_per_page(query, offset, per_page):
    window = Window.from_query(query)

    assert window == Window(offset=offset, per_page=per_page)


@pytest.mark.parametrize(
    ("name", "raw"),
    [("page", "abc"), ("per_page", "1.5"), ("limit", "ten"), ("offset", "0x10")],
)
def test_non_integer_parameter_is_a_validation_error(name, raw):
    with pytest.raises(ValidationFailed) as caught:
        Window.from_query({name: raw})

    error = caught.value
    assert error.status_code == 400
    assert error.payload() == {
        "error": f"{name} must be an integer",
        "code": "validation_error",
        "errors": {name: [f"{name} must be an integer"]},
    }


@pytest.mark.parametrize(
    ("window", "total", "expected"),
    [
        (Window(offset=0, per_page=20), 0, _meta(0, 1, 20, 0, 0)),
        (Window(offset=0, per_page=5), 10, _meta(10, 1, 5, 2, 0)),
        (Window(offset=5, per_page=5), 11, _meta(11, 2, 5, 3, 5)),
        (Window(offset=0, per_page=100), 1, _meta(1, 1, 100, 1, 0)),
        # offset mode: page = floor(offset / limit) + 1
        (Window(offset=7, per_page=5), 12, _meta(12, 2, 5, 3, 7)),
        (Window(offset=4, per_page=5), 12, _meta(12, 1, 5, 3, 4)),
        (Window(offset=10, per_page=5), 12, _meta(12, 3, 5, 3, 10)),
        (Window(offset=999, per_page=10), 3, _meta(3, 100, 10, 1, 999)),
    ],
)
def test_meta_has_the_superset_of_keys(window, total, expected):
    assert window.meta(total) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, False),
        ({"page": "", "per_page": "", "limit": "", "offset": ""}, False),
        ({"search": "ann", "status": "active"}, False),
        ({"page": "1"}, True),
        ({"per_page": "5"}, True),
        ({"limit": "5"}, True),
        ({"offset": "0"}, True),
        (QueryDict("offset=0"), True),
        (QueryDict("page="), False),
    ],
)
def test_is_requested_only_when_a_pagination_parameter_has_a_value(query, expected):
    assert is_requested(query) is expected


# Pagination: a real queryset


def test_page_mode_returns_the_requested_slice(twelve_users, django_assert_num_queries):
    everyone = list(twelve_users.all())

    with django_assert_num_queries(2):
        rows, meta = paginate(QueryDict("page=2&per_page=5"), twelve_users)

    assert rows == everyone[5:10]
    assert meta == _meta(12, 2, 5, 3, 5)


def test_last_partial_page(twelve_users):
    everyone = list(twelve_users.all())

    rows, meta = paginate({"page": "3", "per_page": "5"}, twelve_users)

    assert rows == everyone[10:12]
    assert meta == _meta(12, 3, 5, 3, 10)


def test_offset_mode_returns_rows_from_the_offset(twelve_users):
    everyone = list(twelve_users.all())

    rows, meta = paginate(QueryDict("limit=4&offset=7"), twelve_users)

    assert rows == everyone[7:11]
    assert meta == _meta(12, 2, 4, 3, 7)


def test_defaults_return_everything_up_to_twenty(twelve_users):
    rows, meta = paginate({}, twelve_users)

    assert rows == list(twelve_users.all())
    assert meta == _meta(12, 1, 20, 1, 0)


def test_page_past_the_end_is_an_empty_list(twelve_users):
    rows, meta = paginate({"page": "9", "per_page": "5"}, twelve_users)

    assert rows == []
    assert meta == _meta(12, 9, 5, 3, 40)


def test_offset_past_the_end_is_an_empty_list(twelve_users):
    rows, meta = paginate({"limit": "5", "offset": "12"}, twelve_users)

    assert rows == []
    assert meta == _meta(12, 3, 5, 3, 12)


@pytest.mark.django_db
def test_empty_queryset_has_zero_pages():
    rows, meta = paginate({"page": "1"}, User.objects.none())

    assert rows == []
    assert meta == _meta(0, 1, 20, 0, 0)


def test_paginate_refuses_a_non_integer_before_querying(twelve_users, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(ValidationFailed) as caught:
        paginate(QueryDict("per_page=many"), twelve_users)

    assert caught.value.message == "per_page must be an integer"


# Filters: value parsing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ACTIVE", "ACTIVE"),
        ("active", "ACTIVE"),
        ("Suspended", "SUSPENDED"),
        ("  pending ", "PENDING"),
        ("deleted", "DELETED"),
        ("bogus", None),
        ("", None),
        ("canceled", None),  # the alias only helps when CANCELLED is a choice
    ],
)
def test_normalise_enum_against_text_choices(raw, expected):
    assert normalise_enum(raw, UserStatus) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("canceled", "CANCELLED"),
        ("CANCELED", "CANCELLED"),
        ("Canceled", "CANCELLED"),
        ("cancelled", "CANCELLED"),
        ("paused", "PAUSED"),
        ("active", None),
    ],
)
def test_normalise_enum_accepts_the_canceled_alias(raw, expected):
    assert normalise_enum(raw, ["PAUSED", "CANCELLED"]) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        (" true ", True),
        (True, True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("NO", False),
        (False, False),
        (None, None),
        ("", None),
    ],
)
def test_parse_bool_values(raw, expected):
    assert parse_bool(raw, name="flag") is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "on"])
def test_parse_bool_refuses_other_values(raw):
    with pytest.raises(ValidationFailed) as caught:
        parse_bool(raw, name="is_active")

    assert caught.value.payload() == {
        "error": "is_active must be true or false",
        "code": "validation_error",
        "errors": {"is_active": ["is_active must be true or false"]},
    }


def test_parse_uuid_reads_any_case():
    value = uuid.uuid4()

    assert parse_uuid(str(value), name="user_id") == value
    assert parse_uuid(str(value).upper(), name="user_id") == value


@pytest.mark.parametrize("raw", [None, ""])
def test_parse_uuid_empty_is_not_given(raw):
    assert parse_uuid(raw, name="user_id") is None


@pytest.mark.parametrize("raw", ["123", "not-a-uuid", "0000-0000"])
def test_parse_uuid_refuses_non_uuids(raw):
    with pytest.raises(ValidationFailed) as caught:
        parse_uuid(raw, name="user_id")

    assert caught.value.payload() == {
        "error": "user_id must be a valid UUID",
        "code": "validation_error",
        "errors": {"user_id": ["user_id must be a valid UUID"]},
    }


def test_a_field_error_through_drf_becomes_the_validation_envelope():
    # given a list request whose query parameters failed a field check
    request = Request(APIRequestFactory().get("/api/v1/admin/users", {"status": "X"}))
    error = drf.ValidationError({"status": ["Unknown status: X"]})

    # when
    response = exception_handler(error, {"request": request})

    # then the client gets 400 validation_error "Unknown status: X"
    assert response.status_code == 400
    assert response.data == {
        "error": "Unknown status: X",
        "code": "validation_error",
        "errors": {"status": ["Unknown status: X"]},
    }


@pytest.mark.django_db
def test_an_absurd_page_number_is_an_empty_page_not_an_error():
    from accounts.models import User
    from vbwd.pagination import paginate

    UserFactory()

    rows, meta = paginate({"page": "100000000000000000000"}, User.objects.order_by("pk"))

    assert rows == []
    assert (meta["total"], meta["page"], meta["pages"]) == (1, 10**20, 1)


# The page envelope of the schema


class _ItemSerializer(serializers.Serializer):
    name = serializers.CharField()


def test_page_serializer_lists_the_items_then_every_page_key():
    envelope = page_serializer("ThingPageSerializer", items="things", item=_ItemSerializer)

    fields = envelope().fields

    assert envelope.__name__ == "ThingPageSerializer"
    assert list(fields) == ["things", "total", "page", "per_page", "pages", "limit", "offset"]
    assert isinstance(fields["things"].child, _ItemSerializer)
    assert all(field.required for name, field in fields.items() if name != "things")


def test_page_serializer_of_a_list_paged_on_request_has_optional_page_keys():
    envelope = page_serializer(
        "ThingListSerializer", items="things", item=_ItemSerializer, always_paged=False
    )

    fields = envelope().fields

    assert fields["total"].required
    assert [name for name, field in fields.items() if not field.required] == [
        "page",
        "per_page",
        "pages",
        "limit",
        "offset",
    ]
    assert fields["pages"].help_text == "only when paginated"


def test_page_keys_are_the_keys_of_the_meta():
    assert list(Window(offset=0, per_page=10).meta(0)) == ["total", *PAGE_KEYS]

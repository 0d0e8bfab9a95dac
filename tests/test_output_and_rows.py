"""The kernel's response serializers (fields built once per class) and one-row reads."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from rest_framework import serializers

from accounts.models import UserDetails
from accounts.tests.factories import UserFactory
from tokens.models import TokenBalance
from vbwd.output import OutputModelSerializer, OutputSerializer
from vbwd.rows import row_by


class _Greeting(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return instance

    def to_representation(self, value):
        return f"{self.context['greeting']} {value['name']}"


class _Item(OutputSerializer):
    name = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    greeting = _Greeting()


class _Order(OutputSerializer):
    number = serializers.IntegerField()
    items = _Item(many=True)
    best = _Item()


class _Details(OutputModelSerializer):
    class Meta:
        model = UserDetails
        fields = ["id", "first_name", "balance", "config"]
        read_only_fields = fields


ORDER = {
    "number": 7,
    "items": [{"name": "a", "tags": ["x"]}, {"name": "b", "tags": []}],
    "best": {"name": "a", "tags": ["x"]},
}


def test_output_serializers_render_what_drf_renders():
    hello = _Order(ORDER, context={"greeting": "hello"}).data

    assert hello == {
        "number": 7,
        "items": [
            {"name": "a", "tags": ["x"], "greeting": "hello a"},
            {"name": "b", "tags": [], "greeting": "hello b"},
        ],
        "best": {"name": "a", "tags": ["x"], "greeting": "hello a"},
    }


def test_each_instance_has_its_own_fields_bound_to_it():
    first, second = (
        _Order(ORDER, context={"greeting": "hi"}),
        _Order(ORDER, context={"greeting": "yo"}),
    )

    for name in ("number", "items", "best"):
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
    # Both built before either renders: each field reads its own instance's context.
    assert first.data["best"]["greeting"] == "hi a"
    assert second.data["best"]["greeting"] == "yo a"
    assert first.fields["best"].fields["tags"] is not second.fields["best"].fields["tags"]


def test_fields_are_built_once_per_class():
    _Order(ORDER).fields  # noqa: B018
    prototypes = _Order.__dict__["_output_field_prototypes"]

    _Order(ORDER).fields  # noqa: B018

    assert _Order.__dict__["_output_field_prototypes"] is prototypes
    assert all(field.parent is None for field in prototypes.values())


@pytest.mark.django_db
def test_output_model_serializer_builds_the_model_fields():
    details = UserFactory().details
    details.first_name = "Ada"
    details.config = {"theme": "dark"}

    data = _Details(details).data

    assert data == {
        "id": str(details.pk),
        "first_name": "Ada",
        "balance": "0.00",
        "config": {"theme": "dark"},
    }
    assert type(_Details().fields["balance"]) is serializers.DecimalField


@pytest.mark.django_db
def test_row_by_reads_what_the_orm_reads():
    user = UserFactory()
    UserDetails.objects.filter(user=user).update(first_name="Ada", balance=Decimal("3.50"))
    TokenBalance.objects.create(user=user, balance=12)

    details = row_by(UserDetails, "user", user.pk)
    expected = UserDetails.objects.get(user=user)

    for field in UserDetails._meta.concrete_fields:
        assert getattr(details, field.attname) == getattr(expected, field.attname), field.name
    assert details._state.adding is False
    assert isinstance(details.pk, type(expected.pk))
    assert row_by(TokenBalance, "user", user.pk).balance == 12
    assert row_by(TokenBalance, "user", uuid.uuid4()) is None

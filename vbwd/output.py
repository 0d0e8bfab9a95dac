"""Response serializers whose fields are built once per class.

DRF builds a serializer's fields anew for every instance: a ``ModelSerializer`` inspects its
model and constructs each field from the column's options, a plain ``Serializer`` re-creates each
declared field from its arguments. For a serializer that only renders responses nothing of that
depends on the instance, so ``OutputFieldsMixin`` builds the fields the first time the class is
used and gives each instance copies of them: the same classes and options, hence the same
output and the same OpenAPI schema, for a fraction of the cost.

Leaf fields are copied shallowly (a new object with the same attributes; binding then sets the
instance's name and parent on the copy). Fields that hold other fields (nested serializers,
``many=True`` lists, ``ListField`` and ``DictField`` children) are deep-copied as DRF does, so
each instance has its own tree; a nested serializer that uses the mixin builds its own fields
the cheap way in turn. The copies share their containers (validators, error messages, choices)
with the class's prototypes, so the mixin is for serializers that render only: a serializer
that validates input or edits its fields' messages in place keeps DRF's own ``get_fields``.
"""

from __future__ import annotations

import copy

from rest_framework import serializers
from rest_framework.fields import Field

_PROTOTYPES = "_output_field_prototypes"


def _copy(field: Field) -> Field:
    if (
        isinstance(field, serializers.BaseSerializer)
        or hasattr(field, "child")
        or hasattr(field, "child_relation")
    ):
        return copy.deepcopy(field)
    clone = object.__new__(field.__class__)
    clone.__dict__.update(field.__dict__)
    return clone


# No docstrings on these classes: drf-spectacular would take one as the description of every
# serializer without its own.


class OutputFieldsMixin:
    # Put before the DRF serializer class in the bases of a response serializer: its fields
    # are built once per class, each instance gets copies.

    def get_fields(self) -> dict[str, Field]:
        cls = type(self)
        prototypes = cls.__dict__.get(_PROTOTYPES)
        if prototypes is None:
            # Built unbound from the class alone (Meta and declared fields); a race between two
            # threads builds the same set twice, and either one is kept.
            prototypes = super().get_fields()
            setattr(cls, _PROTOTYPES, prototypes)
        return {name: _copy(field) for name, field in prototypes.items()}


class OutputSerializer(OutputFieldsMixin, serializers.Serializer):
    pass


class OutputModelSerializer(OutputFieldsMixin, serializers.ModelSerializer):
    pass

"""Input fields of the subscription endpoints that the shared types in ``vbwd.fields`` do not
cover: values the service resolves itself (ids it looks up, an amount it parses, a code) pass
through unchanged, for the service to report in its order, and the status filters read a status
with the lists' own rule (blank or spaces mean every status). Blank means "not given".
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.fields import empty

from vbwd.exceptions import ValidationFailed
from vbwd.fields.choices import any_case_spellings
from vbwd.fields.numbers import NUMBER_MESSAGES, NotANumber, decimal_from

MAX_REASON_LENGTH = 500


class _ReadMixin:
    """The field's value is ``self.read(value)``; a ValidationFailed becomes the field's error.
    A missing field is left out of ``validated_data``."""

    def run_validation(self, data=empty):
        if data is empty:
            return super().run_validation(data)
        try:
            return self.read(data)
        except ValidationFailed as error:
            raise serializers.ValidationError(error.message) from None

    def read(self, data):
        raise NotImplementedError


class PassedUUIDField(_ReadMixin, serializers.UUIDField):
    """An id the service looks up and reports on itself."""

    def read(self, data):
        return data


class PassedMoneyField(_ReadMixin, serializers.CharField):
    """An amount the service parses and reports on itself; blank means "not given". Digits of
    another script are refused here (a number is written with ASCII digits everywhere)."""

    def read(self, data):
        if data in (None, ""):
            return None
        try:
            decimal_from(data)
        except NotANumber as problem:
            if problem.key == "ascii":
                raise serializers.ValidationError(
                    NUMBER_MESSAGES["ascii"].format(name=self.field_name)
                ) from None
        return data


# --- list filters -------------------------------------------------------------------------------


class StatusFilterField(_ReadMixin, serializers.CharField):
    """A status of ``statuses`` in any case (``canceled`` = CANCELLED); blank = every status."""

    def __init__(self, *, read_status, statuses, **kwargs):
        self.read_status = read_status
        self.schema_enum = any_case_spellings(statuses.values)
        super().__init__(**kwargs)

    def read(self, data):
        return self.read_status(data)


class PassedValueField(_ReadMixin, serializers.CharField):
    """A value the service looks up and reports on itself (a code); blank means "not given"."""

    def read(self, data):
        return None if data in (None, "") else data

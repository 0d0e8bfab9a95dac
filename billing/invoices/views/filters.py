"""Query-string filter fields of the invoice lists."""

from __future__ import annotations

from vbwd.fields import StrictChoiceField


class EnumFilterField(StrictChoiceField):
    """A status or type filter: any case, empty or blank means "no filter"; an unknown value is
    "Unknown <name>: <value>"."""

    def __init__(self, choices, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(choices, blank_as_null=True, **kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data.strip() == "":
            return (True, None)
        return super().validate_empty_values(data)

"""Input field types shared by every endpoint's input serializer, so each rule about a kind of
value (an id, an amount, a yes/no) is written once and the OpenAPI schema is the validation.

- ``UUIDField``: a lowercase or uppercase hyphenated UUID in ASCII hex digits; ``required`` and
  ``invalid`` messages name the field the way the API always has ("invoice_id is required",
  "Invalid invoice_id format").
- ``MoneyField``: a decimal string or JSON number with at most the currency's places (the
  currency's places come from the serializer's context, ``places``, or default to 2) and the
  digits before the point the money columns hold; never a float inside.
- ``StrictBooleanField``: JSON ``true``/``false`` only (a string "false" is not a yes/no);
  with ``accept_strings=True`` also the query-string spellings ``true/false/1/0/yes/no``.
- ``StrictCharField``: a JSON string only (a number is not text), trimmed, with a length limit
  and without control, bidirectional-formatting or invisible characters
  (``vbwd.fields.characters``); ``multiline=True`` allows line breaks, ``secret=True`` (a
  password, a token) keeps the text as sent; ``null_as_empty=True`` reads ``null`` as "".
- ``StrictIntegerField``: a JSON integer only (not ``true``, not ``"5"``), bounded (by default
  by what an ``integer`` column holds); ``accept_integral=True`` also takes whole numbers
  written as ``"5"`` or ``5.0``.
- ``StrictChoiceField``, ``StrictDecimalField``, ``StrictDateField``, ``StrictDateTimeField``,
  ``DateOrDateTimeField``, ``OrderingField``: one member of a ``TextChoices``, a bounded
  decimal, a date, a datetime, a period bound (dates within ``EARLIEST``..``LATEST`` of
  ``vbwd.fields.dates``), an ordering.

Numbers written as text take ASCII digits only (``vbwd.fields.numbers.decimal_from``): Python
would also read digits of other scripts.

Every message may name the field as ``{name}``; callers override the wording with
``error_messages`` so each endpoint keeps the words its clients know.
"""

from vbwd.fields.base import BlankAsNullMixin, NamedMessagesMixin
from vbwd.fields.choices import OrderingField, StrictBooleanField, StrictChoiceField
from vbwd.fields.dates import DateOrDateTimeField, StrictDateField, StrictDateTimeField
from vbwd.fields.ids import UUIDField
from vbwd.fields.money import MoneyField
from vbwd.fields.numbers import StrictDecimalField, StrictIntegerField
from vbwd.fields.text import StrictCharField

__all__ = [
    "BlankAsNullMixin",
    "DateOrDateTimeField",
    "MoneyField",
    "NamedMessagesMixin",
    "OrderingField",
    "StrictBooleanField",
    "StrictCharField",
    "StrictChoiceField",
    "StrictDateField",
    "StrictDateTimeField",
    "StrictDecimalField",
    "StrictIntegerField",
    "UUIDField",
]

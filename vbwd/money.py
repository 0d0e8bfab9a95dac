"""Money input and rounding: ``Decimal`` only, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from vbwd.exceptions import ValidationFailed
from vbwd.fields.money import MONEY_WHOLE_DIGITS
from vbwd.fields.numbers import (
    NUMBER_MESSAGES,
    NotANumber,
    decimal_from,
    unsigned_zero,
    whole_digits,
)


def parse_money(value, *, field: str, places: int = 2, allow_negative: bool = False) -> Decimal:
    """A money input (string or JSON number, ASCII digits) as a Decimal with at most ``places``
    decimals and the digits before the point every money column holds."""
    if value is None or value == "":
        raise ValidationFailed(f"{field} must be an amount", field=field)
    try:
        amount = decimal_from(value)
    except NotANumber as problem:
        message = NUMBER_MESSAGES["ascii"] if problem.key == "ascii" else "{name} must be an amount"
        raise ValidationFailed(message.format(name=field), field=field) from None
    if amount.as_tuple().exponent < -places:
        raise ValidationFailed(f"{field} must have at most {places} decimal places", field=field)
    if whole_digits(amount) > MONEY_WHOLE_DIGITS:
        message = NUMBER_MESSAGES["digits"].format(name=field, digits=MONEY_WHOLE_DIGITS)
        raise ValidationFailed(message, field=field)
    if amount < 0 and not allow_negative:
        raise ValidationFailed(f"{field} cannot be negative", field=field)
    return unsigned_zero(amount).quantize(Decimal(1).scaleb(-places))


def round_money(amount: Decimal, places: int = 2) -> Decimal:
    """The one rounding rule: ROUND_HALF_UP to the currency's decimal places."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)

"""Money input and rounding: ``Decimal`` only, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from vbwd.exceptions import ValidationFailed


def parse_money(value, *, field: str, places: int = 2, allow_negative: bool = False) -> Decimal:
    """A money input (string or JSON number) as a Decimal with at most ``places`` decimals."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValidationFailed(f"{field} must be an amount", field=field)
    try:
        # JSON numbers arrive as int/float; their shortest repr is the number the client wrote.
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{field} must be an amount", field=field) from None
    if not amount.is_finite():
        raise ValidationFailed(f"{field} must be an amount", field=field)
    if amount.as_tuple().exponent < -places:
        raise ValidationFailed(f"{field} must have at most {places} decimal places", field=field)
    if amount < 0 and not allow_negative:
        raise ValidationFailed(f"{field} cannot be negative", field=field)
    return amount.quantize(Decimal(1).scaleb(-places))


def round_money(amount: Decimal, places: int = 2) -> Decimal:
    """The one rounding rule: ROUND_HALF_UP to the currency's decimal places."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)

"""The line-type registry: what each invoice line type does when its invoice is paid,
voided, fully refunded or the refund is reversed.

Apps above invoices register their types in ``AppConfig.ready()`` (subscriptions:
``SUBSCRIPTION`` and ``ADD_ON``; tokens: ``TOKEN_BUNDLE``); plugins register their own
UPPER_SNAKE types the same way. Every handler runs inside the caller's transaction with the
invoice row locked, and must be idempotent (a handler may be asked twice for the same line only
if the first call's transaction rolled back).

Token grants made by an activation carry the idempotency key ``activation_key(line)``, so a full
refund finds exactly what the invoice granted (``billing.invoices.extensions.token_ledger``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from billing.invoices.models import Invoice, InvoiceLine, LineType

TYPE_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")


@dataclass
class LineContext:
    """Who and when, for the audit rows and periods the handlers write."""

    invoice: Invoice
    now: Any  # aware datetime: the capture / void / refund time
    actor: Any = None  # staff user, or None for the system / a provider
    actor_type: str | None = None
    actor_label: str | None = None
    reason: str | None = None
    # Handlers may leave notes for the caller (e.g. the activated subscription).
    results: dict[str, Any] = field(default_factory=dict)


class LineHandler:
    """Base handler: a line type whose lines activate nothing (FEE, PRORATION, CUSTOM)."""

    type: str = ""

    def activate(self, line: InvoiceLine, context: LineContext) -> None:
        """The invoice is PAID: make the purchase effective (inside the capture transaction)."""

    def activate_lines(self, lines: list[InvoiceLine], context: LineContext) -> None:
        """``activate`` for consecutive lines of this type, in order; a handler may do them
        together (fewer queries for an invoice of many such lines)."""
        for line in lines:
            self.activate(line, context)

    def cancel(self, line: InvoiceLine, context: LineContext) -> None:
        """The invoice was voided before payment: the pending purchase can no longer be paid."""

    def reverse(self, line: InvoiceLine, context: LineContext) -> dict:
        """A full refund: undo the purchase. Returns what ``restore`` needs (JSON-serialisable)."""
        return {}

    def restore(self, line: InvoiceLine, context: LineContext, data: dict) -> None:
        """The provider reversed the refund: put back what ``reverse`` undid."""


_handlers: dict[str, LineHandler] = {}


def register(handler: LineHandler) -> None:
    """Registers (or replaces) the handler of ``handler.type``."""
    if not TYPE_PATTERN.match(handler.type or ""):
        raise ValueError(f"Line type must be UPPER_SNAKE_CASE: {handler.type!r}")
    _handlers[handler.type] = handler


def unregister(line_type: str) -> None:
    _handlers.pop(line_type, None)


def handler_for(line_type: str) -> LineHandler:
    """The registered handler; a type nobody registered (a removed plugin) activates nothing."""
    return _handlers.get(line_type) or _PASSIVE


def activate_all(lines, context: LineContext) -> None:
    """Activates the invoice's lines in order, each run of consecutive lines of one type by its
    handler's ``activate_lines``."""
    run: list[InvoiceLine] = []
    for line in lines:
        if run and line.type != run[0].type:
            handler_for(run[0].type).activate_lines(run, context)
            run = []
        run.append(line)
    if run:
        handler_for(run[0].type).activate_lines(run, context)


_NUMBER = re.compile(r"\d(?:[\d.,\s]*\d)?")


def bundle_description(name: str, token_amount: int) -> str:
    """A token bundle's line text: its name with the amount, ``Starter (1000 tokens)``, or the
    name alone when it already gives the amount (``500 Tokens``, ``1,000 tokens``)."""
    if name_gives_amount(name, token_amount):
        return name
    return f"{name} ({token_amount} tokens)"


def name_gives_amount(name: str, amount: int) -> bool:
    """Whether ``name`` already writes ``amount`` (``1,000`` and ``1 000`` read as 1000)."""
    return amount in {int(re.sub(r"\D", "", number)) for number in _NUMBER.findall(name)}


def registered_types() -> list[str]:
    return sorted(_handlers)


def activation_key(line: InvoiceLine) -> str:
    """Idempotency key of token grants made when ``line`` is activated."""
    return f"invoice-line:{line.pk}"


class _Passive(LineHandler):
    type = "PASSIVE"


_PASSIVE = _Passive()


def register_core_types() -> None:
    """FEE, PRORATION and CUSTOM lines carry money only; they have nothing to activate."""
    for line_type in (LineType.FEE, LineType.PRORATION, LineType.CUSTOM):
        handler = LineHandler()
        handler.type = line_type
        register(handler)

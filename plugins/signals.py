"""``PluginSignal`` and the framework's own signals."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.db import transaction
from django.dispatch import Signal

_plugin_of_receiver: dict[int, str | None] = {}


def _receiver_module(receiver) -> str:
    function = getattr(receiver, "__func__", receiver)
    return getattr(function, "__module__", "") or ""


class PluginSignal(Signal):
    """A signal whose receivers defined in a disabled plugin's app are skipped.

    Core receivers (any module outside a plugin app) always run. Used for every domain signal,
    so enabling or disabling a plugin switches its reactions on and off at once.
    Relies on ``Signal._live_receivers`` (Django 5.2, pinned).
    """

    def _live_receivers(self, sender):
        from plugins import registry, state

        sync_receivers, async_receivers = super()._live_receivers(sender)
        if not sync_receivers and not async_receivers:
            return sync_receivers, async_receivers
        enabled = None

        def wanted(receiver) -> bool:
            nonlocal enabled
            key = id(getattr(receiver, "__func__", receiver))
            if key not in _plugin_of_receiver:
                _plugin_of_receiver[key] = registry.plugin_of_module(_receiver_module(receiver))
            plugin = _plugin_of_receiver[key]
            if plugin is None:
                return True
            if enabled is None:
                enabled = state.enabled_names()
            return plugin in enabled

        return (
            [receiver for receiver in sync_receivers if wanted(receiver)],
            [receiver for receiver in async_receivers if wanted(receiver)],
        )

    def send_on_commit(self, sender, **arguments) -> None:
        """Records this event in the current transaction (``domain_events_recorded``) and sends
        the signal with ``send_robust`` after the transaction commits."""
        send_all_on_commit(sender, [(self, arguments)])


# The events of the open ``domain_events_batch``, or None outside one.
_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "domain_events_batch", default=None
)


@contextlib.contextmanager
def domain_events_batch() -> Iterator[None]:
    """Collects the events recorded inside the block and sends ``domain_events_recorded`` once
    for all of them when the block ends without an error, still inside the caller's transaction
    (so the outbox writes one insert for a whole use case). Use it inside the use case's
    transaction, like ``audit_batch``. A nested batch joins the open one; an error discards the
    events along with the transaction they belong to."""
    if _batch.get() is not None:
        yield
        return
    events: list = []
    token = _batch.set(events)
    try:
        yield
    finally:
        _batch.reset(token)
    if events:
        domain_events_recorded.send(sender=None, events=events)


def send_all_on_commit(sender, events: list[tuple[PluginSignal, dict]]) -> None:
    """Records several events of one change at once (``domain_events_recorded``, or the open
    ``domain_events_batch``) and sends each signal, in order, with ``send_robust`` after the
    transaction commits."""
    if not events:
        return
    batch = _batch.get()
    if batch is None:
        domain_events_recorded.send(sender=sender, events=events)
    else:
        batch.extend(events)

    def send() -> None:
        for signal, arguments in events:
            signal.send_robust(sender=sender, **arguments)

    transaction.on_commit(send)


domain_events_recorded = Signal()
"""Sent **inside** the transaction of a change, when the change schedules domain signals for
after its commit (``PluginSignal.send_on_commit``, ``send_all_on_commit``).

Arguments: ``events`` (list of ``(signal, arguments)``: the domain signal and the keyword
arguments it will be sent with); sender as the domain signal's, None for the events a
``domain_events_batch`` collected (sent once, when the batch ends). The outbound-webhook outbox
writes its delivery rows here, so they commit or roll back with the change itself. A receiver
that raises undoes the change; a receiver must not call anything outside the database.
"""


plugin_enabling = Signal()
"""Sent inside the enable transaction, after the dependency check.

Arguments: ``plugin`` (its PluginConfig), ``actor``. The catalog creates the plugin's categories
here (idempotent by slug). A receiver that raises a DomainError refuses the enable.
"""

plugin_disabling = Signal()
"""Sent inside the disable transaction, after the dependants check.

Arguments: ``plugin``, ``actor``. The catalog refuses to disable the plugin of the default
payment method here by raising a DomainError.
"""

plugin_enabled = Signal()
"""Sent after an enable commits. Arguments: ``plugin``, ``actor``. Not sent for a no-op."""

plugin_disabled = Signal()
"""Sent after a disable commits. Arguments: ``plugin``, ``actor``. Not sent for a no-op."""

"""Endpoints staff register: create, change, switch on and off, rotate the secret, delete."""

from __future__ import annotations

import secrets

from django.db import transaction

from audit.services import audit_record, changes
from webhooks import selectors
from webhooks.models import WebhookEndpoint

SECRET_PREFIX = "whsec_"


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


def _state(endpoint: WebhookEndpoint) -> dict:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "is_active": endpoint.is_active,
    }


def endpoint_create(
    *, url: str, events: list[str], description: str | None, is_active: bool, actor
) -> WebhookEndpoint:
    """Registers an endpoint with a new signing secret (the caller shows it once); ``url`` and
    ``events`` are already checked."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url,
            events=events,
            description=description or None,
            is_active=is_active,
            secret=_new_secret(),
        )
        selectors.subscriptions_changed()
        audit_record(
            action="webhook.created",
            object_type="webhook",
            object_id=endpoint.pk,
            summary=f"Webhook endpoint {url} registered",
            actor=actor,
            after=_state(endpoint),
        )
    return endpoint


def _locked(endpoint_id) -> WebhookEndpoint:
    selectors.endpoint_get(endpoint_id)  # the 404
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)


def endpoint_update(*, endpoint_id, values: dict, actor) -> WebhookEndpoint:
    """Changes the given fields (``url``, ``events``, ``description``, ``is_active``)."""
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        before = _state(endpoint)
        for field in ("url", "events", "description", "is_active"):
            if field in values:
                value = values[field]
                setattr(endpoint, field, (value or None) if field == "description" else value)
        after = _state(endpoint)
        if after == before:
            return endpoint
        endpoint.save()
        selectors.subscriptions_changed()
        old, new = changes(before, after)
        audit_record(
            action="webhook.updated",
            object_type="webhook",
            object_id=endpoint.pk,
            summary=f"Webhook endpoint {endpoint.url} changed",
            actor=actor,
            before=old,
            after=new,
        )
    return endpoint


def endpoint_toggle(*, endpoint_id, actor) -> WebhookEndpoint:
    """Switches an endpoint on or off; a disabled endpoint's due deliveries wait for it."""
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        endpoint.is_active = not endpoint.is_active
        endpoint.save(update_fields=["is_active", "updated_at"])
        selectors.subscriptions_changed()
        state = "enabled" if endpoint.is_active else "disabled"
        audit_record(
            action=f"webhook.{state}",
            object_type="webhook",
            object_id=endpoint.pk,
            summary=f"Webhook endpoint {endpoint.url} {state}",
            actor=actor,
            before={"is_active": not endpoint.is_active},
            after={"is_active": endpoint.is_active},
        )
    return endpoint


def endpoint_rotate_secret(*, endpoint_id, actor) -> WebhookEndpoint:
    """Replaces the signing secret; the next attempt is signed with the new one."""
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        old_last4 = endpoint.secret_last4
        endpoint.secret = _new_secret()
        endpoint.save(update_fields=["secret_encrypted", "secret_last4", "updated_at"])
        audit_record(
            action="webhook.secret_rotated",
            object_type="webhook",
            object_id=endpoint.pk,
            summary=f"Signing secret of webhook endpoint {endpoint.url} rotated",
            actor=actor,
            before={"secret_last4": old_last4},
            after={"secret_last4": endpoint.secret_last4},
        )
    return endpoint


def endpoint_delete(*, endpoint_id, actor) -> None:
    """Deletes an endpoint with its deliveries (pending ones are dropped)."""
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        audit_record(
            action="webhook.deleted",
            object_type="webhook",
            object_id=endpoint.pk,
            summary=f"Webhook endpoint {endpoint.url} deleted",
            actor=actor,
            before=_state(endpoint),
        )
        endpoint.delete()
        selectors.subscriptions_changed()

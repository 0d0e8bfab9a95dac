"""The writes of payment methods: each runs in one transaction, locks the rows it changes and
writes the audit log."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record, changes
from billing.catalog import extensions
from billing.catalog.models import PaymentMethod, PaymentMethodTranslation
from billing.catalog.services.payment_methods.reads import payment_methods_all
from billing.catalog.services.payment_methods.rules import (
    CREATE_DEFAULTS,
    NOT_FOUND,
    TRANSLATED_FIELDS,
    _check_can_be_default,
    _snapshot,
    gateway_plugins,
    payment_method_check,
    payment_method_kind,
)
from vbwd import catalog_cache
from vbwd.exceptions import BusinessRuleError, Conflict, HasDependencies, NotFound, ValidationFailed


def _lock(method: PaymentMethod | uuid.UUID) -> PaymentMethod:
    method_id = getattr(method, "pk", method)
    locked = PaymentMethod.objects.select_for_update().filter(pk=method_id).first()
    if locked is None:
        raise NotFound(NOT_FOUND)
    return locked


def _lock_all(method_id=None) -> PaymentMethod | None:
    """Locks every payment method row in primary-key order and returns ``method_id``'s row.

    Default changes take this lock: locking only the current default would not serialise two
    changes while no row is flagged, and the table holds a handful of rows. Everyone who locks
    several rows does so in primary-key order, so nobody deadlocks.
    """
    rows = list(PaymentMethod.objects.select_for_update().order_by("pk"))
    if method_id is None:
        return None
    for row in rows:
        if row.pk == method_id:
            return row
    raise NotFound(NOT_FOUND)


def _make_default(locked: PaymentMethod, *, actor) -> None:
    """``locked`` becomes the only default; callers hold the locks of ``_lock_all``."""
    if locked.is_default:
        return
    _check_can_be_default(is_active=locked.is_active, plugin_id=locked.plugin_id)
    previous = list(
        PaymentMethod.objects.filter(is_default=True).exclude(pk=locked.pk).order_by("pk")
    )
    # Cleared first: the unique constraint allows one flagged row at any moment.
    PaymentMethod.objects.filter(pk__in=[row.pk for row in previous]).update(
        is_default=False, updated_at=timezone.now()
    )
    catalog_cache.bump()  # an update() sends no signal
    locked.is_default = True
    locked.save(update_fields=["is_default", "updated_at"])
    previous_codes = [row.code for row in previous]
    audit_record(
        action="payment_method.default_set",
        object_type="payment_method",
        object_id=locked.pk,
        summary=f"Payment method {locked.code} is now the default"
        + (f" (was {', '.join(previous_codes)})" if previous_codes else ""),
        actor=actor,
        before={"default": previous_codes[0] if len(previous_codes) == 1 else previous_codes},
        after={"default": locked.code},
    )


def payment_methods_register_for_plugin(*, plugin, actor) -> PaymentMethod | None:
    """A gateway plugin's payment method (code = the plugin's name) exists once the plugin is
    enabled; an existing method of that code is left as staff configured it."""
    if plugin.key not in gateway_plugins():
        return None
    existing = PaymentMethod.objects.filter(code=plugin.key).first()
    if existing is not None:
        return existing
    label = getattr(plugin, "payment_method_label", None) or plugin.verbose_name
    return payment_method_create(
        data={
            **CREATE_DEFAULTS,
            "code": plugin.key,
            "name": str(label)[:100],
            "short_description": str(plugin.description or "")[:255] or None,
            "plugin_id": plugin.key,
            "is_active": True,
            "position": PaymentMethod.objects.count(),
        },
        actor=actor,
    )


def payment_method_create(*, data: dict, actor) -> PaymentMethod:
    """Creates a method from validated input (the fields not given take ``CREATE_DEFAULTS``;
    409 when the code is taken); with ``is_default`` it becomes the only default in the same
    transaction."""
    data = {**CREATE_DEFAULTS, **data}
    make_default = bool(data.get("is_default"))
    fields = {key: value for key, value in data.items() if key != "is_default"}
    payment_method_check(method=None, data=data)
    try:
        with transaction.atomic():
            if PaymentMethod.objects.filter(code=fields["code"]).exists():
                raise Conflict("Payment method code already exists")
            if make_default:
                _lock_all()  # before the new row exists
            method = PaymentMethod.objects.create(**fields)
            audit_record(
                action="payment_method.created",
                object_type="payment_method",
                object_id=method.pk,
                summary=f"Payment method {method.code} created ({payment_method_kind(method)})",
                actor=actor,
                after=_snapshot(method),
            )
            if make_default:
                _make_default(method, actor=actor)
    except IntegrityError:
        raise Conflict("Payment method code already exists") from None
    return method


def payment_method_update(*, method: PaymentMethod, data: dict, actor) -> PaymentMethod:
    """Partial update from validated input; the code never changes, the default stays active and
    ``is_default: true`` clears the flag on every other method."""
    with transaction.atomic():
        locked = _lock_all(method.pk) if data.get("is_default") else _lock(method)
        payment_method_check(method=locked, data=data)
        before = _snapshot(locked)
        for field, value in data.items():
            if field not in ("code", "is_default"):
                setattr(locked, field, value)
        locked.save()
        old, new = changes(before, _snapshot(locked))
        if new:
            audit_record(
                action="payment_method.updated",
                object_type="payment_method",
                object_id=locked.pk,
                summary=f"Payment method {locked.code} updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
        if data.get("is_default"):
            _make_default(locked, actor=actor)
    return locked


def payment_method_delete(*, method: PaymentMethod, actor) -> None:
    """Deletes a method that is not the default and that nothing unpaid uses (409 otherwise);
    its translations go with it."""
    with transaction.atomic():
        locked = _lock(method)
        if locked.is_default:
            raise BusinessRuleError("Cannot delete the default payment method")
        if extensions.usage_count("payment_method", locked) > 0:
            raise HasDependencies(
                "Payment method is used by unpaid invoices or subscriptions. Deactivate it instead."
            )
        audit_record(
            action="payment_method.deleted",
            object_type="payment_method",
            object_id=locked.pk,
            summary=f"Payment method {locked.code} deleted",
            actor=actor,
            before=_snapshot(locked),
        )
        locked.delete()


def _set_active(method: PaymentMethod, *, active: bool, actor) -> PaymentMethod:
    with transaction.atomic():
        locked = _lock(method)
        if not active and locked.is_default:
            raise BusinessRuleError("Cannot deactivate the default payment method")
        if locked.is_active == active:
            return locked
        locked.is_active = active
        locked.save(update_fields=["is_active", "updated_at"])
        verb = "activated" if active else "deactivated"
        audit_record(
            action=f"payment_method.{verb}",
            object_type="payment_method",
            object_id=locked.pk,
            summary=f"Payment method {locked.code} {verb}",
            actor=actor,
            before={"is_active": not active},
            after={"is_active": active},
        )
    return locked


def payment_method_activate(*, method: PaymentMethod, actor) -> PaymentMethod:
    """Active again; a no-op when it already is."""
    return _set_active(method, active=True, actor=actor)


def payment_method_deactivate(*, method: PaymentMethod, actor) -> PaymentMethod:
    """Inactive (hidden from customers); the default cannot be deactivated."""
    return _set_active(method, active=False, actor=actor)


def payment_method_set_default(*, method: PaymentMethod, actor) -> PaymentMethod:
    """The method (active, plugin enabled) becomes the only default; the others are cleared in
    the same transaction under row locks. A no-op when it already is the default."""
    with transaction.atomic():
        locked = _lock_all(method.pk)
        _make_default(locked, actor=actor)
    return locked


def payment_methods_reorder(*, order: list[tuple[uuid.UUID, int]], actor) -> list[PaymentMethod]:
    """Sets the given positions (every id must exist, 400 otherwise); returns all methods by
    position."""
    with transaction.atomic():
        ids = [method_id for method_id, _ in order]
        locked = {
            row.pk: row
            for row in PaymentMethod.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        }
        for method_id in ids:
            if method_id not in locked:
                raise ValidationFailed(f"Payment method not found: {method_id}", field="order")
        for method_id, position in order:
            row = locked[method_id]
            if row.position == position:
                continue
            old_position = row.position
            row.position = position
            row.save(update_fields=["position", "updated_at"])
            audit_record(
                action="payment_method.reordered",
                object_type="payment_method",
                object_id=row.pk,
                summary=f"Payment method {row.code} moved from position {old_position} to "
                f"{position}",
                actor=actor,
                before={"position": old_position},
                after={"position": position},
            )
    return payment_methods_all()


def _translation_snapshot(translation: PaymentMethodTranslation) -> dict:
    return {field: getattr(translation, field) for field in TRANSLATED_FIELDS}


def payment_method_translation_save(
    *, method: PaymentMethod, locale: str, data: dict, actor
) -> PaymentMethodTranslation:
    """Inserts or updates the translation for ``locale`` (canonical); only given texts change."""
    with transaction.atomic():
        locked = _lock(method)  # serialises upserts of one method, so no duplicate insert
        translation = (
            PaymentMethodTranslation.objects.select_for_update()
            .filter(payment_method=locked, locale=locale)
            .first()
        )
        created = translation is None
        if created:
            translation = PaymentMethodTranslation(payment_method=locked, locale=locale)
        before = {} if created else _translation_snapshot(translation)
        for field, value in data.items():
            setattr(translation, field, value)
        translation.save()
        after = _translation_snapshot(translation)
        old, new = changes(before, after) if not created else (None, after)
        if new:
            audit_record(
                action="payment_method.translation_saved",
                object_type="payment_method",
                object_id=locked.pk,
                summary=f"Translation {locale} of payment method {locked.code} "
                + ("created" if created else "updated"),
                actor=actor,
                before=None if created else {"locale": locale, **old},
                after={"locale": locale, **new},
            )
    return translation


def payment_method_translation_delete(*, method: PaymentMethod, locale: str, actor) -> None:
    """Deletes the translation for ``locale``; 404 "Translation not found" when there is none."""
    with transaction.atomic():
        locked = _lock(method)
        translation = (
            PaymentMethodTranslation.objects.select_for_update()
            .filter(payment_method=locked, locale=locale)
            .first()
        )
        if translation is None:
            raise NotFound("Translation not found")
        audit_record(
            action="payment_method.translation_deleted",
            object_type="payment_method",
            object_id=locked.pk,
            summary=f"Translation {locale} of payment method {locked.code} deleted",
            actor=actor,
            before={"locale": locale, **_translation_snapshot(translation)},
        )
        translation.delete()


def payment_methods_check_plugin_disable(*, plugin) -> None:
    """Refuses to disable the plugin of the default payment method (receiver of
    ``plugin_disabling``, inside the disable transaction). The rows are locked first, so a
    concurrent default change either finishes before this reads the default or waits."""
    _lock_all()
    default = PaymentMethod.objects.filter(is_default=True).first()
    if default is not None and default.plugin_id == plugin.key:
        raise BusinessRuleError("Cannot disable the plugin of the default payment method")

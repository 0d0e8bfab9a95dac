"""Rows written once: after issue only their ``MUTABLE_FIELDS`` may change, and never through a
delete. An issued invoice, its lines and its credit notes are legal records.

Money columns are ``Decimal(14, 4)``: a currency has 0 to 4 decimal places and every amount is
rounded to its currency's places, so four places hold any of them.
"""

from __future__ import annotations

from django.db import models


class ImmutableRecordError(Exception):
    """An attempt to change or delete an issued invoice, line or credit note."""


MONEY = {"max_digits": 14, "decimal_places": 4}


class ImmutableQuerySet(models.QuerySet):
    """``update`` may only touch the model's MUTABLE_FIELDS; ``delete`` is refused."""

    def update(self, **kwargs):
        frozen = set(kwargs) - set(self.model.MUTABLE_FIELDS)
        if frozen:
            raise ImmutableRecordError(
                f"{self.model.__name__} fields {sorted(frozen)} cannot change after issue"
            )
        return super().update(**kwargs)

    def delete(self):
        raise ImmutableRecordError(f"{self.model.__name__} rows are never deleted")


class ImmutableModel(models.Model):
    """Rows that are written once; afterwards only ``MUTABLE_FIELDS`` may change."""

    MUTABLE_FIELDS: tuple[str, ...] = ()

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        loaded = getattr(self, "_loaded", None)
        if loaded is not None and not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                frozen = set(update_fields) - set(self.MUTABLE_FIELDS)
                if frozen:
                    raise ImmutableRecordError(
                        f"{type(self).__name__} fields {sorted(frozen)} cannot change after issue"
                    )
            else:
                for field in self._meta.concrete_fields:
                    if field.attname in self.MUTABLE_FIELDS or field.attname not in loaded:
                        continue
                    if getattr(self, field.attname) != loaded[field.attname]:
                        raise ImmutableRecordError(
                            f"{type(self).__name__}.{field.attname} cannot change after issue"
                        )
        super().save(*args, **kwargs)
        self._loaded = {
            field.attname: getattr(self, field.attname) for field in self._meta.concrete_fields
        }

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError(f"{type(self).__name__} rows are never deleted")

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded = dict(zip(field_names, values, strict=True))
        return instance

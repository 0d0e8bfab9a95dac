import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class ActorType(models.TextChoices):
    USER = "USER"
    STAFF = "STAFF"
    SYSTEM = "SYSTEM"
    PROVIDER = "PROVIDER"


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit entries are append-only")

    def delete(self):
        raise TypeError("Audit entries are append-only")


class AuditEntry(models.Model):
    """One state change: who did what to which object, before → after, when and from which
    request.

    Append-only: rows are created by ``audit.services.audit_record`` and never changed or
    deleted (the model and its queryset refuse both). Actor and subject are stored as plain ids
    and a copied email so an entry outlives the user it names.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.UUIDField(null=True, blank=True, db_index=True)
    actor_email = models.CharField(max_length=255, null=True, blank=True)
    # Provider name (stripe) or job name (renew_subscriptions) for non-user actors.
    actor_label = models.CharField(max_length=100, null=True, blank=True)
    action = models.CharField(max_length=100, db_index=True)  # dotted: user.role_changed
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    # The user the object belongs to (for "everything about this user" queries).
    subject_user_id = models.UUIDField(null=True, blank=True, db_index=True)
    summary = models.CharField(max_length=500)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, null=True, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}:{self.object_id}"
        )

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit entries are append-only")

from django.db import models


class Plugin(models.Model):
    """The enabled state and configuration of one installed plugin; no row means disabled.

    ``config`` holds non-secret values; ``secrets`` is a Fernet token of the secret values
    (plugins.crypto), never returned by the API or shown in the back office.
    """

    name = models.CharField(max_length=100, primary_key=True)
    enabled = models.BooleanField(default=False)
    config = models.JSONField(default=dict, blank=True)
    secrets = models.TextField(blank=True, default="")
    enabled_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({'enabled' if self.enabled else 'disabled'})"

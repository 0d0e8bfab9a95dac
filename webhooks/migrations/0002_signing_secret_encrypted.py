"""Signing secrets are stored encrypted with the server's secrets key (and their last four
characters in clear, for display)."""

from django.db import migrations, models


def encrypt_secrets(apps, schema_editor):
    from plugins.crypto import encrypt_text

    endpoints = apps.get_model("webhooks", "WebhookEndpoint")
    for endpoint in endpoints.objects.all().only("pk", "secret"):
        endpoint.secret_encrypted = encrypt_text(endpoint.secret)
        endpoint.secret_last4 = endpoint.secret[-4:]
        endpoint.save(update_fields=["secret_encrypted", "secret_last4"])


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_endpoints_and_deliveries")]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="secret_encrypted",
            field=models.TextField(default="", editable=False),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="secret_last4",
            field=models.CharField(default="", editable=False, max_length=4),
            preserve_default=False,
        ),
        # Not reversible: the clear secrets are not written back.
        migrations.RunPython(encrypt_secrets, migrations.RunPython.noop),
        migrations.RemoveField(model_name="webhookendpoint", name="secret"),
    ]

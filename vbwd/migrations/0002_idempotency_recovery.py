import django.utils.timezone
from django.db import migrations, models


def claimed_when_created(apps, schema_editor):
    IdempotencyRecord = apps.get_model("vbwd", "IdempotencyRecord")
    IdempotencyRecord.objects.update(claimed_at=models.F("created_at"))


class Migration(migrations.Migration):

    dependencies = [
        ("vbwd", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="recovery",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="claimed_at",
            field=models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True),
        ),
        migrations.RunPython(claimed_when_created, migrations.RunPython.noop, elidable=True),
    ]

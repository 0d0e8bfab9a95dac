from django.db import migrations, models


def first_version(apps, schema_editor):
    apps.get_model("vbwd", "CatalogVersion").objects.get_or_create(pk=1, defaults={"value": 1})


class Migration(migrations.Migration):

    dependencies = [
        ("vbwd", "0002_idempotency_recovery"),
    ]

    operations = [
        migrations.CreateModel(
            name="CatalogVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("value", models.BigIntegerField(default=1)),
            ],
        ),
        migrations.RunPython(first_version, migrations.RunPython.noop),
    ]

"""Loads the 78 cards of the deck (meanings that staff edited later are kept on a re-run)."""

from django.db import migrations


def load_deck(apps, schema_editor):
    from plugins.taro.deck import CARDS

    Arcana = apps.get_model("taro", "Arcana")
    existing = set(Arcana.objects.values_list("pk", flat=True))
    Arcana.objects.bulk_create(
        Arcana(
            id=card.id,
            slug=card.slug,
            name=card.name,
            number=card.number,
            suit=card.suit,
            rank=card.rank,
            arcana_type=card.arcana_type,
            upright_meaning=card.upright_meaning,
            reversed_meaning=card.reversed_meaning,
        )
        for card in CARDS
        if card.id not in existing
    )


class Migration(migrations.Migration):
    dependencies = [("taro", "0001_initial")]

    operations = [migrations.RunPython(load_deck, migrations.RunPython.noop)]

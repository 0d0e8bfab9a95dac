from django.dispatch import receiver

from billing.catalog import services
from plugins.signals import plugin_enabling


@receiver(plugin_enabling, dispatch_uid="catalog.register_plugin_categories")
def register_plugin_categories(sender, plugin, actor, **kwargs):
    """A plugin's categories exist once it is enabled (idempotent by slug)."""
    services.categories.categories_register_for_plugin(plugin=plugin, actor=actor)

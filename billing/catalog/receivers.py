from django.dispatch import receiver

from billing.catalog import services
from plugins.signals import plugin_disabling, plugin_enabling


@receiver(plugin_enabling, dispatch_uid="catalog.register_plugin_categories")
def register_plugin_categories(sender, plugin, actor, **kwargs):
    """A plugin's categories exist once it is enabled (idempotent by slug)."""
    services.categories.categories_register_for_plugin(plugin=plugin, actor=actor)


@receiver(plugin_disabling, dispatch_uid="catalog.keep_default_payment_method_payable")
def keep_default_payment_method_payable(sender, plugin, actor, **kwargs):
    """The plugin behind the default payment method cannot be disabled (it would leave
    checkout without a way to pay)."""
    services.payment_methods.payment_methods_check_plugin_disable(plugin=plugin)


@receiver(plugin_enabling, dispatch_uid="catalog.register_plugin_payment_method")
def register_plugin_payment_method(sender, plugin, actor, **kwargs):
    """A gateway plugin's payment method exists once it is enabled (code = plugin name)."""
    services.payment_methods.payment_methods_register_for_plugin(plugin=plugin, actor=actor)

"""Payment methods: offline or implemented by a gateway plugin, exactly one active default,
texts translated per locale.

Every write runs in one transaction, locks the rows it changes and writes the audit log; input
arrives validated by the input serializers of ``billing.catalog.serializers``. The reads serve
the public endpoints and checkout.

Rules kept here:
- ``min_amount`` / ``max_amount`` are in the default currency, like a fixed fee; an amount in
  another currency is converted at the current rate before it is compared with them.
- The default method must be available: active and, for a gateway, its plugin enabled. Its
  plugin cannot be disabled (``payment_methods_check_plugin_disable``) and the flag cannot be
  taken away except by making another method the default.
- Locales are stored in canonical form (``pt_br`` → ``pt-BR``), so lookups are exact.
"""

from billing.catalog.services.payment_methods.reads import (
    amount_in_default_currency,
    localized_texts,
    payment_method_accepts,
    payment_method_by_code,
    payment_method_by_id,
    payment_method_chosen,
    payment_method_public,
    payment_methods_all,
    payment_methods_public,
)
from billing.catalog.services.payment_methods.rules import (
    CREATE_DEFAULTS,
    PaymentMethodKind,
    canonical_locale,
    gateway_plugins,
    limit_places,
    locale_chain,
    payment_method_check,
    payment_method_is_available,
    payment_method_kind,
)
from billing.catalog.services.payment_methods.writes import (
    payment_method_activate,
    payment_method_create,
    payment_method_deactivate,
    payment_method_delete,
    payment_method_set_default,
    payment_method_translation_delete,
    payment_method_translation_save,
    payment_method_update,
    payment_methods_check_plugin_disable,
    payment_methods_register_for_plugin,
    payment_methods_reorder,
)

__all__ = [
    "CREATE_DEFAULTS",
    "PaymentMethodKind",
    "amount_in_default_currency",
    "canonical_locale",
    "gateway_plugins",
    "limit_places",
    "locale_chain",
    "localized_texts",
    "payment_method_accepts",
    "payment_method_activate",
    "payment_method_by_code",
    "payment_method_by_id",
    "payment_method_check",
    "payment_method_chosen",
    "payment_method_create",
    "payment_method_deactivate",
    "payment_method_delete",
    "payment_method_is_available",
    "payment_method_kind",
    "payment_method_public",
    "payment_method_set_default",
    "payment_method_translation_delete",
    "payment_method_translation_save",
    "payment_method_update",
    "payment_methods_all",
    "payment_methods_check_plugin_disable",
    "payment_methods_public",
    "payment_methods_register_for_plugin",
    "payment_methods_reorder",
]

from plugins.base import Capabilities, PluginConfig, SettingSpec

PAYPAL_APIS = {
    "sandbox": "https://api-m.sandbox.paypal.com",
    "live": "https://api-m.paypal.com",
}


class PayPalConfig(PluginConfig):
    """PayPal Checkout (Orders v2): the customer approves the order at PayPal, the order is
    captured by the shop, refunds of captures, and webhooks verified by PayPal itself. PayPal
    keeps no payment method for the shop: renewals wait for the customer."""

    name = "plugins.paypal"
    label = "paypal"
    verbose_name = "PayPal"

    plugin_name = "paypal"
    version = "1.0.0"
    author = "VBWD"
    description = "PayPal Checkout orders, captures, refunds and verified webhooks."
    payment_method_label = "PayPal"
    urls = "plugins.paypal.urls"
    capabilities = Capabilities(
        payment_gateway="plugins.paypal.gateway.PayPalGateway",
        saved_payment_methods=False,
    )
    settings_schema = {
        "client_id": SettingSpec(
            description="Client ID of the PayPal REST app",
            label="Client ID",
        ),
        "client_secret": SettingSpec(
            secret=True,
            description="Client secret of the PayPal REST app",
            label="Client secret",
        ),
        "webhook_id": SettingSpec(
            description="Id of the webhook registered for this shop's webhook URL in the PayPal "
            "app; PayPal verifies every delivery against it",
            label="Webhook ID",
        ),
        "mode": SettingSpec(
            default="sandbox",
            enum=("sandbox", "live"),
            description="sandbox: PayPal's test environment; live: real payments",
            label="Mode",
        ),
        "api_base": SettingSpec(
            default="",
            description="Base URL of the PayPal REST API; empty: PayPal's own for the mode. "
            "Point it at a PayPal-compatible server for offline tests and staging",
            label="API base URL",
        ),
        "timeout_seconds": SettingSpec(
            type="integer",
            default=30,
            description="How long one call to PayPal may take before it counts as unanswered",
            label="Request timeout (s)",
        ),
    }
    admin_config = {
        "tabs": [
            {
                "id": "keys",
                "label": "API credentials",
                "fields": [
                    {"key": "client_id", "label": "Client ID", "component": "input"},
                    {"key": "client_secret", "label": "Client secret", "component": "input",
                     "inputType": "password"},
                    {"key": "webhook_id", "label": "Webhook ID", "component": "input"},
                ],
            },
            {
                "id": "connection",
                "label": "Connection",
                "fields": [
                    {"key": "mode", "label": "Mode", "component": "select"},
                    {"key": "api_base", "label": "API base URL", "component": "input"},
                    {"key": "timeout_seconds", "label": "Request timeout (s)",
                     "component": "number"},
                ],
            },
        ]
    }  # fmt: skip

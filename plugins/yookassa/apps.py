from plugins.base import Capabilities, PluginConfig, SettingSpec

YOOKASSA_API = "https://api.yookassa.ru/v3"


class YooKassaConfig(PluginConfig):
    """Payments through YooKassa: the customer confirms on YooKassa's page (redirect), webhooks
    signed with the shop's secret, refunds, and off-session renewal charges of the payment
    method a customer let YooKassa keep."""

    name = "plugins.yookassa"
    label = "yookassa"
    verbose_name = "YooKassa"

    plugin_name = "yookassa"
    version = "1.0.0"
    author = "VBWD"
    description = "Payments, refunds and off-session renewal charges through YooKassa."
    payment_method_label = "YooKassa"
    urls = "plugins.yookassa.urls"
    capabilities = Capabilities(
        payment_gateway="plugins.yookassa.gateway.YooKassaGateway",
        saved_payment_methods=True,
    )
    settings_schema = {
        "shop_id": SettingSpec(
            description="Shop identifier (shopId) of the YooKassa account",
            label="Shop ID",
        ),
        "secret_key": SettingSpec(
            secret=True,
            description="Secret key of the shop (test_… or live_…)",
            label="Secret key",
        ),
        "webhook_secret": SettingSpec(
            secret=True,
            description="Shared secret the notifications are signed with: the hex HMAC-SHA256 "
            "of the raw body, sent in X-YooKassa-Signature",
            label="Webhook secret",
        ),
        "api_base": SettingSpec(
            default=YOOKASSA_API,
            description="Base URL of the YooKassa API (with /v3); point it at a "
            "YooKassa-compatible server for offline tests and staging",
            label="API base URL",
        ),
        "timeout_seconds": SettingSpec(
            type="integer",
            default=30,
            description="How long one call to YooKassa may take before it counts as unanswered",
            label="Request timeout (s)",
        ),
    }
    admin_config = {
        "tabs": [
            {
                "id": "keys",
                "label": "API keys",
                "fields": [
                    {"key": "shop_id", "label": "Shop ID", "component": "input"},
                    {"key": "secret_key", "label": "Secret key", "component": "input",
                     "inputType": "password"},
                    {"key": "webhook_secret", "label": "Webhook secret", "component": "input",
                     "inputType": "password"},
                ],
            },
            {
                "id": "connection",
                "label": "Connection",
                "fields": [
                    {"key": "api_base", "label": "API base URL", "component": "input"},
                    {"key": "timeout_seconds", "label": "Request timeout (s)",
                     "component": "number"},
                ],
            },
        ]
    }  # fmt: skip

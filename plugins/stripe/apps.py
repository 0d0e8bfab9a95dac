from plugins.base import Capabilities, PluginConfig, SettingSpec

STRIPE_API = "https://api.stripe.com"


class StripeConfig(PluginConfig):
    """Card payments through Stripe: hosted Checkout or an embedded Payment Element, webhooks,
    refunds and off-session renewal charges of the card a customer let Stripe keep."""

    name = "plugins.stripe"
    label = "stripe"
    verbose_name = "Stripe"

    plugin_name = "stripe"
    version = "1.0.0"
    author = "VBWD"
    description = "Card payments, refunds and off-session renewal charges through Stripe."
    payment_method_label = "Card (Stripe)"
    urls = "plugins.stripe.urls"
    capabilities = Capabilities(
        payment_gateway="plugins.stripe.gateway.StripeGateway",
        saved_payment_methods=True,
    )
    settings_schema = {
        "secret_key": SettingSpec(
            secret=True,
            description="Secret API key (sk_test_… or sk_live_…); the mode follows the key",
            label="Secret key",
        ),
        "webhook_secret": SettingSpec(
            secret=True,
            description="Signing secret of the webhook endpoint (whsec_…) for this mode",
            label="Webhook signing secret",
        ),
        "publishable_key": SettingSpec(
            description="Publishable key (pk_test_… or pk_live_…) the frontend loads Stripe.js "
            "with",
            label="Publishable key",
        ),
        "checkout_mode": SettingSpec(
            default="hosted",
            enum=("hosted", "elements"),
            description="hosted: Stripe Checkout page (session_url); elements: a PaymentIntent "
            "whose client_secret the frontend confirms with Stripe.js",
            label="Checkout mode",
        ),
        "api_base": SettingSpec(
            default=STRIPE_API,
            description="Base URL of the Stripe API; point it at a Stripe-compatible server for "
            "offline tests and staging",
            label="API base URL",
        ),
        "timeout_seconds": SettingSpec(
            type="integer",
            default=30,
            description="How long one call to Stripe may take before it counts as unanswered",
            label="Request timeout (s)",
        ),
    }
    admin_config = {
        "tabs": [
            {
                "id": "keys",
                "label": "API keys",
                "fields": [
                    {"key": "secret_key", "label": "Secret key", "component": "input",
                     "inputType": "password"},
                    {"key": "publishable_key", "label": "Publishable key", "component": "input"},
                    {"key": "webhook_secret", "label": "Webhook signing secret",
                     "component": "input", "inputType": "password"},
                ],
            },
            {
                "id": "checkout",
                "label": "Checkout",
                "fields": [
                    {"key": "checkout_mode", "label": "Checkout mode", "component": "select"},
                    {"key": "api_base", "label": "API base URL", "component": "input"},
                    {"key": "timeout_seconds", "label": "Request timeout (s)",
                     "component": "number"},
                ],
            },
        ]
    }  # fmt: skip

"""Every setting of VBWD, read from the environment in this one place.

Without any environment the project runs on embedded defaults: a SQLite file under ``var/``,
the local-memory cache and Celery tasks executed eagerly. ``DATABASE_URL`` switches to
PostgreSQL (or any database dj-database-url understands) and ``REDIS_URL`` to Redis as the
shared cache and Celery broker. ``VBWD_ENV=production`` turns on the production checks.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VBWD_VERSION = "1.0.0"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from error


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- Mode -------------------------------------------------------------------------------------

# development (default: `make run`), test (pytest), production (refuses insecure defaults).
VBWD_ENV = env_str("VBWD_ENV", "development").strip().lower()
if VBWD_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured("VBWD_ENV must be one of development, test, production")
PRODUCTION = VBWD_ENV == "production"

DEBUG = env_bool("DJANGO_DEBUG", VBWD_ENV == "development")

_INSECURE_SECRET_KEY = "vbwd-insecure-development-secret-key-change-me-0123456789abcdef"
_INSECURE_JWT_KEY = "vbwd-insecure-development-jwt-signing-key-change-me-0123456789"
SECRET_KEY = env_str("SECRET_KEY", _INSECURE_SECRET_KEY)
# A dedicated key for JWTs; in production it must be set and differ from SECRET_KEY.
VBWD_JWT_SIGNING_KEY = env_str("VBWD_JWT_SIGNING_KEY", _INSECURE_JWT_KEY)

if PRODUCTION:
    if SECRET_KEY == _INSECURE_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters in production"
        )
    if VBWD_JWT_SIGNING_KEY == _INSECURE_JWT_KEY or len(VBWD_JWT_SIGNING_KEY) < 32:
        raise ImproperlyConfigured(
            "VBWD_JWT_SIGNING_KEY must be set to a random value of at least 32 characters "
            "in production"
        )
    if VBWD_JWT_SIGNING_KEY == SECRET_KEY:
        raise ImproperlyConfigured("VBWD_JWT_SIGNING_KEY must differ from SECRET_KEY")
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG must be off in production")

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# --- Applications -----------------------------------------------------------------------------

INSTALLED_APPS = [
    # The back office's look (its own templates, styles, scripts and fonts, served from here);
    # listed before the admin so its templates win.
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "vbwd",
    "audit",
    "accounts",
    "platform_settings",
    "billing.catalog",
    "billing.invoices",
    "billing.subscriptions",
    "tokens",
    "billing.coupons",
    "plugins",
    "webhooks",
    # Built-in plugins: installed here, enabled in the database (manage.py plugins enable NAME).
    "plugins.demo",
    "plugins.stripe",
    "plugins.yookassa",
    "plugins.paypal",
    "plugins.analytics",
    "plugins.chat",
    "plugins.taro",
]
# Third-party plugins: packages with a "vbwd.plugins" entry point (VBWD_DISCOVER_PLUGINS=0 skips).
if env_bool("VBWD_DISCOVER_PLUGINS", True):
    from plugins.discovery import entry_point_apps

    INSTALLED_APPS += [app for app in entry_point_apps() if app not in INSTALLED_APPS]

# The signed-in user and messages serve the back office; /api/ requests skip them. Sessions stay
# named as Django's own class: `check --deploy` looks for that name to judge the cookie settings.
MIDDLEWARE = [
    "vbwd.middleware.RequestIdMiddleware",
    "vbwd.middleware.ApiRequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "vbwd.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "vbwd.middleware.BackOfficeAuthenticationMiddleware",
    "vbwd.middleware.BackOfficeMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so every middleware above treats its early answers as the views' answers.
    "vbwd.catalog_cache.CatalogCacheMiddleware",
]

ROOT_URLCONF = "vbwd.urls"
WSGI_APPLICATION = "vbwd.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
# Routes accept an optional trailing slash themselves; the server never redirects.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "platform_settings.context_processors.seller_details_banner",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Connections are kept across requests (opening one costs several milliseconds of both
    # processes' time); an unusable one is dropped at the end of its request.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("VBWD_DB_CONN_MAX_AGE", 60)
        )
    }
else:
    SQLITE_PATH = Path(env_str("VBWD_SQLITE_PATH", str(BASE_DIR / "var" / "db.sqlite3")))
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            # Waits for a writer instead of failing at once when two requests write together.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Celery ----------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("VBWD_CACHE_PREFIX", "vbwd"),
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "vbwd",
            "KEY_PREFIX": env_str("VBWD_CACHE_PREFIX", "vbwd"),
        }
    }

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
# Without a broker every task runs in the calling process, so nothing external is needed.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}  # filled in vbwd/celery.py, one commented entry per job

# --- Passwords, i18n, static ------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [{"NAME": "accounts.passwords.PasswordPolicyValidator"}]
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The translation catalogs of the invoice and credit-note PDFs (compiled .mo files are committed).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# The back office (django-unfold). "View site" opens the API docs: the product has no public site
# of its own. The index page is the dashboard (vbwd.dashboard, templates/admin/index.html).
UNFOLD = {
    "SITE_TITLE": "VBWD",
    "SITE_HEADER": "VBWD back office",
    "SITE_URL": "/api/v1/docs/",
    "SITE_SYMBOL": "receipt_long",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": True,
    "SIDEBAR": {"show_search": True, "show_all_applications": True, "navigation": []},
    "DASHBOARD_CALLBACK": "vbwd.dashboard.dashboard_callback",
}
# Uploaded and generated files (the stored invoice and credit-note PDFs) in the default storage.
MEDIA_ROOT = Path(env_str("VBWD_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"  # never served by the app: PDFs are downloaded through the API
# Serves the admin's static files straight from the apps when collectstatic has not run.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Email ------------------------------------------------------------------------------------

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "VBWD <no-reply@localhost>")

# --- Security (production) --------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Every page (the back office, the API docs) loads scripts, styles, fonts and images from this
# host only and runs no inline script; inline styles stay allowed because the admin's widgets and
# Swagger UI set style attributes. API answers are JSON and carry the same header harmlessly.
# The back office's pages add 'unsafe-eval' to script-src (vbwd.middleware says why).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        # Redoc runs its search index in a web worker it starts from a blob.
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Whether clients reach this deployment over HTTPS (directly or through a TLS proxy that sets
# X-Forwarded-Proto). On (the production default), cookies are HTTPS-only, plain HTTP is
# redirected and HSTS is sent. Off only for a trial over plain HTTP (e.g. docker compose on a
# LAN): otherwise the browser drops the HTTPS-only session cookie and the back-office login
# fails. `check --deploy` warns while it is off.
VBWD_HTTPS = env_bool("VBWD_HTTPS", PRODUCTION)
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if VBWD_HTTPS:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The health probe is called over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/?$"]

# --- API -----------------------------------------------------------------------

VBWD_ACCESS_TOKEN_MINUTES = env_int("VBWD_ACCESS_TOKEN_MINUTES", 60)
VBWD_REFRESH_TOKEN_DAYS = env_int("VBWD_REFRESH_TOKEN_DAYS", 7)
VBWD_PASSWORD_RESET_URL = env_str("VBWD_PASSWORD_RESET_URL", "http://localhost:5173/reset-password")
VBWD_FRONTEND_URL = env_str("VBWD_FRONTEND_URL", "http://localhost:5173")
VBWD_RATE_LIMIT_ENABLED = env_bool("VBWD_RATE_LIMIT_ENABLED", True)
# JSON object overriding entries of the default table in vbwd/throttling.py, for example
# {"login_ip": "20/minute", "register_ip": "10/minute"}.
try:
    VBWD_RATE_LIMITS = json.loads(env_str("VBWD_RATE_LIMITS", "{}") or "{}")
except json.JSONDecodeError as error:
    raise ImproperlyConfigured("VBWD_RATE_LIMITS must be a JSON object") from error
if not isinstance(VBWD_RATE_LIMITS, dict):
    raise ImproperlyConfigured("VBWD_RATE_LIMITS must be a JSON object")
VBWD_TRUSTED_PROXY_COUNT = env_int("VBWD_TRUSTED_PROXY_COUNT", 0)
# Key of the encryption of plugin secrets at rest; derived from SECRET_KEY when empty.
VBWD_SECRETS_KEY = env_str("VBWD_SECRETS_KEY")
# Refuse to issue an invoice while the seller's legal name, address or VAT id is missing.
VBWD_REQUIRE_SELLER_DETAILS = env_bool("VBWD_REQUIRE_SELLER_DETAILS", PRODUCTION)
VBWD_IDEMPOTENCY_TTL_HOURS = env_int("VBWD_IDEMPOTENCY_TTL_HOURS", 24)
# A claim still IN_PROGRESS after this long belongs to a worker that died; it may be taken over.
VBWD_IDEMPOTENCY_STALE_SECONDS = env_int("VBWD_IDEMPOTENCY_STALE_SECONDS", 300)
VBWD_PDF_LINK_TTL_SECONDS = env_int("VBWD_PDF_LINK_TTL_SECONDS", 300)
# Render an issued invoice's or credit note's PDF in a task after commit. Off without a broker,
# where the task would run inside the issuing request or renewal run; the first download renders.
VBWD_PDF_PRERENDER = env_bool("VBWD_PDF_PRERENDER", not CELERY_TASK_ALWAYS_EAGER)
VBWD_DEFAULT_LANGUAGE = env_str("VBWD_DEFAULT_LANGUAGE", "en")
# The seller's logo printed on invoice and credit-note PDFs: a local PNG or JPEG file (<= 1 MiB).
VBWD_INVOICE_LOGO = env_str("VBWD_INVOICE_LOGO")
VBWD_API_DOCS_PUBLIC = env_bool("VBWD_API_DOCS_PUBLIC", True)
# Outbound webhooks: http:// URLs (https only otherwise); hosts exempt from the public-address
# rule (exactly as written in the URL, e.g. "127.0.0.1" for a receiver on this machine); the
# timeout of one attempt; the attempts before a delivery is FAILED (spaced 1, 3, 9 … minutes).
VBWD_WEBHOOK_ALLOW_HTTP = env_bool("VBWD_WEBHOOK_ALLOW_HTTP", DEBUG)
VBWD_WEBHOOK_ALLOWED_HOSTS = env_list("VBWD_WEBHOOK_ALLOWED_HOSTS")
VBWD_WEBHOOK_TIMEOUT_SECONDS = float(env_str("VBWD_WEBHOOK_TIMEOUT_SECONDS", "10") or "10")
VBWD_WEBHOOK_MAX_ATTEMPTS = env_int("VBWD_WEBHOOK_MAX_ATTEMPTS", 8)
VBWD_CORS_ALLOWED_ORIGINS = env_list("VBWD_CORS_ALLOWED_ORIGINS")
# Largest accepted request body.
VBWD_MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = VBWD_MAX_BODY_BYTES

CORS_ALLOWED_ORIGINS = VBWD_CORS_ALLOWED_ORIGINS
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = ["authorization", "content-type", "idempotency-key", "x-request-id"]
CORS_EXPOSE_HEADERS = ["Retry-After", "Idempotent-Replayed", "X-Request-ID", "Content-Disposition"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerAuthentication"],
    # The ``user`` access level (vbwd.api.UserMixin); ``admin`` adds the classes below.
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsActiveUser"],
    "DEFAULT_THROTTLE_CLASSES": ["vbwd.throttling.DefaultThrottle"],
    "DEFAULT_PARSER_CLASSES": ["vbwd.parsers.JSONObjectParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "vbwd.renderers.JSONFallbackNegotiation",
    "DEFAULT_RENDERER_CLASSES": ["vbwd.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": None,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "vbwd.schema.AutoSchema",
    "EXCEPTION_HANDLER": "vbwd.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "COERCE_DECIMAL_TO_STRING": True,
}

# The ``admin`` access level (vbwd.api.AdminMixin): an active user with the ADMIN role.
VBWD_ADMIN_PERMISSION_CLASSES = ["accounts.permissions.IsAdmin"]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=VBWD_ACCESS_TOKEN_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=VBWD_REFRESH_TOKEN_DAYS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": VBWD_JWT_SIGNING_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "LEEWAY": 0,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "VBWD API",
    "DESCRIPTION": "Subscription billing backend: accounts, catalog, subscriptions, invoices, "
    "tokens and plugins.",
    "VERSION": VBWD_VERSION,
    "OAS_VERSION": "3.0.3",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI is served from this host's static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["vbwd.schema.collapse_slashes"],
    "ENUM_NAME_OVERRIDES": {
        "UserStatus": "accounts.models.UserStatus",
        "UserRole": "accounts.models.UserRole",
        "ActorType": "audit.models.ActorType",
        "WebhookDeliveryStatus": "webhooks.models.WebhookDeliveryStatus",
        "PluginStatus": ["active", "inactive", "error"],
        "PluginStateChangeStatus": ["enabled", "disabled"],
        "DeletionAction": ["DELETE", "ANONYMISE"],
        "DeletionOutcome": ["DELETED", "ANONYMISED"],
        "InvoiceStatus": "billing.invoices.models.InvoiceStatus",
        "InvoiceType": "billing.invoices.models.InvoiceType",
        "PaymentStatus": "billing.invoices.models.PaymentStatus",
        "SubscriptionStatus": "billing.subscriptions.models.SubscriptionStatus",
        "AddOnSubscriptionStatus": "billing.subscriptions.models.AddOnSubscriptionStatus",
        "PurchaseStatus": "tokens.models.PurchaseStatus",
        "PaymentAction": ["BANK_TRANSFER", "REDIRECT", "PAID"],
        "PaymentMethodKind": "billing.catalog.services.payment_methods.PaymentMethodKind",
        "CouponKind": "billing.coupons.models.CouponKind",
        "CouponDuration": "billing.coupons.models.CouponDuration",
        "RedemptionStatus": "billing.coupons.models.RedemptionStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("VBWD_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

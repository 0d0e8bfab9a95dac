"""The request/response examples of the API guide (``docs/api/``), taken from running the code.

``generate()`` seeds the demo data, performs the documented requests through Django's test
client and renders each one as Markdown. The guide's Markdown files hold the examples between
markers::

    <!-- example: auth-login -->
    (generated: the request and the response)
    <!-- /example -->

``manage.py docs_examples`` runs it in a throwaway database and rewrites the marked blocks;
``tests/test_docs.py`` runs it in the test database and fails when a committed block differs
from what the code answers now. ``generate()`` must run inside a database it may write to; it
rolls back everything it wrote.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings

from vbwd.management.docs_examples.recorder import Normaliser, Recorder, SteppingClock, render

DOCS_DIR = Path(settings.BASE_DIR) / "docs"
BLOCK_RE = re.compile(
    r"(?P<open><!-- example: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(?P<close><!-- /example -->)",
    re.DOTALL,
)

# The settings the examples are taken with, whatever the environment says: the documented
# defaults, a private cache (fresh rate-limit counters and plugin state), no mail sent, and a
# fast password hasher.
EXAMPLE_SETTINGS = {
    "DEBUG": False,
    "ALLOWED_HOSTS": ["testserver"],
    "SECURE_SSL_REDIRECT": False,
    "CACHES": {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "vbwd-docs-examples",
        }
    },
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    "VBWD_RATE_LIMIT_ENABLED": True,
    "VBWD_RATE_LIMITS": {},
    "VBWD_TRUSTED_PROXY_COUNT": 0,
    "VBWD_REQUIRE_SELLER_DETAILS": True,
    "VBWD_IDEMPOTENCY_TTL_HOURS": 24,
    "VBWD_PDF_LINK_TTL_SECONDS": 300,
    "VBWD_DEFAULT_LANGUAGE": "en",
    "VBWD_FRONTEND_URL": "http://localhost:5173",
    "VBWD_PASSWORD_RESET_URL": "http://localhost:5173/reset-password",
    "VBWD_WEBHOOK_ALLOW_HTTP": False,
    "VBWD_WEBHOOK_ALLOWED_HOSTS": [],
}


def _jwt_settings() -> dict:
    import datetime

    return {
        **settings.SIMPLE_JWT,
        "ACCESS_TOKEN_LIFETIME": datetime.timedelta(minutes=60),
        "REFRESH_TOKEN_LIFETIME": datetime.timedelta(days=7),
    }


def generate() -> dict[str, str]:
    """Example name -> rendered Markdown, from one run of the scenario (nothing is kept)."""
    from vbwd.management.docs_examples import scenario

    environment = {k: v for k, v in os.environ.items() if not k.startswith("VBWD_PLUGIN_")}
    with (
        mock.patch.dict(os.environ, environment, clear=True),
        override_settings(**EXAMPLE_SETTINGS, SIMPLE_JWT=_jwt_settings()),
        SteppingClock() as clock,
        transaction.atomic(),
    ):
        _forget_cached_state()
        recorder = Recorder(clock=clock)
        try:
            scenario.run(recorder)
        finally:
            transaction.set_rollback(True)
            _forget_cached_state()
    normaliser = Normaliser()
    return {name: render(example, normaliser) for name, example in recorder.examples.items()}


def _forget_cached_state() -> None:
    """Nothing cached outlives a run: its rows are rolled back."""
    from billing.catalog.selectors import currency_places_for_text_forget

    cache.clear()
    currency_places_for_text_forget()


def markdown_files() -> list[Path]:
    return sorted(DOCS_DIR.rglob("*.md"))


def updated_texts(examples: dict[str, str]) -> dict[Path, tuple[str, str]]:
    """Path -> (committed text, text with the current examples) of every file with markers.
    Raises ValueError for a marker without an example or an example no file shows."""
    used: set[str] = set()
    unknown: list[str] = []
    texts: dict[Path, tuple[str, str]] = {}

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in examples:
            unknown.append(name)
            return match.group(0)
        used.add(name)
        return f"{match.group('open')}{examples[name]}\n{match.group('close')}"

    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        if "<!-- example:" not in text:
            continue
        texts[path] = (text, BLOCK_RE.sub(replace, text))
    problems = [f"no example called {name!r}" for name in unknown]
    problems += [f"example {name!r} is shown nowhere" for name in sorted(set(examples) - used)]
    if problems:
        raise ValueError("; ".join(problems))
    return texts


def outdated(examples: dict[str, str]) -> list[Path]:
    """The Markdown files whose examples differ from ``examples``."""
    return [path for path, (old, new) in updated_texts(examples).items() if old != new]


def write(examples: dict[str, str]) -> list[Path]:
    """Rewrites the example blocks; returns the files that changed."""
    changed = []
    for path, (old, new) in updated_texts(examples).items():
        if old != new:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed

"""The product's settings with a one-view URLconf: the baseline of the HTTP catalog benchmark
(the same middleware, database and cache configuration, no API framework)."""

from vbwd.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"

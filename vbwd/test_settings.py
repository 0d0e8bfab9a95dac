"""Settings for the test suite: vbwd.settings (same environment, so DATABASE_URL / REDIS_URL
still choose PostgreSQL and Redis) with what only tests want."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("VBWD_ENV", "test")

from vbwd.settings import *  # noqa: F403

# Each pytest-xdist worker keeps its own cache keys, so rate-limit counters never mix.
CACHES["default"]["KEY_PREFIX"] = f"vbwd-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"  # noqa: F405
# Fast hashing: the suite logs in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks run in the test process so their effects can be asserted.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
# Issuing renders no PDF unless a test turns this on; stored PDFs go to a folder of this run.
VBWD_PDF_PRERENDER = False
MEDIA_ROOT = tempfile.mkdtemp(prefix="vbwd-test-media-")
atexit.register(shutil.rmtree, MEDIA_ROOT, ignore_errors=True)
# Fixture plugins the framework's tests enable, configure and depend on.
INSTALLED_APPS = [*INSTALLED_APPS, "plugins.tests.fixtures.alpha", "plugins.tests.fixtures.beta"]  # noqa: F405

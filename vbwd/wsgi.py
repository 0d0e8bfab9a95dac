"""WSGI entry point (gunicorn vbwd.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vbwd.settings")

application = get_wsgi_application()

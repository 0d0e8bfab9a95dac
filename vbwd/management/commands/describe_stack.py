"""Prints which database, cache and task broker this configuration uses (passwords hidden)."""

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def stack_lines() -> list[str]:
    database = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        database_line = f"SQLite at {database['NAME']}"
    else:
        host = database.get("HOST") or "local socket"
        port = f":{database['PORT']}" if database.get("PORT") else ""
        database_line = f"{connection.display_name} database {database['NAME']} on {host}{port}"
    cache = settings.CACHES["default"]
    if "redis" in cache["BACKEND"].lower():
        cache_line = f"Redis at {_without_password(str(cache['LOCATION']))}"
    else:
        cache_line = "in-process memory (each process keeps its own; set REDIS_URL to share one)"
    if settings.CELERY_TASK_ALWAYS_EAGER:
        broker_line = "none: background tasks run inside the process that queues them"
    else:
        broker_line = (
            f"{_without_password(settings.CELERY_BROKER_URL)} (run a Celery worker and beat)"
        )
    return [f"Database: {database_line}", f"Cache:    {cache_line}", f"Broker:   {broker_line}"]


class Command(BaseCommand):
    help = "Prints the database, cache and task broker this configuration uses."

    def handle(self, *args, **options):
        for line in stack_lines():
            self.stdout.write(f"  {line}")

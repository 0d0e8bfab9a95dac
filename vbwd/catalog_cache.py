"""The public catalog's answers, cached as rendered bytes under the catalog version.

The version is the ``CatalogVersion`` row. Every write to a model the public catalog shows
(plans, categories, add-ons, token bundles, currencies, countries, tax rates, payment methods,
platform settings) increments it in the writer's own transaction: the apps name their models
with ``track`` (``post_save``, ``post_delete`` and ``m2m_changed``), services that write with
``QuerySet.update`` or ``bulk_*`` call ``bump`` themselves, and ``migrate`` bumps it once at the
end (data migrations write through historical models, which send no signals). So the row
changes exactly when a change commits, and no writer can forget it.

Each route and query string has one entry: the answer and the version ``v`` it is stamped
with, where the answer was rendered from data read after ``v`` had committed. It is served only
after one query confirms that ``v`` is still the committed version: then nothing has changed
since, and the entry is exactly what the view would answer now. A hit is thus one cache read and
one query. On a miss the stamp is the version number kept in the cache (``catalog:version``,
published after each bumping commit), so a miss costs no query; when the confirmation finds the
row changed, the reader renders anew under the version it has just read and publishes it. This
closes the gap between a writer's commit and the publication of its number (and a publication
lost with a crashed worker). With no number in the cache yet (a fresh cache) answers are
rendered without being stored until a bumping commit, ``migrate`` or the health probe publishes
one.

Entries hold the body, its content type and a strong ETag (SHA-256 of the body). Every answer
of a cached view carries the ETag and ``Cache-Control: public, max-age=0, must-revalidate``,
and ``If-None-Match`` with the current ETag gets ``304 Not Modified``. The lookup runs in
``initial`` after authentication, permissions and throttling, so rate limits and access rules
apply to cached answers too; only 200 answers are stored.

Most reads are anonymous, and ``CatalogCacheMiddleware`` answers those before the URL resolver
and the API framework run: it counts the anonymous rate limit and reads the entry in one round
trip to Redis, then confirms the version with the same one query. The entry keeps the headers
the view set (``Allow``, ``Vary``), so both ways give the same answer. Anything else a request
needs (a token to check, a missing or stale entry, a 429) is left to the view.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache, partial
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import connections, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.db.utils import DatabaseError
from django.http import HttpResponse, HttpResponseNotModified
from django.urls import Resolver404, resolve
from rest_framework.response import Response

from vbwd import throttling
from vbwd.models import CatalogVersion
from vbwd.request_context import client_ip

logger = logging.getLogger(__name__)

VERSION_KEY = "catalog:version"
ENTRY_TIMEOUT = 24 * 3600
CACHE_CONTROL = "public, max-age=0, must-revalidate"
VERSION_QUERY = "SELECT value FROM vbwd_catalogversion WHERE id = 1"


def bump(using: str = "default", **_signal) -> None:
    """Increment the catalog version in the current transaction (a signal receiver too)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE vbwd_catalogversion SET value = value + 1 WHERE id = 1 RETURNING value"
        )
        row = cursor.fetchone()
    if row is None:  # a flushed database: start again
        CatalogVersion.objects.using(using).get_or_create(pk=1, defaults={"value": 1})
        value = 1
    else:
        value = row[0]
    transaction.on_commit(partial(publish, value), using=using)


def committed_version(using: str = "default") -> int:
    """The committed catalog version (one query)."""
    with connections[using].cursor() as cursor:
        cursor.execute(VERSION_QUERY)
        row = cursor.fetchone()
    return row[0] if row else 0


def publish(value: int) -> None:
    """Make ``value`` the version readers look under; an unreachable cache only costs hits."""
    try:
        cache.set(VERSION_KEY, value, None)
    except Exception:  # the cache client's errors; readers confirm against the row anyway
        logger.warning("Catalog cache: could not publish version %s", value, exc_info=True)


def publish_committed(**_signal) -> None:
    """After ``migrate``: count the migration's writes and publish the version."""
    try:
        with transaction.atomic():
            bump()
    except DatabaseError:  # the vbwd tables are not migrated (e.g. migrating backwards)
        logger.info("Catalog cache: no version row to bump after migrate")


def _on_m2m(action: str, using: str = "default", **_signal) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        bump(using=using)


def track(*models) -> None:
    """Every saved or deleted row of ``models`` (and changed many-to-many link) bumps the
    version; ``QuerySet.update`` and ``bulk_*`` writes call ``bump`` themselves."""
    for model in models:
        uid = f"catalog-version:{model._meta.label}"
        post_save.connect(bump, sender=model, dispatch_uid=f"{uid}:save", weak=False)
        post_delete.connect(bump, sender=model, dispatch_uid=f"{uid}:delete", weak=False)
        for field in model._meta.local_many_to_many:
            m2m_changed.connect(
                _on_m2m,
                sender=field.remote_field.through,
                dispatch_uid=f"{uid}:{field.name}",
                weak=False,
            )


def etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest() + '"'


def _matches(request, etag: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


def entry_key(request) -> str:
    """The cache key of a request's answer: its path and every query parameter, in a fixed
    order (the catalog views read nothing else from an anonymous request)."""
    query = urlencode(sorted((key, value) for key, values in request.GET.lists()
                             for value in values))  # fmt: skip
    route = f"{request.path_info}|{query}"
    return "catalog:" + hashlib.sha256(route.encode("utf-8", "surrogateescape")).hexdigest()


# Set on a request whose entry the middleware found stale: the committed version it read.
_STALE = "_vbwd_catalog_committed"
# Set on every answer (or by the server) rather than kept in an entry.
_ENTRY_HEADERS = {"content-type", "content-length", "etag", "cache-control"}


def _answer(request, body, content_type, etag, headers=()) -> HttpResponse:
    if _matches(request, etag):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type=content_type)
    for name, value in headers:
        response[name] = value
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return response


class CatalogHit(Exception):
    """Raised in ``initial`` to answer from the cache without running the handler."""

    def __init__(self, response: HttpResponse):
        super().__init__()
        self.response = response


class CatalogCacheMixin:
    """Put first in a public catalog view's bases: its GET answers are served from the
    versioned cache. A view whose answer depends on the caller overrides ``catalog_cacheable``
    (the request is authenticated by then)."""

    _catalog_key: str | None = None
    _catalog_stamp: int | None = None

    def catalog_cacheable(self, request) -> bool:
        return True

    def initial(self, request, *args, **kwargs):
        self._catalog_key = self._catalog_stamp = None
        super().initial(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD") or not self.catalog_cacheable(request):
            return
        key = entry_key(request)
        committed = getattr(request._request, _STALE, None)
        if committed is not None:
            # The middleware found this entry stale: render under the version it read.
            publish(committed)
            self._catalog_key, self._catalog_stamp = key, committed
            return
        try:
            entry = cache.get(key)
            if entry is None:
                stamp = cache.get(VERSION_KEY)
        except Exception:  # the cache client's errors: answer uncached
            logger.warning("Catalog cache: unreadable", exc_info=True)
            return
        if entry is not None:
            stamp = committed_version()
            if entry[0] == stamp:
                raise CatalogHit(_answer(request, *entry[1:]))
            # Changed since: render anew under the committed version, and let the other
            # routes' misses store under it too.
            publish(stamp)
        if stamp is not None:
            self._catalog_key, self._catalog_stamp = key, stamp

    def handle_exception(self, exc):
        if isinstance(exc, CatalogHit):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        key, stamp = self._catalog_key, self._catalog_stamp
        self._catalog_key = self._catalog_stamp = None
        if not isinstance(response, Response) or response.status_code != 200:
            return response
        response.render()
        body = bytes(response.content)
        etag = etag_for(body)
        if key is not None:
            # The headers the view and the API framework set (Allow, Vary), so that an early
            # answer carries the same ones.
            headers = tuple((name, value) for name, value in response.items()
                            if name.lower() not in _ENTRY_HEADERS)  # fmt: skip
            entry = (stamp, body, response["Content-Type"], etag, headers)
            try:
                cache.set(key, entry, ENTRY_TIMEOUT)
            except Exception:  # the cache client's errors: the answer stands uncached
                logger.warning("Catalog cache: entry not stored", exc_info=True)
        if _matches(request, etag):
            not_modified = HttpResponseNotModified()
            not_modified["ETag"] = etag
            not_modified["Cache-Control"] = CACHE_CONTROL
            return not_modified
        response["ETag"] = etag
        response["Cache-Control"] = CACHE_CONTROL
        return response


@lru_cache(maxsize=2048)
def _is_catalog_route(urlconf: str, path: str) -> bool:
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return False
    if getattr(match.func, "vbwd_plugin", None):
        return False  # a plugin's route answers only while the plugin is enabled: its view checks
    view_class = getattr(match.func, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, CatalogCacheMixin)


class CatalogCacheMiddleware:
    """Answers an anonymous ``GET`` of a public catalog route from the cache before the URL
    resolver and the API framework run: the rate limit is counted and the entry read in one
    round trip to Redis, then the one query confirms the entry's version, as in the view.

    Anonymous means no Authorization header, the only thing an identified caller's answer can
    differ by; every other request (and any entry that is missing, stale or over the limit)
    goes on to the view, which answers as it always does and does not count the limit again.
    Put it last in ``MIDDLEWARE``, so that every other middleware treats an early answer as it
    treats the view's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.method == "GET"
            and request.path_info.startswith("/api/")
            and "HTTP_AUTHORIZATION" not in request.META
            and _is_catalog_route(
                getattr(request, "urlconf", None) or settings.ROOT_URLCONF, request.path_info
            )
        ):
            response = self._early_answer(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _early_answer(self, request) -> HttpResponse | None:
        key = entry_key(request)
        try:
            if settings.VBWD_RATE_LIMIT_ENABLED:
                identity = client_ip(request) or "unknown"
                wait, entry = throttling.hit_and_read("anonymous", identity, key)
                setattr(request, throttling.COUNTED, ("anonymous", identity, wait))
                if wait is not None:
                    return None  # the view answers 429
            else:
                entry = cache.get(key)
        except Exception:  # the cache client's errors: the view answers (and logs)
            return None
        if entry is None or len(entry) != 5:
            return None
        try:
            committed = committed_version()
        except DatabaseError:
            return None
        if entry[0] != committed:
            setattr(request, _STALE, committed)  # changed since: the view renders anew
            return None
        return _answer(request, *entry[1:])

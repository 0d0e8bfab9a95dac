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
and the API framework run, in one round trip to Redis (a script that counts the anonymous rate
limit and reads the entry, the published version and whether it is trusted) and, in the steady
state, no query. The entry keeps the headers the view set (``Allow``, ``Vary``), so both ways
give the same answer. Anything else a request needs (a token to check, a missing or stale entry,
a 429) is left to the view, which does not count the request again.

Trusting the published version without a query rests on one rule: every writer marks Redis
(``catalog:trust``, a hash) after its version update, which locks the version row until its
transaction ends, and before it commits; ``publish`` removes the mark after the commit. While any
mark is present, or the hash has lost its ``ok`` field, readers confirm the version by query and
try to ``reconcile``: under the row's lock (``FOR UPDATE NOWAIT``, so no writer is between its
update and its commit) they publish the committed version, drop every mark (their writers have
committed, rolled back or died) and set ``ok``. So a change is visible in the very next read:
before its publication its mark is there, after it the published version has moved. A cache that
loses the hash (a restart, an eviction) loses ``ok`` with the marks and is trusted again only
after a reconcile; a writer that cannot mark (Redis unreachable) is refused with 503, as its
commit could otherwise go unseen. With another cache backend nothing is trusted and every hit is
confirmed by its query. After restoring a database backup, clear the cache.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
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
from vbwd.exceptions import ServiceUnavailable
from vbwd.models import CatalogVersion
from vbwd.request_context import client_ip

logger = logging.getLogger(__name__)

VERSION_KEY = "catalog:version"
# A Redis hash: "ok" once the published version is trusted, "w:<token>" per writer in flight.
TRUST_KEY = "catalog:trust"
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
    # Marked after the update (the row is locked until this transaction ends) and before the
    # commit: readers stop trusting the published number until ``publish`` removes the mark.
    token = _mark_writer()
    transaction.on_commit(partial(publish, value, token), using=using)


def committed_version(using: str = "default") -> int:
    """The committed catalog version (one query)."""
    with connections[using].cursor() as cursor:
        cursor.execute(VERSION_QUERY)
        row = cursor.fetchone()
    return row[0] if row else 0


def publish(value: int, token: str = "") -> None:
    """Make ``value`` the version readers look under (never a lower one than published) and
    remove the writer's mark ``token``; an unreachable cache only costs hits."""
    try:
        redis = _redis()
        if redis is None:
            current = cache.get(VERSION_KEY)
            if current is None or value > current:
                cache.set(VERSION_KEY, value, None)
            return
        _script(redis, _PUBLISH)(keys=_state_keys(), args=[value, token], client=redis)
    except Exception:  # the cache client's errors; readers confirm against the row anyway
        logger.warning("Catalog cache: could not publish version %s", value, exc_info=True)


def reconcile(using: str = "default") -> int | None:
    """Trust the published version again: under the version row's lock (so no writer is
    between its update and its commit) publish the committed version, drop every writer's
    mark (theirs have ended: committed, rolled back or crashed) and mark the state trusted.
    Returns the committed version, or None when a writer holds the row or the cache is not
    Redis on PostgreSQL (then nothing is trusted and every hit is confirmed by a query)."""
    redis = _redis()
    connection = connections[using]
    if redis is None or connection.vendor != "postgresql":
        return None
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(VERSION_QUERY + " FOR UPDATE NOWAIT")
            row = cursor.fetchone()
            value = row[0] if row else 0
            _script(redis, _RESET)(keys=_state_keys(), args=[value], client=redis)
    except DatabaseError:  # the row is locked by a writer: confirm by query meanwhile
        return None
    except Exception:  # the cache client's errors
        logger.warning("Catalog cache: could not reset the published version", exc_info=True)
        return None
    return value


def _redis():
    """The Redis client of the cache, or None for another cache backend."""
    get_client = getattr(getattr(cache, "client", None), "get_client", None)
    return None if get_client is None else get_client(write=True)


def _state_keys() -> list[str]:
    return [cache.make_key(VERSION_KEY), cache.make_key(TRUST_KEY)]


def _mark_writer() -> str:
    redis = _redis()
    if redis is None:
        return ""
    token = uuid.uuid4().hex
    try:
        redis.hset(cache.make_key(TRUST_KEY), f"w:{token}", 1)
    except Exception as error:  # the cache client's errors
        # Without the mark a reader could trust the old number after this commit.
        logger.error("Catalog cache unreachable: catalog change refused (%s)", error)
        raise ServiceUnavailable(
            "The cache is unreachable; catalog changes are refused until it is back"
        ) from error
    return token


# KEYS: the published version, the trust hash. ARGV: the version, the writer's token.
_PUBLISH = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1])
end
if ARGV[2] ~= '' then
  redis.call('HDEL', KEYS[2], 'w:' .. ARGV[2])
end
return 1
"""
# KEYS: the published version, the trust hash. ARGV: the committed version.
_RESET = """
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'ok', 1)
return 1
"""
# KEYS: the rate-limit counter, the entry, the published version, the trust hash.
# ARGV: the counter's expiry, '1' to count. Returns {count, entry, version, trusted}.
_READ = """
local count = 0
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], 0, 'NX', 'EX', ARGV[1])
  count = redis.call('INCR', KEYS[1])
end
local trusted = 0
if redis.call('HLEN', KEYS[4]) == 1 and redis.call('HEXISTS', KEYS[4], 'ok') == 1 then
  trusted = 1
end
return {count, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), trusted}
"""
_scripts: dict[str, object] = {}


def _script(redis, source: str):
    """A script, hashed once per process (sent by its SHA1, loaded when missing)."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = redis.register_script(source)
    return script


def publish_committed(**_signal) -> None:
    """After ``migrate``: count the migration's writes and publish the version."""
    try:
        with transaction.atomic():
            bump()
    except DatabaseError:  # the vbwd tables are not migrated (e.g. migrating backwards)
        logger.info("Catalog cache: no version row to bump after migrate")
    except ServiceUnavailable:
        logger.error(
            "Catalog cache unreachable after migrate: clear the cache once it is back, so no "
            "answer from before the migration is served"
        )


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
    resolver and the API framework run: one round trip to Redis counts the rate limit and reads
    the entry and the published version; the entry is served when it carries that version and
    the version is trusted (see the module's notes), else after one query confirms it.

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
        redis = _redis()
        if redis is None:
            return None  # another cache backend: the view answers
        counter = None
        if settings.VBWD_RATE_LIMIT_ENABLED:
            identity = client_ip(request) or "unknown"
            counter = throttling.counter("anonymous", identity)
        counted = [cache.make_key(counter.key), counter.timeout] if counter else ["", 0]
        keys = [counted[0], cache.make_key(entry_key(request)), *_state_keys()]
        try:
            count, raw, published, trusted = _script(redis, _READ)(
                keys=keys, args=[counted[1], "1" if counter else "0"], client=redis
            )
            entry = None if raw is None else cache.client.decode(raw)
        except Exception:  # the cache client's errors: the view answers (and logs)
            return None
        if counter is not None:
            wait = counter.wait(count)
            setattr(request, throttling.COUNTED, ("anonymous", identity, wait))
            if wait is not None:
                return None  # the view answers 429
        if entry is None or len(entry) != 5:
            return None
        if trusted and published is not None and entry[0] == int(published):
            # No writer has marked the state since it was last trusted, so the published
            # version is the committed one.
            return _answer(request, *entry[1:])
        committed = None if trusted else reconcile()
        try:
            committed = committed_version() if committed is None else committed
        except DatabaseError:
            return None
        if entry[0] != committed:
            setattr(request, _STALE, committed)  # changed since: the view renders anew
            return None
        return _answer(request, *entry[1:])

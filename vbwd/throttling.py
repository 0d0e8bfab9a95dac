"""Rate limits: fixed one-window counters in the shared cache.

A limit is a scope name, a rate (``"10/minute"``) and what it is keyed on (client IP, the
normalised email of the body, or the user). Counters are plain cache integers, created and
raised atomically in the shared cache (in Redis one round trip of a script doing
``SET NX`` and ``INCR``), so every worker process shares them.
Views list the limits that apply to them with ``rate_limit(scope, key)``; every other request
gets ``DefaultThrottle`` (per user when authenticated, per IP otherwise).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from vbwd.exceptions import ServiceUnavailable
from vbwd.request_context import client_ip

logger = logging.getLogger(__name__)

# Scopes that guard credentials: when the counters cannot be read they fail closed (503) rather
# than open up brute force; every other limit lets the request through and logs the outage.
FAIL_CLOSED_SCOPES = {
    "login_ip",
    "login_email",
    "register_ip",
    "check_email_ip",
    "forgot_password_email",
    "forgot_password_ip",
    "reset_password_ip",
    "refresh_ip",
    "change_password_user",
}

DEFAULT_RATE_LIMITS: dict[str, str] = {
    "login_ip": "10/minute",
    "login_email": "10/minute",
    "register_ip": "5/minute",
    "check_email_ip": "10/minute",
    "forgot_password_email": "5/hour",
    "forgot_password_ip": "20/hour",
    "reset_password_ip": "10/minute",
    "refresh_ip": "30/minute",
    "change_password_user": "10/minute",
    "payment_user": "20/minute",
    "metered_user": "30/minute",
    "coupon_preview_user": "10/minute",
    "events": "100/minute",
    "authenticated": "600/minute",
    "anonymous": "300/minute",
}

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"10/minute"`` → (10, 60). Also accepts ``"10/5minute"`` style multipliers."""
    count, _, period = rate.partition("/")
    period = period.strip().lower().rstrip("s") or "minute"
    multiplier = ""
    while period and period[0].isdigit():
        multiplier += period[0]
        period = period[1:]
    if period not in _PERIODS:
        raise ValueError(f"Unknown rate period in {rate!r}")
    return int(count), _PERIODS[period] * int(multiplier or 1)


# Set on a request whose limit was counted before the view ran: (scope, identity, wait).
COUNTED = "_vbwd_rate_counted"


def rate_for(scope: str) -> tuple[int, int]:
    configured = getattr(settings, "VBWD_RATE_LIMITS", {}) or {}
    return parse_rate(configured.get(scope, DEFAULT_RATE_LIMITS[scope]))


@dataclass(frozen=True)
class Counter:
    """One client's counter of a scope in the current window."""

    key: str
    timeout: int
    limit: int
    wait_after: float  # seconds from now to the end of the window

    def wait(self, count: int) -> float | None:
        """Seconds until the window ends when ``count`` is over the limit, else None."""
        return max(1.0, math.ceil(self.wait_after)) if count > self.limit else None


def counter(scope: str, identity: str) -> Counter:
    limit, period = rate_for(scope)
    now = time.time()
    window = int(now // period)
    return Counter(
        f"rl:{scope}:{identity}:{window}", period + 1, limit, (window + 1) * period - now
    )


def hit(scope: str, identity: str) -> float | None:
    """Counts one request; returns the seconds until the window ends when over the limit."""
    current = counter(scope, identity)
    return current.wait(_count(current.key, timeout=current.timeout))


def _count(key: str, *, timeout: int) -> int:
    """Raises the counter ``key`` by one and returns it, creating it with ``timeout``."""
    client = getattr(getattr(cache, "client", None), "get_client", None)
    if client is not None:
        # Redis: create and raise in one round trip, atomically (a script).
        redis = client(write=True)
        return _count_script(redis)(keys=[cache.make_key(key)], args=[timeout], client=redis)
    return _count_portable(key, timeout)


# KEYS[1] the counter: created at 0 with the window's expiry, then raised; returns the count.
_COUNT = """
redis.call('SET', KEYS[1], 0, 'NX', 'EX', ARGV[1])
return redis.call('INCR', KEYS[1])
"""
_count_scripts: list = []


def _count_script(redis):
    """The counting script, hashed once per process (sent by its SHA1, loaded when missing)."""
    if not _count_scripts:
        _count_scripts.append(redis.register_script(_COUNT))
    return _count_scripts[0]


def _count_portable(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:
        # The key expired between add and incr: this request opens a fresh window.
        cache.add(key, 1, timeout=timeout)
        return 1


def _normalised_email(request) -> str | None:
    # A body that does not parse raises here, and the client gets its parse_error / 415.
    data = request.data
    email = data.get("email") if hasattr(data, "get") else None
    if not isinstance(email, str) or not email.strip():
        return None
    return email.strip().lower()


def identity_for(request, key: str) -> str | None:
    if key == "ip":
        return client_ip(request) or "unknown"
    if key == "email":
        return _normalised_email(request)
    if key == "user":
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return f"ip:{client_ip(request) or 'unknown'}"
    raise ValueError(f"Unknown rate-limit key {key!r}")


class ScopedRateThrottle(BaseThrottle):
    scope: str = ""
    key: str = "ip"

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        if not settings.VBWD_RATE_LIMIT_ENABLED:
            return True
        identity = identity_for(request, self.key)
        if identity is None:
            return True
        earlier = getattr(getattr(request, "_request", request), COUNTED, None)
        if earlier is not None and earlier[:2] == (self.scope, identity):
            # Counted before the view ran (the catalog cache's early answer): once per request.
            self._wait = earlier[2]
            return self._wait is None
        try:
            self._wait = hit(self.scope, identity)
        except Exception as error:  # the cache backend is down (any client error)
            logger.error("Rate-limit counters unavailable for %s: %s", self.scope, error)
            if self.scope in FAIL_CLOSED_SCOPES:
                raise ServiceUnavailable() from error
            return True
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


def rate_limit(scope: str, key: str) -> type[ScopedRateThrottle]:
    """A throttle class for one scope of ``DEFAULT_RATE_LIMITS``."""
    if scope not in DEFAULT_RATE_LIMITS:
        raise ValueError(f"Unknown rate-limit scope {scope!r}")
    return type(f"RateLimit_{scope}", (ScopedRateThrottle,), {"scope": scope, "key": key})


class DefaultThrottle(ScopedRateThrottle):
    """600/minute per user when authenticated, 300/minute per client IP otherwise."""

    def allow_request(self, request, view) -> bool:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self.scope, self.key = "authenticated", "user"
        else:
            self.scope, self.key = "anonymous", "ip"
        return super().allow_request(request, view)

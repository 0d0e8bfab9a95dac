"""Rate limits: fixed one-window counters in the shared cache.

A limit is a scope name, a rate (``"10/minute"``) and what it is keyed on (client IP, the
normalised email of the body, or the user). Counters are plain cache integers, created and
raised atomically in the shared cache (in Redis one MULTI round trip of ``SET NX`` and
``INCR``), so every worker process shares them.
Views list the limits that apply to them with ``rate_limit(scope, key)``; every other request
gets ``DefaultThrottle`` (per user when authenticated, per IP otherwise).
"""

from __future__ import annotations

import logging
import math
import time

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


def rate_for(scope: str) -> tuple[int, int]:
    configured = getattr(settings, "VBWD_RATE_LIMITS", {}) or {}
    return parse_rate(configured.get(scope, DEFAULT_RATE_LIMITS[scope]))


def hit(scope: str, identity: str) -> float | None:
    """Counts one request; returns the seconds until the window ends when over the limit."""
    limit, period = rate_for(scope)
    now = time.time()
    window = int(now // period)
    count = _count(f"rl:{scope}:{identity}:{window}", timeout=period + 1)
    if count > limit:
        return max(1.0, math.ceil((window + 1) * period - now))
    return None


def _count(key: str, *, timeout: int) -> int:
    """Raises the counter ``key`` by one and returns it, creating it with ``timeout``."""
    client = getattr(getattr(cache, "client", None), "get_client", None)
    if client is not None:
        # Redis: create and raise in one round trip, atomically (MULTI/EXEC).
        pipe = client(write=True).pipeline(transaction=True)
        name = cache.make_key(key)
        pipe.set(name, 0, nx=True, ex=timeout)
        pipe.incr(name)
        return pipe.execute()[1]
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

"""Which webhook URLs may be called: the scheme rule and the address rule, checked when an
endpoint is registered and again before every attempt (a name can resolve elsewhere later).

- ``https://`` only, unless ``VBWD_WEBHOOK_ALLOW_HTTP`` (on by default with ``DEBUG``).
- Every address the host resolves to must be a public one: loopback, link-local, private,
  shared, multicast, reserved and unspecified addresses are refused, so an endpoint cannot make
  the server call itself or its internal network. ``DEBUG`` lifts this rule; so does naming the
  host (exactly as written in the URL) in ``VBWD_WEBHOOK_ALLOWED_HOSTS``, meant for a receiver
  on the same machine in development and tests.

``resolve`` returns the checked addresses, and the delivery connects to one of them rather than
resolving the name again.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2000
URL_REQUIRED = "url is required"
URL_INVALID = "url must be an absolute URL"
URL_TOO_LONG = f"url must be at most {MAX_URL_LENGTH} characters"
HTTPS_REQUIRED = "URL must use https"
HOST_NOT_ALLOWED = "URL host is not allowed"


class UrlRefused(ValueError):
    """The URL breaks a rule; the message is one of the module's messages."""


def _lookup(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the one place names are resolved)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def parse(url: str) -> SplitResult:
    """The URL's parts after the scheme and form rules; raises ``UrlRefused``."""
    if not isinstance(url, str) or not url.strip():
        raise UrlRefused(URL_REQUIRED)
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(URL_TOO_LONG)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        raise UrlRefused(URL_INVALID) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused(URL_INVALID)
    if parts.username is not None or parts.password is not None:
        raise UrlRefused(URL_INVALID)
    if scheme == "http" and not settings.VBWD_WEBHOOK_ALLOW_HTTP:
        raise UrlRefused(HTTPS_REQUIRED)
    return parts


def host_exempt(parts: SplitResult) -> bool:
    """True when the address rule does not apply to this URL's host."""
    if settings.DEBUG:
        return True
    allowed = {host.lower().strip("[]") for host in settings.VBWD_WEBHOOK_ALLOWED_HOSTS}
    return (parts.hostname or "").lower() in allowed


def resolve(url: str) -> tuple[SplitResult, list[str]]:
    """The URL's parts and the addresses to connect to, after every rule; raises
    ``UrlRefused``. A host that does not resolve is refused as well."""
    parts = parse(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = _lookup(parts.hostname, port)
    except (OSError, UnicodeError):
        raise UrlRefused(HOST_NOT_ALLOWED) from None
    if not addresses:
        raise UrlRefused(HOST_NOT_ALLOWED)
    if not host_exempt(parts) and not all(_public(address) for address in addresses):
        raise UrlRefused(HOST_NOT_ALLOWED)
    return parts, addresses


def url_check(url: str) -> str:
    """The URL, trimmed, when staff may register it; raises ``UrlRefused``."""
    url = url.strip() if isinstance(url, str) else url
    resolve(url)
    return url

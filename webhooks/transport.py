"""One POST to a receiver: to an address the URL rules accepted (never resolved twice), with
the timeout, no redirects followed and at most an excerpt of the answer read."""

from __future__ import annotations

import time
from dataclasses import dataclass

import certifi
import urllib3
from django.conf import settings

from webhooks import addresses

EXCERPT_CHARACTERS = 1000
# Bytes of an answer read for its excerpt (a receiver can answer with anything).
_READ_LIMIT = 4 * EXCERPT_CHARACTERS


@dataclass(frozen=True)
class Answer:
    status: int | None  # None when no answer arrived
    excerpt: str | None
    duration_ms: int
    error: str | None  # why no answer arrived, or why the URL was not called


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """Sends ``body``; never raises for the receiver's or the network's failures."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        parts, resolved = addresses.resolve(url)
    except addresses.UrlRefused as refused:
        return Answer(None, None, elapsed(), str(refused))
    https = parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    if ":" in parts.hostname and parts.port is None:
        host_header = f"[{parts.hostname}]"
    elif ":" in parts.hostname:
        host_header = f"[{parts.hostname}]:{parts.port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = urllib3.Timeout(total=settings.VBWD_WEBHOOK_TIMEOUT_SECONDS)
    if https:
        pool = urllib3.HTTPSConnectionPool(
            resolved[0],
            port,
            server_hostname=parts.hostname,
            assert_hostname=parts.hostname,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            timeout=timeout,
            retries=False,
            maxsize=1,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            resolved[0], port, timeout=timeout, retries=False, maxsize=1
        )
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            raw = response.read(_READ_LIMIT, decode_content=False)
        finally:
            response.release_conn()
        excerpt = raw.decode("utf-8", errors="replace")[:EXCERPT_CHARACTERS]
        return Answer(response.status, excerpt, elapsed(), None)
    except urllib3.exceptions.TimeoutError:
        return Answer(None, None, elapsed(), "Timed out")
    except urllib3.exceptions.HTTPError as error:
        reason = getattr(error, "reason", None) or error
        return Answer(None, None, elapsed(), f"Connection failed: {type(reason).__name__}")
    finally:
        pool.close()

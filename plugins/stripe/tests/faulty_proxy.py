"""A fault-injecting HTTP proxy in front of the Stripe-compatible test server.

The Stripe gateway is pointed at the proxy (``VBWD_PLUGIN_STRIPE_API_BASE``); each request is
handled by the mode of the most specific rule that matches it (method and path prefix):

* ``pass``: forwarded, the server's answer is returned;
* ``refuse_before``: the connection is closed before anything is forwarded, so the provider
  never saw the request;
* ``drop_after``: forwarded, the server acts and answers, then the connection is closed without
  an answer: the provider did act but the caller never heard (a crash on the way back);
* ``hang_after``: forwarded, then nothing is answered for ``hang_seconds`` (longer than the
  client's timeout) and the connection is closed.

``on_request(hook)`` installs ``hook(method, path)``, run in the proxy's thread when a request
arrives and before it is forwarded: while the caller is blocked in its provider call. Every
request is logged (``log``) with the mode it met, so a test sees the idempotency key of a call
the provider never received.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MODES = ("pass", "refuse_before", "drop_after", "hang_after")
FORWARD_TIMEOUT_SECONDS = 10.0
# Hop-by-hop headers, and the ones the proxy sets itself.
SKIPPED_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "host", "content-length"}
)


@dataclass
class ProxiedRequest:
    method: str
    path: str
    idempotency_key: str | None
    mode: str
    status: int | None = None  # the server's status; None when nothing was forwarded


@dataclass(frozen=True)
class _Rule:
    method: str | None
    prefix: str
    mode: str


class FaultyProxy:
    def __init__(self, target_url: str, *, hang_seconds: float = 2.5):
        target = urlsplit(target_url)
        self.target_host = target.hostname
        self.target_port = target.port
        self.hang_seconds = hang_seconds
        self.log: list[ProxiedRequest] = []
        self.hook_errors: list[BaseException] = []
        self._rules: list[_Rule] = []
        self._hook = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # --- configuration -------------------------------------------------------------------------

    def set_mode(self, mode: str, prefix: str = "/", method: str | None = None) -> None:
        """Requests whose path starts with ``prefix`` (and, when given, with this method) meet
        ``mode``; the longest matching prefix wins, a rule with a method over one without."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        method = method.upper() if method else None
        with self._lock:
            self._rules = [
                rule for rule in self._rules if (rule.method, rule.prefix) != (method, prefix)
            ]
            self._rules.append(_Rule(method, prefix, mode))

    def reset(self) -> None:
        """Every request passes again and no hook runs; the log is kept."""
        with self._lock:
            self._rules = []
            self._hook = None

    def on_request(self, hook) -> None:
        """``hook(method, path)`` runs for each request before it is forwarded (None: none)."""
        with self._lock:
            self._hook = hook

    def mode_for(self, method: str, path: str) -> str:
        with self._lock:
            matching = [
                rule
                for rule in self._rules
                if path.startswith(rule.prefix) and rule.method in (None, method.upper())
            ]
        if not matching:
            return "pass"
        best = max(matching, key=lambda rule: (len(rule.prefix), rule.method is not None))
        return best.mode

    # --- reading the log -----------------------------------------------------------------------

    def calls(self, method: str | None = None, prefix: str = "/") -> list[ProxiedRequest]:
        with self._lock:
            entries = list(self.log)
        return [
            entry
            for entry in entries
            if entry.path.startswith(prefix) and (method is None or entry.method == method)
        ]

    def close(self) -> None:
        self._stopping.set()  # frees every hanging request at once
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- the work, in the server's threads -----------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        mode = self.mode_for(handler.command, path)
        entry = ProxiedRequest(
            method=handler.command,
            path=path,
            idempotency_key=handler.headers.get("Idempotency-Key"),
            mode=mode,
        )
        with self._lock:
            self.log.append(entry)
            hook = self._hook
        if hook is not None:
            try:
                hook(handler.command, path)
            except BaseException as error:  # reported to the test, never to the client
                self.hook_errors.append(error)
        handler.close_connection = True
        if mode == "refuse_before":
            return
        status, headers, payload = self._forward(handler, body)
        entry.status = status
        if mode == "drop_after":
            return
        if mode == "hang_after":
            self._stopping.wait(self.hang_seconds)
            return
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(payload)

    def _forward(self, handler: _Handler, body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(
            self.target_host, self.target_port, timeout=FORWARD_TIMEOUT_SECONDS
        )
        try:
            headers = {
                name: value
                for name, value in handler.headers.items()
                if name.lower() not in SKIPPED_HEADERS
            }
            headers["Content-Length"] = str(len(body))
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in SKIPPED_HEADERS
            ]
            return response.status, kept, payload
        finally:
            connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    proxy: FaultyProxy

    def handle_error(self, request, client_address):
        # A client that gave up (timeout) makes writing fail; that is the point of the test.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _Server

    def do_GET(self):
        self.server.proxy._handle(self)

    def do_POST(self):
        self.server.proxy._handle(self)

    def do_DELETE(self):
        self.server.proxy._handle(self)

    def log_message(self, format, *args):
        pass

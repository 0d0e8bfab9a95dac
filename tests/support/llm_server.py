"""A local OpenAI-compatible HTTP server for tests: ``POST /v1/chat/completions`` on loopback.

It answers with the real response shape (``chat.completion`` with ``choices`` and ``usage``)
or, when told to, with the errors a provider gives: an HTTP status with OpenAI's error body
(429 rate limit, 500 server error) or no answer within the client's timeout. Every request is
recorded (path, headers, JSON body) so tests can assert what the application sent, or that it
sent nothing.

    server = LLMServer.start()
    server.reply("The stars say yes.", prompt_tokens=12, completion_tokens=5)
    server.fail(429)          # the next request only
    server.stall(2.0)         # the next request answers after 2 s
    server.requests           # what arrived
    server.stop()
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}


@dataclass
class Answer:
    status: int = 200
    text: str = "Hello from the model."
    prompt_tokens: int = 10
    completion_tokens: int = 5
    delay: float = 0.0


@dataclass
class LLMServer:
    httpd: ThreadingHTTPServer
    thread: threading.Thread
    default: Answer = field(default_factory=Answer)
    scripted: deque = field(default_factory=deque)
    requests: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Called (in the server's thread) with each request's JSON body before it is answered.
    on_request: object = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @classmethod
    def start(cls) -> LLMServer:
        httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        server = cls(httpd=httpd, thread=thread)
        httpd.llm = server
        thread.start()
        return server

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.default = Answer()
            self.scripted.clear()
            self.requests.clear()
            self.on_request = None

    def reply(self, text: str, *, prompt_tokens: int = 10, completion_tokens: int = 5) -> None:
        """Every following request (until changed) gets this reply."""
        with self.lock:
            self.default = Answer(
                text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )

    def fail(self, status: int, *, times: int = 1) -> None:
        """The next ``times`` requests answer ``status`` with OpenAI's error body."""
        with self.lock:
            self.scripted.extend(Answer(status=status) for _ in range(times))

    def stall(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests answer only after ``seconds``."""
        with self.lock:
            self.scripted.extend(
                Answer(
                    text=self.default.text,
                    prompt_tokens=self.default.prompt_tokens,
                    completion_tokens=self.default.completion_tokens,
                    delay=seconds,
                )
                for _ in range(times)
            )

    def next_answer(self) -> Answer:
        with self.lock:
            return self.scripted.popleft() if self.scripted else self.default


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that gave up (timeout) closes the socket before a stalled answer."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: tests read ``requests``
        return

    def _send(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        server: LLMServer = self.server.llm
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        with server.lock:
            server.requests.append(
                {
                    "path": self.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "body": body,
                }
            )
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, _error(404, f"Unknown path {self.path}"))
            return
        if server.on_request is not None:
            server.on_request(body)
        answer = server.next_answer()
        if answer.delay:
            time.sleep(answer.delay)
        if answer.status != 200:
            self._send(answer.status, _error(answer.status, f"Scripted error {answer.status}"))
            return
        if not isinstance(body, dict) or not body.get("messages") or not body.get("model"):
            self._send(400, _error(400, "model and messages are required"))
            return
        self._send(
            200,
            {
                "id": f"chatcmpl-{len(server.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "system_fingerprint": "fp_local",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer.text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": answer.prompt_tokens,
                    "completion_tokens": answer.completion_tokens,
                    "total_tokens": answer.prompt_tokens + answer.completion_tokens,
                },
            },
        )


def _error(status: int, message: str) -> dict:
    kind = _ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


class LogCapture:
    """Every log record of every logger, formatted with its arguments, at DEBUG and above,
    while the context is open (independent of pytest's logging plugin)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._handler = _ListHandler(self.lines)
        self._levels: dict[str, int] = {}

    def __enter__(self) -> list[str]:
        import logging

        root = logging.getLogger()
        root.addHandler(self._handler)
        for name in ("", "openai", "httpx", "httpx2", "httpcore", "httpcore2", "plugins", "django"):
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
        return self.lines

    def __exit__(self, *exc_info) -> None:
        import logging

        logging.getLogger().removeHandler(self._handler)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


class _ListHandler:
    def __new__(cls, lines):
        import logging

        class Handler(logging.Handler):
            def emit(self, record):
                formatted = f"{record.name} {record.levelname} {record.getMessage()}"
                if record.exc_info:
                    formatted += "\n" + logging.Formatter().formatException(record.exc_info)
                lines.append(formatted)

        return Handler(level=logging.DEBUG)

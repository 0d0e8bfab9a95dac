"""A YooKassa-compatible HTTP server on loopback, for tests: the part of the YooKassa API v3 the
plugin calls, spoken as YooKassa documents it, driven by the real ``yookassa`` SDK.

API (under ``/v3``, HTTP Basic with the shop id and secret key):

- ``POST /payments``: a payment with redirect confirmation (``pending`` with a
  ``confirmation_url``), or an off-session charge of a saved ``payment_method_id`` (answered
  ``succeeded``, or ``canceled`` with ``cancellation_details`` when the method declines).
- ``GET /payments/{id}``, ``POST /refunds``, ``GET /refunds/{id}``.
- Every POST needs an ``Idempotence-Key``: a repeat with the same key and body gets the first
  answer again (``replayed`` in the log); the same key with another body is refused.
- Errors are YooKassa's error objects: ``{"type": "error", "id", "code", "description",
  "parameter"?}`` with 400 ``invalid_request``, 401 ``invalid_credentials``, 404 ``not_found``.

What the customer and YooKassa do outside the API:

- ``GET /checkout/{payment id}`` (the ``confirmation_url``) is the customer confirming the
  payment: it succeeds (keeping the method when asked), the customer is redirected to the
  ``return_url``; ``?cancel=1`` cancels it instead.
- Notifications (``payment.succeeded``, ``payment.canceled``, ``refund.succeeded``) are signed
  with the webhook secret (hex HMAC-SHA256 of the body in ``X-YooKassa-Signature``), kept in
  ``outbox`` and, when ``webhook_url`` is set, posted there from a background thread.

For tests: ``requests`` (what was received), ``stall_next`` (answer one request only after the
client gave up, having done its work), ``decline`` (a saved method starts declining).
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

CURRENCIES = {
    "RUB", "USD", "EUR", "BYN", "CNY", "KZT", "UAH", "UZS", "TRY", "INR", "MDL", "AZN", "AMD",
}  # fmt: skip


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(status: int, code: str, description: str, parameter: str | None = None):
    body = {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}
    if parameter:
        body["parameter"] = parameter
    return status, body


@dataclass
class Notification:
    event: str
    body: bytes
    signature: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-YooKassa-Signature": self.signature}


@dataclass
class _State:
    payments: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    methods: dict = field(default_factory=dict)  # saved method id -> {"declines": bool}
    keys: dict = field(default_factory=dict)  # (path, key) -> (body fingerprint, status, answer)
    log: list = field(default_factory=list)
    stalls: list = field(default_factory=list)  # [(method, path prefix, seconds)]
    outbox: list = field(default_factory=list)


class LocalYooKassa:
    """The running server; ``url`` is the API base (``…/v3``) the plugin is pointed at."""

    def __init__(self, shop_id: str, secret_key: str, webhook_secret: str):
        self.shop_id, self.secret_key, self.webhook_secret = shop_id, secret_key, webhook_secret
        self.webhook_url: str | None = None
        self.lock = threading.RLock()
        self.state = _State()
        self._ids = itertools.count(1)
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self.server = server
        self.root = f"http://127.0.0.1:{server.server_address[1]}"
        self.url = f"{self.root}/v3"
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.state = _State()
            self.webhook_url = None

    # --- for tests --------------------------------------------------------------------------

    def requests(self) -> list[dict]:
        with self.lock:
            return copy.deepcopy(self.state.log)

    def calls(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests() if (r["method"], r["path"]) == (method, path)]

    def clear_requests(self) -> None:
        with self.lock:
            self.state.log.clear()

    def stall_next(self, method: str, path_prefix: str, seconds: float) -> None:
        """The next matching request is carried out but answered only after ``seconds``."""
        with self.lock:
            self.state.stalls.append((method, path_prefix, seconds))

    def decline(self, method_id: str) -> None:
        with self.lock:
            self.state.methods[method_id]["declines"] = True

    def payment(self, payment_id: str) -> dict:
        with self.lock:
            return copy.deepcopy(self.state.payments[payment_id])

    def refunds_of(self, payment_id: str) -> list[dict]:
        with self.lock:
            return [
                copy.deepcopy(r)
                for r in self.state.refunds.values()
                if r["payment_id"] == payment_id
            ]

    def confirm(self, payment_id: str, *, cancel: bool = False) -> dict:
        """The customer confirms (or gives up) on YooKassa's page."""
        with self.lock:
            payment = self.state.payments[payment_id]
            if payment["status"] != "pending":
                return copy.deepcopy(payment)
            if cancel:
                payment["status"] = "canceled"
                payment["cancellation_details"] = {
                    "party": "yoo_money",
                    "reason": "canceled_by_merchant",
                }
                self._notify("payment.canceled", payment)
                return copy.deepcopy(payment)
            method_id = f"pm-{uuid.uuid4()}"
            saved = bool(payment.pop("_save", False))
            payment.update(
                status="succeeded",
                paid=True,
                refundable=True,
                captured_at=_now(),
                payment_method={
                    "type": "bank_card",
                    "id": method_id,
                    "saved": saved,
                    "title": "Bank card *4444",
                },
            )
            if saved:
                self.state.methods[method_id] = {"declines": False}
            self._notify("payment.succeeded", payment)
            return copy.deepcopy(payment)

    def sign(self, payload: dict, secret: str | None = None) -> Notification:
        body = json.dumps(payload).encode()
        key = (secret if secret is not None else self.webhook_secret).encode()
        return Notification(
            event=payload.get("event", ""),
            body=body,
            signature=hmac.new(key, body, hashlib.sha256).hexdigest(),
        )

    def notification(self, event: str, obj: dict) -> Notification:
        return self.sign({"type": "notification", "event": event, "object": obj})

    def outbox(self, event: str | None = None) -> list[Notification]:
        with self.lock:
            return [n for n in self.state.outbox if event is None or n.event == event]

    # --- the API ---------------------------------------------------------------------------

    def _notify(self, event: str, obj: dict) -> None:
        public = {k: v for k, v in obj.items() if not k.startswith("_")}
        notification = self.notification(event, copy.deepcopy(public))
        self.state.outbox.append(notification)
        if self.webhook_url:
            url = self.webhook_url
            threading.Thread(target=_post, args=(url, notification), daemon=True).start()

    def handle(self, method: str, path: str, headers, raw: bytes) -> tuple[int, dict, float]:
        """(status, body, seconds to wait before answering) of one API request."""
        key = headers.get("Idempotence-Key")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry = {
            "method": method,
            "path": path,
            "idempotence_key": key,
            "body": body,
            "replayed": False,
            "status": None,
        }
        with self.lock:
            self.state.log.append(entry)
            stall = 0.0
            for index, (verb, prefix, seconds) in enumerate(self.state.stalls):
                if verb == method and path.startswith(prefix):
                    stall = seconds
                    del self.state.stalls[index]
                    break
            status, answer = self._answer(method, path, headers, key, body, raw, entry)
            entry["status"] = status
            return status, answer, stall

    def _authorized(self, headers) -> bool:
        expected = base64.b64encode(f"{self.shop_id}:{self.secret_key}".encode()).decode()
        return headers.get("Authorization") == f"Basic {expected}"

    def _answer(self, method, path, headers, key, body, raw, entry):
        if not self._authorized(headers):
            return _error(401, "invalid_credentials", "Authentication by given credentials failed")
        parts = [p for p in path.split("/") if p][1:]  # without "v3"
        if method == "GET" and len(parts) == 2 and parts[0] in ("payments", "refunds"):
            store = self.state.payments if parts[0] == "payments" else self.state.refunds
            found = store.get(parts[1])
            if found is None:
                kind = "Payment" if parts[0] == "payments" else "Refund"
                return _error(404, "not_found", f"{kind} not found or forbidden")
            return 200, {k: v for k, v in found.items() if not k.startswith("_")}
        if method != "POST" or parts not in (["payments"], ["refunds"]):
            return _error(404, "not_found", "Not found")
        if not key:
            return _error(
                400, "invalid_request", "Idempotence key isn't specified", "Idempotence-Key"
            )
        if len(key) > 64:
            return _error(400, "invalid_request", "Idempotence key is too long", "Idempotence-Key")
        fingerprint = hashlib.sha256(raw or b"").hexdigest()
        known = self.state.keys.get((parts[0], key))
        if known is not None:
            if known[0] != fingerprint:
                return _error(
                    400,
                    "invalid_request",
                    "Idempotence key duplicated with another request body",
                    "Idempotence-Key",
                )
            entry["replayed"] = True
            return known[1], copy.deepcopy(known[2])
        if not isinstance(body, dict):
            return _error(400, "invalid_request", "Request body is not valid JSON")
        if parts == ["payments"]:
            status, answer = self._create_payment(body)
        else:
            status, answer = self._create_refund(body)
        self.state.keys[(parts[0], key)] = (fingerprint, status, copy.deepcopy(answer))
        return status, answer

    @staticmethod
    def _amount(body: dict):
        amount = body.get("amount")
        if not isinstance(amount, dict):
            return None, _error(400, "invalid_request", "Amount is missing", "amount")
        try:
            value = Decimal(str(amount.get("value")))
        except InvalidOperation:
            value = Decimal(0)
        if value <= 0 or value != value.quantize(Decimal("0.01")):
            return None, _error(400, "invalid_request", "Invalid amount value", "amount.value")
        if amount.get("currency") not in CURRENCIES:
            return None, _error(400, "invalid_request", "Invalid currency", "amount.currency")
        return {"value": f"{value:.2f}", "currency": amount["currency"]}, None

    def _create_payment(self, body: dict):
        amount, error = self._amount(body)
        if error:
            return error
        payment_id = str(uuid.uuid4())
        payment = {
            "id": payment_id,
            "status": "pending",
            "paid": False,
            "amount": amount,
            "created_at": _now(),
            "description": body.get("description"),
            "metadata": body.get("metadata") or {},
            "recipient": {"account_id": self.shop_id, "gateway_id": "100500"},
            "refundable": False,
            "test": True,
        }
        method_id = body.get("payment_method_id")
        if method_id:
            method = self.state.methods.get(method_id)
            if method is None:
                return _error(
                    400,
                    "invalid_request",
                    "Payment method is not saved or not found",
                    "payment_method_id",
                )
            card = {"type": "bank_card", "id": method_id, "saved": True, "title": "Bank card *4444"}
            payment["payment_method"] = card
            if method["declines"]:
                payment["status"] = "canceled"
                payment["cancellation_details"] = {"party": "card_issuer", "reason": "card_expired"}
                self.state.payments[payment_id] = payment
                self._notify("payment.canceled", payment)
            else:
                payment.update(status="succeeded", paid=True, refundable=True, captured_at=_now())
                self.state.payments[payment_id] = payment
                self._notify("payment.succeeded", payment)
            return 200, copy.deepcopy(payment)
        confirmation = body.get("confirmation") or {}
        if confirmation.get("type") != "redirect" or not confirmation.get("return_url"):
            return _error(
                400,
                "invalid_request",
                "Confirmation type redirect needs return_url",
                "confirmation",
            )
        payment["confirmation"] = {
            "type": "redirect",
            "return_url": confirmation["return_url"],
            "confirmation_url": f"{self.root}/checkout/{payment_id}",
        }
        payment["_save"] = bool(body.get("save_payment_method"))
        self.state.payments[payment_id] = payment
        return 200, {k: v for k, v in payment.items() if not k.startswith("_")}

    def _create_refund(self, body: dict):
        amount, error = self._amount(body)
        if error:
            return error
        payment = self.state.payments.get(body.get("payment_id") or "")
        if payment is None:
            return _error(400, "invalid_request", "Payment not found", "payment_id")
        if payment["status"] != "succeeded":
            return _error(400, "invalid_request", "Payment is not succeeded", "payment_id")
        if amount["currency"] != payment["amount"]["currency"]:
            return _error(400, "invalid_request", "Currency differs", "amount.currency")
        refunded = Decimal((payment.get("refunded_amount") or {}).get("value", "0"))
        if refunded + Decimal(amount["value"]) > Decimal(payment["amount"]["value"]):
            return _error(
                400, "invalid_request", "Refund amount exceeds the payment amount", "amount.value"
            )
        refund = {
            "id": f"{next(self._ids):08x}-000f-5000-8000-{uuid.uuid4().hex[:12]}",
            "payment_id": payment["id"],
            "status": "succeeded",
            "amount": amount,
            "created_at": _now(),
        }
        self.state.refunds[refund["id"]] = refund
        payment["refunded_amount"] = {
            "value": f"{refunded + Decimal(amount['value']):.2f}",
            "currency": amount["currency"],
        }
        self._notify("refund.succeeded", refund)
        return 200, copy.deepcopy(refund)

    def checkout(self, payment_id: str, query: dict) -> tuple[int, str | None]:
        with self.lock:
            payment = self.state.payments.get(payment_id)
            if payment is None:
                return 404, None
        confirmed = self.confirm(payment_id, cancel=bool(query.get("cancel")))
        return 302, confirmed["confirmation"]["return_url"]


def _post(url: str, notification: Notification) -> None:
    time.sleep(0.05)
    try:
        with requests.Session() as http:
            http.trust_env = False
            http.post(url, data=notification.body, headers=notification.headers, timeout=30)
    except requests.RequestException:
        pass


class _Server(ThreadingHTTPServer):
    # Fifty deliveries may ask at the same instant; the default backlog (5) resets the rest.
    request_queue_size = 128
    daemon_threads = True


def _handler_for(server: LocalYooKassa):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            return

        def _send(self, status: int, body: dict | None, location: str | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            try:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            if method == "GET" and split.path.startswith("/checkout/"):
                status, location = server.checkout(
                    split.path.rsplit("/", 1)[1], parse_qs(split.query)
                )
                self._send(status, None, location)
                return
            if not split.path.startswith("/v3/"):
                self._send(*_error(404, "not_found", "Not found"))
                return
            status, body, stall = server.handle(method, split.path, self.headers, raw)
            if stall:
                time.sleep(stall)
            self._send(status, body)

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

    return Handler

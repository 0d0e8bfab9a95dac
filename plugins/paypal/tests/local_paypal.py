"""A PayPal-compatible HTTP server on loopback, for tests: the part of PayPal's REST API the
plugin calls, spoken as PayPal documents it, driven by the real ``paypal-server-sdk``.

API:

- ``POST /v1/oauth2/token`` (HTTP Basic client id and secret, ``grant_type=client_credentials``)
  → a bearer token; every other call needs one (401 ``AUTHENTICATION_FAILURE`` otherwise).
- ``POST /v2/checkout/orders`` (intent CAPTURE, one purchase unit, items adding up to the
  breakdown's ``item_total``) → 201 ``PAYER_ACTION_REQUIRED`` with a ``payer-action`` link;
  ``GET /v2/checkout/orders/{id}``; ``POST /v2/checkout/orders/{id}/capture`` → 201
  ``COMPLETED`` with the capture, 422 ``ORDER_NOT_APPROVED`` / ``ORDER_ALREADY_CAPTURED``.
- ``POST /v2/payments/captures/{id}/refund`` → 201 refund (``seller_payable_breakdown`` with the
  capture's refunded total, an ``up`` link to the capture), 422 ``REFUND_AMOUNT_EXCEEDED``;
  ``GET /v2/payments/refunds/{id}``.
- ``POST /v1/notifications/verify-webhook-signature`` → ``{"verification_status": "SUCCESS"}``
  when the transmission signature is this server's for the webhook id and the event as it was
  sent, else ``FAILURE``.
- A POST with a ``PayPal-Request-Id`` seen before gets the first answer again (``replayed``).
- Errors are PayPal's error objects: ``{"name", "message", "debug_id", "details": [{"issue",
  "description"}], "links"}``.

What the payer and PayPal do outside the API: ``GET /checkoutnow?token=<order id>`` is the payer
approving the order (redirected to the ``return_url`` with ``token`` and ``PayerID``;
``&cancel=1`` goes to the ``cancel_url``). Events (``CHECKOUT.ORDER.APPROVED``,
``PAYMENT.CAPTURE.COMPLETED``, ``PAYMENT.CAPTURE.REFUNDED``) are signed with the
``PAYPAL-TRANSMISSION-*`` headers, kept in ``outbox`` and posted to ``webhook_url`` when set.
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
import zlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

SIGNING_KEY = b"local-paypal-signing-key"


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, name: str, message: str, issue: str | None = None, description=""):
    body = {
        "name": name,
        "message": message,
        "debug_id": uuid.uuid4().hex[:13],
        "links": [
            {
                "href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{issue or name}",
                "rel": "information_link",
                "method": "GET",
            }
        ],
    }
    if issue:
        body["details"] = [{"issue": issue, "description": description or issue}]
    return status, body


def _unprocessable(issue: str, description: str):
    return _error(
        422,
        "UNPROCESSABLE_ENTITY",
        "The requested action could not be performed, semantically incorrect, or failed "
        "business validation.",
        issue,
        description,
    )


def _not_found():
    return _error(
        404,
        "RESOURCE_NOT_FOUND",
        "The specified resource does not exist.",
        "INVALID_RESOURCE_ID",
        "Specified resource ID does not exist. Please check the resource ID and try again.",
    )


@dataclass
class Delivery:
    event_type: str
    event_id: str
    body: bytes
    headers: dict


@dataclass
class _State:
    orders: dict = field(default_factory=dict)
    captures: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    request_ids: dict = field(default_factory=dict)  # (path, id) -> (status, answer)
    log: list = field(default_factory=list)
    stalls: list = field(default_factory=list)
    outbox: list = field(default_factory=list)


class LocalPayPal:
    def __init__(self, client_id: str, client_secret: str, webhook_id: str):
        self.client_id, self.client_secret, self.webhook_id = client_id, client_secret, webhook_id
        self.webhook_url: str | None = None
        self.lock = threading.RLock()
        self.state = _State()
        self.tokens: set[str] = set()
        self._ids = itertools.count(1)
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.state = _State()
            self.webhook_url = None

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}{uuid.uuid4().hex[:13].upper()}"

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

    def order(self, order_id: str) -> dict:
        with self.lock:
            return copy.deepcopy(self.state.orders[order_id])

    def captures(self) -> list[dict]:
        with self.lock:
            return copy.deepcopy(list(self.state.captures.values()))

    def refunds_of(self, capture_id: str) -> list[dict]:
        with self.lock:
            return [
                copy.deepcopy(r)
                for r in self.state.refunds.values()
                if r["_capture_id"] == capture_id
            ]

    def approve(self, order_id: str) -> dict:
        """The payer approves the order on PayPal's page."""
        with self.lock:
            order = self.state.orders[order_id]
            if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
                order["status"] = "APPROVED"
                order["payer"] = {
                    "name": {"given_name": "John", "surname": "Doe"},
                    "email_address": "buyer@example.com",
                    "payer_id": "QYR5Z8XDVJNXQ",
                }
                order["update_time"] = _now()
                self._notify("CHECKOUT.ORDER.APPROVED", "checkout-order", order)
            return copy.deepcopy(order)

    def sign(self, event: dict, *, webhook_id: str | None = None) -> Delivery:
        body = json.dumps(event).encode()
        transmission_id = str(uuid.uuid4())
        moment = _now()
        signed_for = webhook_id or self.webhook_id
        message = f"{transmission_id}|{moment}|{signed_for}|{zlib.crc32(body)}".encode()
        signature = base64.b64encode(hmac.new(SIGNING_KEY, message, hashlib.sha256).digest())
        return Delivery(
            event_type=event.get("event_type", ""),
            event_id=event.get("id", ""),
            body=body,
            headers={
                "Content-Type": "application/json",
                "PAYPAL-AUTH-ALGO": "SHA256withRSA",
                "PAYPAL-CERT-URL": f"{self.url}/v1/notifications/certs/CERT-360caa42-local",
                "PAYPAL-TRANSMISSION-ID": transmission_id,
                "PAYPAL-TRANSMISSION-SIG": signature.decode(),
                "PAYPAL-TRANSMISSION-TIME": moment,
            },
        )

    def event(self, event_type: str, resource_type: str, resource: dict) -> Delivery:
        return self.sign(
            {
                "id": f"WH-{uuid.uuid4().hex[:17].upper()}",
                "event_version": "1.0",
                "create_time": _now(),
                "resource_type": resource_type,
                "resource_version": "2.0",
                "event_type": event_type,
                "summary": event_type,
                "resource": copy.deepcopy(
                    {k: v for k, v in resource.items() if not k.startswith("_")}
                ),
                "links": [],
            }
        )

    def outbox(self, event_type: str | None = None) -> list[Delivery]:
        with self.lock:
            return [d for d in self.state.outbox if event_type in (None, d.event_type)]

    def _notify(self, event_type: str, resource_type: str, resource: dict) -> None:
        delivery = self.event(event_type, resource_type, resource)
        self.state.outbox.append(delivery)
        if self.webhook_url:
            threading.Thread(target=_post, args=(self.webhook_url, delivery), daemon=True).start()

    # --- the API ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers, raw: bytes):
        request_id = headers.get("PayPal-Request-Id")
        content_type = headers.get("Content-Type") or ""
        try:
            body = json.loads(raw) if raw and "json" in content_type else None
        except ValueError:
            body = None
        entry = {
            "method": method,
            "path": path,
            "paypal_request_id": request_id,
            "body": body,
            "prefer": headers.get("Prefer"),
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
            status, answer = self._answer(method, path, headers, request_id, body, raw, entry)
            entry["status"] = status
            return status, answer, stall

    def _answer(self, method, path, headers, request_id, body, raw, entry):
        if (method, path) == ("POST", "/v1/oauth2/token"):
            return self._token(headers, raw)
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return _error(
                401,
                "AUTHENTICATION_FAILURE",
                "Authentication failed due to invalid authentication credentials or a missing "
                "Authorization header.",
            )
        if request_id and len(request_id) > 108:
            return _error(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed, syntactically incorrect, or violates schema.",
                "INVALID_STRING_MAX_LENGTH",
                "The value of PayPal-Request-Id is too long (at most 108 characters).",
            )
        if method == "POST" and request_id:
            known = self.state.request_ids.get((path, request_id))
            if known is not None:
                entry["replayed"] = True
                return known[0] if known[0] != 201 else 200, copy.deepcopy(known[1])
        status, answer = self._route(method, path, body, raw)
        if method == "POST" and request_id and status < 300:
            self.state.request_ids[(path, request_id)] = (status, copy.deepcopy(answer))
        return status, answer

    def _token(self, headers, raw: bytes):
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = parse_qs(raw.decode() if raw else "")
        if headers.get("Authorization") != f"Basic {expected}":
            return 401, {
                "error": "invalid_client",
                "error_description": "Client Authentication failed",
            }
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "Grant Type is NULL",
            }
        token = f"A21AA{uuid.uuid4().hex}"
        self.tokens.add(token)
        return 200, {
            "scope": "https://uri.paypal.com/services/payments/payment",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": 32400,
            "nonce": f"{_now()}{uuid.uuid4().hex[:8]}",
        }

    def _route(self, method, path, body, raw):
        parts = [p for p in path.split("/") if p]
        if (method, parts) == ("POST", ["v1", "notifications", "verify-webhook-signature"]):
            return self._verify(body)
        if parts[:3] == ["v2", "checkout", "orders"]:
            if method == "POST" and len(parts) == 3:
                return self._create_order(body)
            order = self.state.orders.get(parts[3]) if len(parts) > 3 else None
            if order is None:
                return _not_found()
            if method == "GET" and len(parts) == 4:
                return 200, _public(order)
            if method == "POST" and parts[4:] == ["capture"]:
                return self._capture(order)
        if parts[:3] == ["v2", "payments", "captures"] and len(parts) >= 4:
            capture = self.state.captures.get(parts[3])
            if capture is None:
                return _not_found()
            if method == "GET" and len(parts) == 4:
                return 200, _public(capture)
            if method == "POST" and parts[4:] == ["refund"]:
                return self._refund(capture, body)
        if parts[:3] == ["v2", "payments", "refunds"] and method == "GET" and len(parts) == 4:
            refund = self.state.refunds.get(parts[3])
            return (200, _public(refund)) if refund else _not_found()
        return _not_found()

    def _verify(self, body):
        if not isinstance(body, dict) or not isinstance(body.get("webhook_event"), dict):
            return _error(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed, syntactically incorrect, or violates schema.",
                "MISSING_REQUIRED_PARAMETER",
                "webhook_event is required",
            )
        sent = json.dumps(body["webhook_event"]).encode()
        message = (
            f"{body.get('transmission_id')}|{body.get('transmission_time')}|"
            f"{body.get('webhook_id')}|{zlib.crc32(sent)}"
        ).encode()
        expected = base64.b64encode(hmac.new(SIGNING_KEY, message, hashlib.sha256).digest())
        ok = body.get("webhook_id") == self.webhook_id and hmac.compare_digest(
            str(body.get("transmission_sig") or "").encode(), expected
        )
        return 200, {"verification_status": "SUCCESS" if ok else "FAILURE"}

    @staticmethod
    def _money(value, field_name: str):
        if not isinstance(value, dict) or not value.get("currency_code"):
            return None, _error(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed, syntactically incorrect, or violates schema.",
                "MISSING_REQUIRED_PARAMETER",
                f"{field_name} is required",
            )
        try:
            amount = Decimal(str(value.get("value")))
        except InvalidOperation:
            amount = Decimal(-1)
        if amount <= 0:
            return None, _unprocessable("INVALID_PARAMETER_VALUE", f"{field_name} is invalid")
        return amount, None

    def _create_order(self, body):
        if not isinstance(body, dict) or body.get("intent") != "CAPTURE":
            return _error(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed, syntactically incorrect, or violates schema.",
                "MISSING_REQUIRED_PARAMETER",
                "intent is required",
            )
        units = body.get("purchase_units") or []
        if len(units) != 1:
            return _unprocessable("INVALID_PARAMETER_VALUE", "one purchase unit is expected")
        unit = units[0]
        total, error = self._money(unit.get("amount"), "amount")
        if error:
            return error
        items = unit.get("items") or []
        if items:
            item_total = ((unit["amount"].get("breakdown") or {}).get("item_total")) or {}
            declared, error = self._money(item_total, "item_total")
            if error:
                return error
            summed = sum(
                Decimal(str(i["unit_amount"]["value"])) * int(i.get("quantity") or 1) for i in items
            )
            if summed != declared:
                return _unprocessable(
                    "ITEM_TOTAL_MISMATCH",
                    "Should equal sum of (unit_amount * quantity) across all items",
                )
            if declared != total:
                return _unprocessable(
                    "AMOUNT_MISMATCH", "Should equal item_total + tax_total + shipping ..."
                )
        context = ((body.get("payment_source") or {}).get("paypal") or {}).get(
            "experience_context"
        ) or {}
        order_id = self._id("5O")
        order = {
            "id": order_id,
            "intent": "CAPTURE",
            "status": "PAYER_ACTION_REQUIRED",
            "payment_source": {"paypal": {}},
            "purchase_units": [
                {
                    "reference_id": unit.get("reference_id") or "default",
                    "amount": unit["amount"],
                    "payee": {"merchant_id": "7KNGBPH2U58GQ"},
                    "description": unit.get("description"),
                    "custom_id": unit.get("custom_id"),
                    "invoice_id": unit.get("invoice_id"),
                    "items": items,
                }
            ],
            "create_time": _now(),
            "links": [
                {
                    "href": f"{self.url}/v2/checkout/orders/{order_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.url}/checkoutnow?token={order_id}",
                    "rel": "payer-action",
                    "method": "GET",
                },
            ],
            "_return_url": context.get("return_url"),
            "_cancel_url": context.get("cancel_url"),
        }
        self.state.orders[order_id] = order
        return 201, _public(order)

    def _capture(self, order: dict):
        if order["status"] == "COMPLETED":
            return _unprocessable(
                "ORDER_ALREADY_CAPTURED",
                "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.",
            )
        if order["status"] != "APPROVED":
            return _unprocessable(
                "ORDER_NOT_APPROVED",
                "Payer has not yet approved the Order for payment. Please redirect the payer "
                "to the 'rel':'approve' url returned as part of the HATEOAS links within the "
                "Create Order call or provide a valid payment_source in the request.",
            )
        unit = order["purchase_units"][0]
        capture_id = self._id("3C")
        capture = {
            "id": capture_id,
            "status": "COMPLETED",
            "amount": copy.deepcopy(unit["amount"]),
            "final_capture": True,
            "custom_id": unit.get("custom_id"),
            "invoice_id": unit.get("invoice_id"),
            "seller_protection": {"status": "ELIGIBLE"},
            "seller_receivable_breakdown": {
                "gross_amount": {
                    "currency_code": unit["amount"]["currency_code"],
                    "value": unit["amount"]["value"],
                }
            },
            "supplementary_data": {"related_ids": {"order_id": order["id"]}},
            "links": [
                {"href": f"{self.url}/v2/payments/captures/{capture_id}", "rel": "self",
                 "method": "GET"},
                {"href": f"{self.url}/v2/payments/captures/{capture_id}/refund",
                 "rel": "refund", "method": "POST"},
                {"href": f"{self.url}/v2/checkout/orders/{order['id']}", "rel": "up",
                 "method": "GET"},
            ],
            "create_time": _now(),
            "update_time": _now(),
        }  # fmt: skip
        capture["amount"].pop("breakdown", None)
        self.state.captures[capture_id] = capture
        order["status"] = "COMPLETED"
        unit["payments"] = {"captures": [capture]}
        order["update_time"] = _now()
        self._notify("PAYMENT.CAPTURE.COMPLETED", "capture", capture)
        return 201, _public(order)

    def _refund(self, capture: dict, body):
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return _unprocessable(
                "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded"
            )
        currency = capture["amount"]["currency_code"]
        wanted = (body or {}).get("amount") or capture["amount"]
        amount, error = self._money(wanted, "amount")
        if error:
            return error
        if wanted.get("currency_code") != currency:
            return _unprocessable("REFUND_CURRENCY_MISMATCH", "Refund currency must match")
        refunded = sum(
            (Decimal(r["amount"]["value"]) for r in self.state.refunds.values()
             if r["_capture_id"] == capture["id"]),
            Decimal(0),
        )  # fmt: skip
        gross = Decimal(capture["amount"]["value"])
        if refunded + amount > gross:
            return _unprocessable(
                "REFUND_AMOUNT_EXCEEDED",
                "The refund amount must be less than or equal to the capture amount that has "
                "not yet been refunded.",
            )
        refund_id = self._id("1R")
        places = (
            len(capture["amount"]["value"].split(".")[1])
            if "." in capture["amount"]["value"]
            else 0
        )
        total = refunded + amount
        refund = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": {"currency_code": currency, "value": f"{amount:.{places}f}"},
            "custom_id": capture.get("custom_id"),
            "invoice_id": capture.get("invoice_id"),
            "seller_payable_breakdown": {
                "gross_amount": {"currency_code": currency, "value": f"{amount:.{places}f}"},
                "total_refunded_amount": {
                    "currency_code": currency,
                    "value": f"{total:.{places}f}",
                },
            },
            "links": [
                {"href": f"{self.url}/v2/payments/refunds/{refund_id}", "rel": "self",
                 "method": "GET"},
                {"href": f"{self.url}/v2/payments/captures/{capture['id']}", "rel": "up",
                 "method": "GET"},
            ],
            "create_time": _now(),
            "update_time": _now(),
            "_capture_id": capture["id"],
        }  # fmt: skip
        self.state.refunds[refund_id] = refund
        capture["status"] = "REFUNDED" if total == gross else "PARTIALLY_REFUNDED"
        self._notify("PAYMENT.CAPTURE.REFUNDED", "refund", refund)
        return 201, _public(refund)

    def checkout(self, query: dict) -> tuple[int, str | None]:
        order_id = (query.get("token") or [""])[0]
        with self.lock:
            order = self.state.orders.get(order_id)
            if order is None:
                return 404, None
            if query.get("cancel"):
                return 302, order["_cancel_url"]
        self.approve(order_id)
        joiner = "&" if "?" in (order["_return_url"] or "") else "?"
        return (
            302,
            f"{order['_return_url']}{joiner}"
            + urlencode({"token": order_id, "PayerID": "QYR5Z8XDVJNXQ"}),
        )


def _public(obj: dict) -> dict:
    return copy.deepcopy({k: v for k, v in obj.items() if not k.startswith("_")})


def _post(url: str, delivery: Delivery) -> None:
    time.sleep(0.05)
    try:
        with requests.Session() as http:
            http.trust_env = False
            http.post(url, data=delivery.body, headers=delivery.headers, timeout=30)
    except requests.RequestException:
        pass


class _Server(ThreadingHTTPServer):
    # Fifty deliveries may ask at the same instant; the default backlog (5) resets the rest.
    request_queue_size = 128
    daemon_threads = True


def _handler_for(server: LocalPayPal):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            return

        def _send(self, status: int, body: dict | None, location: str | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            try:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status >= 400 or body is None:
                    pass
                else:
                    self.send_header("Paypal-Debug-Id", uuid.uuid4().hex[:13])
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            if method == "GET" and split.path == "/checkoutnow":
                status, location = server.checkout(parse_qs(split.query))
                self._send(status, None, location)
                return
            status, body, stall = server.handle(method, split.path, self.headers, raw)
            if stall:
                time.sleep(stall)
            self._send(status, body)

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

        def do_PATCH(self):
            self._serve("PATCH")

    return Handler

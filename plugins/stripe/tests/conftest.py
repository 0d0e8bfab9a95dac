"""Fixtures that run the Stripe plugin's tests against a local Stripe-compatible server.

``stripe_server`` starts ``plugins.stripe.tests.localstripe_server`` (localstripe plus
Checkout Sessions, idempotency, a request log and fast webhooks) once per test session;
``stripe_api`` empties it before each test and points the ``stripe`` SDK at it.

How the stripe SDK (v16) finds the server:

* Module-level calls (``stripe.PaymentIntent.create(...)``) read ``stripe.api_key`` and
  ``stripe.api_base`` on every request, so setting them (as ``stripe_api`` does, through
  monkeypatch) is enough and takes effect immediately.
* ``stripe.StripeClient`` ignores ``stripe.api_base``: it defaults to https://api.stripe.com
  and must be given the server explicitly, e.g.
  ``stripe.StripeClient(key, base_addresses={"api": stripe_api.url})``. A gateway that builds
  its own client therefore needs its base URL to be configurable for tests.
* The SDK sends an ``Idempotency-Key`` (a random UUID) with every POST unless one is passed;
  module-level calls retry up to ``stripe.max_network_retries`` times (2 by default) on
  connection errors, 409 and 5xx, a StripeClient only when given ``max_network_retries``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import stripe

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVER_MODULE = "plugins.stripe.tests.localstripe_server"
STARTUP_TIMEOUT = 15.0
TEST_API_KEY = "sk_test_localstripe"


@dataclass
class StripeServer:
    """A running localstripe_server process and helpers for what only tests can do."""

    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    http: requests.Session

    def reset(self) -> None:
        """Forget every object, event, webhook endpoint, idempotency key and logged request."""
        self.http.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()

    def requests(self) -> list[dict]:
        """Requests received since the last reset, oldest first. Each is a dict with method,
        path, idempotency_key (or None), body (the parsed form or JSON body), query, replayed
        (True when answered from the idempotency cache), status and request_id."""
        response = self.http.get(f"{self.url}/_test/requests", timeout=5)
        response.raise_for_status()
        return response.json()["requests"]

    def clear_requests(self) -> None:
        self.http.delete(f"{self.url}/_test/requests", timeout=5).raise_for_status()

    def pay_session(
        self, session_id: str, card_number: str = "4242424242424242", email: str | None = None
    ) -> tuple[int, dict]:
        """Pay a Checkout Session as the customer would on Stripe's hosted page. Returns the
        HTTP status and JSON: 200 and the completed session, 402 and a card_error for a
        declined card, 400 when the session is not open."""
        payload = {"card_number": card_number}
        if email is not None:
            payload["email"] = email
        response = self.http.post(
            f"{self.url}/_test/checkout/sessions/{session_id}/pay", json=payload, timeout=5
        )
        return response.status_code, response.json()

    def decline_from_now_on(self, payment_method_id: str) -> None:
        """Every later charge of this saved card declines (it expired or was blocked)."""
        self.http.post(
            f"{self.url}/_test/payment_methods/{payment_method_id}/decline", timeout=5
        ).raise_for_status()

    def register_webhook(
        self,
        url: str,
        secret: str,
        events: list[str] | None = None,
        webhook_id: str = "test",
    ) -> None:
        """Deliver events to url, signed with secret (Stripe-Signature header). events limits
        the event types (None: all). Registering the same webhook_id again replaces it;
        reset() removes all endpoints."""
        payload: dict = {"url": url, "secret": secret}
        if events is not None:
            payload["events"] = list(events)
        response = self.http.post(
            f"{self.url}/_config/webhooks/{webhook_id}", json=payload, timeout=5
        )
        response.raise_for_status()

    def log(self) -> str:
        """The server's output so far, for failure messages."""
        return self.log_path.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(process: subprocess.Popen, url: str, http: requests.Session) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if http.get(f"{url}/_test/requests", timeout=1).status_code == 200:
                return True
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def stripe_server(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("localstripe")
    http = requests.Session()
    # Proxy settings from the environment must not capture loopback traffic.
    http.trust_env = False
    attempts = 3
    for attempt in range(attempts):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = log_dir / f"server-{port}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, "--port", str(port)],
                cwd=REPO_ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        if _wait_until_ready(process, url, http):
            break
        _stop(process)
        # The port can be taken between picking it and binding it; try another one.
        if attempt == attempts - 1:
            pytest.fail(
                f"localstripe server did not start on {url}:\n"
                + log_path.read_text(errors="replace")
            )

    server = StripeServer(url=url, port=port, process=process, log_path=log_path, http=http)
    try:
        yield server
    finally:
        _stop(process)
        http.close()


@pytest.fixture
def stripe_api(stripe_server, monkeypatch):
    """The server, emptied, with the stripe module pointed at it for this test only."""
    stripe_server.reset()
    monkeypatch.setattr(stripe, "api_key", TEST_API_KEY)
    monkeypatch.setattr(stripe, "api_base", stripe_server.url)
    # The SDK's default HTTP client is a requests session that honours proxy variables.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return stripe_server


WEBHOOK_SECRET = "whsec_test_vbwd"


@pytest.fixture
def stripe_settings(stripe_api, monkeypatch):
    """The stripe plugin's settings pointing at the test server (the environment wins over
    stored values, as in production); ``hosted`` checkout unless a test sets the mode."""
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_SECRET_KEY", TEST_API_KEY)
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_PUBLISHABLE_KEY", "pk_test_localstripe")
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_API_BASE", stripe_api.url)
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_TIMEOUT_SECONDS", "5")

    def mode(name: str) -> None:
        monkeypatch.setenv("VBWD_PLUGIN_STRIPE_CHECKOUT_MODE", name)

    mode("hosted")
    stripe_api.checkout_mode = mode
    return stripe_api


@pytest.fixture
def stripe_plugin(stripe_settings, db):
    """The stripe plugin enabled (which registers the ``stripe`` payment method)."""
    from plugins.services import plugin_enable

    plugin_enable(name="stripe")
    return stripe_settings


@pytest.fixture
def catalog(db):
    """Pro (29.99 EUR a month, 500 tokens) and 1000 tokens for 10.00: a 39.99 EUR checkout."""
    from decimal import Decimal

    from billing.catalog.models import BillingPeriod
    from billing.catalog.tests.factories import PlanFactory
    from tokens.tests.factories import TokenBundleFactory

    pro = PlanFactory(
        name="Pro",
        slug="pro",
        price=Decimal("29.99"),
        billing_period=BillingPeriod.MONTHLY,
        features={"default_tokens": 500},
    )
    tokens = TokenBundleFactory(name="1000 Tokens", token_amount=1000, price=Decimal("10.00"))
    return pro, tokens


def checkout_with_stripe(client, catalog) -> dict:
    """Pro + 1000 tokens checked out over the API with the stripe method: the PENDING 39.99 EUR
    invoice as the API returns it."""
    pro, tokens = catalog
    response = client.post(
        "/api/v1/user/checkout",
        {
            "plan_id": str(pro.pk),
            "token_bundle_ids": [str(tokens.pk)],
            "payment_method_code": "stripe",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    invoice = response.json()["invoice"]
    assert (invoice["status"], invoice["total_amount"]) == ("PENDING", "39.99")
    return invoice

"""Fixtures that run the PayPal plugin's tests against ``local_paypal`` (a PayPal-compatible
server on loopback in this process), through the real ``paypal-server-sdk`` pointed at it by
the plugin's ``api_base`` setting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread, _StaticFilesHandler

from plugins.paypal.tests.local_paypal import LocalPayPal

CLIENT_ID = "AeLocalPayPalClientId"
CLIENT_SECRET = "ELocalPayPalClientSecret"
WEBHOOK_ID = "8PT597110X687430LKGECATA"


@pytest.fixture(scope="session")
def paypal_server():
    server = LocalPayPal(CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID)
    yield server
    server.close()


@pytest.fixture
def paypal_api(paypal_server, monkeypatch):
    """The server, emptied, with the plugin's settings pointing at it."""
    paypal_server.reset()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_WEBHOOK_ID", WEBHOOK_ID)
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_MODE", "sandbox")
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_API_BASE", paypal_server.url)
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_TIMEOUT_SECONDS", "5")
    yield paypal_server
    paypal_server.webhook_url = None


@pytest.fixture
def paypal_plugin(paypal_api, db):
    """The paypal plugin enabled (which registers the ``paypal`` payment method)."""
    from plugins.services import plugin_enable

    plugin_enable(name="paypal")
    return paypal_api


@pytest.fixture
def catalog(db):
    """Pro (29.99 EUR a month, 500 tokens) and 1000 tokens for 10.00: a 39.99 EUR checkout."""
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


class _WideBacklogServer(ThreadedWSGIServer):
    # Fifty connections arrive in the same instant; Django's live server listens with a queue
    # of 10 and resets the rest, where a production server queues them.
    request_queue_size = 128


class _LiveServerThread(LiveServerThread):
    server_class = _WideBacklogServer


@pytest.fixture
def live_url(transactional_db):
    """The base URL of our API served over real HTTP in this process."""
    thread = _LiveServerThread("127.0.0.1", _StaticFilesHandler)
    thread.daemon = True
    thread.start()
    assert thread.is_ready.wait(timeout=30), "the live server did not start"
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


def checkout_with_paypal(client, catalog) -> dict:
    pro, tokens = catalog
    response = client.post(
        "/api/v1/user/checkout",
        {
            "plan_id": str(pro.pk),
            "token_bundle_ids": [str(tokens.pk)],
            "payment_method_code": "paypal",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    invoice = response.json()["invoice"]
    assert (invoice["status"], invoice["total_amount"]) == ("PENDING", "39.99")
    return invoice

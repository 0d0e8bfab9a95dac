"""Fixtures that run the YooKassa plugin's tests against ``local_yookassa`` (a YooKassa-compatible
server on loopback in this process), through the real ``yookassa`` SDK pointed at it by the
plugin's ``api_base`` setting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread, _StaticFilesHandler

from plugins.yookassa.tests.local_yookassa import LocalYooKassa

SHOP_ID = "100500"
SECRET_KEY = "test_SecretKeyOfTheShop"
WEBHOOK_SECRET = "yk-webhook-secret"
WAIT_SECONDS = 30


@pytest.fixture(scope="session")
def yookassa_server():
    server = LocalYooKassa(SHOP_ID, SECRET_KEY, WEBHOOK_SECRET)
    yield server
    server.close()


@pytest.fixture
def yookassa_api(yookassa_server, monkeypatch):
    """The server, emptied, with the plugin's settings pointing at it (the environment wins over
    stored values, as in production)."""
    yookassa_server.reset()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_SHOP_ID", SHOP_ID)
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_API_BASE", yookassa_server.url)
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_TIMEOUT_SECONDS", "5")
    yield yookassa_server
    yookassa_server.webhook_url = None


@pytest.fixture
def yookassa_plugin(yookassa_api, db):
    """The yookassa plugin enabled (which registers the ``yookassa`` payment method)."""
    from plugins.services import plugin_enable

    plugin_enable(name="yookassa")
    return yookassa_api


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


def checkout_with_yookassa(client, catalog) -> dict:
    """Pro + 1000 tokens checked out over the API with the yookassa method: the PENDING
    39.99 EUR invoice as the API returns it."""
    pro, tokens = catalog
    response = client.post(
        "/api/v1/user/checkout",
        {
            "plan_id": str(pro.pk),
            "token_bundle_ids": [str(tokens.pk)],
            "payment_method_code": "yookassa",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    invoice = response.json()["invoice"]
    assert (invoice["status"], invoice["total_amount"]) == ("PENDING", "39.99")
    return invoice


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
    assert thread.is_ready.wait(timeout=WAIT_SECONDS), "the live server did not start"
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()

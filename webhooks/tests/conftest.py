import pytest

from webhooks.tests.receiver import Receiver, SilentReceiver


@pytest.fixture
def local_hooks(settings):
    """Receivers on this machine are reachable: http allowed, 127.0.0.1 exempt from the
    public-address rule, a short timeout."""
    settings.DEBUG = False
    settings.VBWD_WEBHOOK_ALLOW_HTTP = True
    settings.VBWD_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.VBWD_WEBHOOK_TIMEOUT_SECONDS = 0.5
    return settings


@pytest.fixture
def receiver(local_hooks):
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def silent_receiver(local_hooks):
    running = SilentReceiver()
    yield running
    running.stop()

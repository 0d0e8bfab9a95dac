import factory

from webhooks.models import WebhookEndpoint


class EndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    url = factory.Sequence(lambda number: f"https://hooks{number}.example.com/vbwd")
    events = factory.LazyFunction(lambda: ["*"])
    is_active = True
    secret = factory.Sequence(lambda number: f"whsec_{number:064d}")

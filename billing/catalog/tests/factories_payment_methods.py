"""Factories of payment methods and their translations."""

import factory

from billing.catalog.models import PaymentMethod, PaymentMethodTranslation


class PaymentMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentMethod

    code = factory.Sequence(lambda n: f"method-{n}")
    name = factory.Sequence(lambda n: f"Method {n}")
    is_active = True
    is_default = False
    position = factory.Sequence(lambda n: n + 1)


class PaymentMethodTranslationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentMethodTranslation

    payment_method = factory.SubFactory(PaymentMethodFactory)
    locale = "de"
    name = factory.LazyAttribute(lambda translation: f"{translation.payment_method.name} (DE)")

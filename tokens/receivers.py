from django.dispatch import receiver

from accounts.extensions import user_anonymising
from tokens.services.ledger import balance_of, tokens_adjust


@receiver(user_anonymising, dispatch_uid="tokens.zero_balance_on_anonymisation")
def zero_balance_on_anonymisation(sender, user, actor, **kwargs):
    """An anonymised account keeps its ledger, but a positive balance is zeroed."""
    if balance_of(user) > 0:
        tokens_adjust(user=user, actor=actor, reason="Account anonymised", set_to=0)

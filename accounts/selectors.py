"""Read-side queries about users shared by several callers."""

from django.core.exceptions import ObjectDoesNotExist

from accounts.models import User


def token_balance_of(user: User) -> int:
    """The user's token balance; 0 when they never had tokens.

    The tokens app owns the balance row (reverse one-to-one ``token_balance`` on User); accounts
    reads it without importing that app.
    """
    try:
        balance = user.token_balance
    except (AttributeError, ObjectDoesNotExist):  # no row yet, or no tokens app installed
        return 0
    return int(getattr(balance, "balance", 0) or 0)


def user_with_details(user_id) -> User | None:
    return User.objects.select_related("details").filter(pk=user_id).first()

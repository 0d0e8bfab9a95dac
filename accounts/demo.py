"""Demo accounts for `manage.py seed_demo` (idempotent)."""

from accounts import services
from accounts.models import User, UserDetails, UserRole, UserStatus

DEMO_ADMIN = ("admin@example.com", "AdminPass123@")
DEMO_USER = ("test@example.com", "TestPass123@")

DEMO_USER_DETAILS = {
    "first_name": "Test",
    "last_name": "User",
    "company": "Example GmbH",
    "phone": "+49301234567",
    "address_line_1": "Friedrichstraße 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}


def seed_accounts() -> list[tuple[str, str, bool]]:
    """(email, password, created) of the demo staff member and the demo customer."""
    return [(*DEMO_ADMIN, _admin()), (*DEMO_USER, _customer())]


def _admin() -> bool:
    email, password = DEMO_ADMIN
    if User.objects.filter(email=email).exists():
        return False
    user = services.user_create(
        email=email,
        password=password,
        role=UserRole.ADMIN,
        first_name="Admin",
        last_name="User",
        action="user.seeded",
    )
    User.objects.filter(pk=user.pk).update(is_superuser=True)
    return True


def _customer() -> bool:
    email, password = DEMO_USER
    if User.objects.filter(email=email).exists():
        return False
    user = services.user_create(
        email=email, password=password, status=UserStatus.ACTIVE, action="user.seeded"
    )
    UserDetails.objects.filter(user=user).update(**DEMO_USER_DETAILS)
    return True

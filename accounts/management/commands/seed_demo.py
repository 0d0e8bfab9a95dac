"""Creates the demo data; safe to run again (existing rows are left as they are)."""

from django.core.management.base import BaseCommand
from django.db import transaction

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


class Command(BaseCommand):
    help = "Seeds the demo accounts (and, as later apps add them, the demo catalog)."

    def handle(self, *args, **options):
        with transaction.atomic():
            admin_created = self._admin()
            user_created = self._user()
        for email, password, created in (
            (*DEMO_ADMIN, admin_created),
            (*DEMO_USER, user_created),
        ):
            state = "created" if created else "already there"
            self.stdout.write(f"{email} / {password} ({state})")
        self._demo_plugin()
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _demo_plugin(self) -> None:
        """Enables the demo plugin once; a later disable by staff is respected."""
        from plugins import services as plugin_services
        from plugins.models import Plugin

        if not Plugin.objects.filter(name="demo").exists():
            plugin_services.plugin_enable(name="demo", actor=None)
            self.stdout.write("demo plugin enabled: GET /api/v1/plugins/demo/")

    def _admin(self) -> bool:
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

    def _user(self) -> bool:
        email, password = DEMO_USER
        if User.objects.filter(email=email).exists():
            return False
        user = services.user_create(
            email=email, password=password, status=UserStatus.ACTIVE, action="user.seeded"
        )
        UserDetails.objects.filter(user=user).update(**DEMO_USER_DETAILS)
        return True

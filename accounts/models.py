import uuid
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower

from vbwd.exceptions import InvalidTransition


class UserStatus(models.TextChoices):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    DELETED = "DELETED"  # anonymised; never leaves this state


class UserRole(models.TextChoices):
    USER = "USER"
    ADMIN = "ADMIN"  # staff: the Django admin and every /admin route
    VENDOR = "VENDOR"  # no extra rights in this version


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        """Low-level row creation (migrations, createsuperuser); use accounts.services in code."""
        user = self.model(email=normalise_email(email), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        UserDetails.objects.get_or_create(user=user)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.update(is_superuser=True, role=UserRole.ADMIN, status=UserStatus.ACTIVE)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username):
        return self.get(email=normalise_email(username))


class User(AbstractBaseUser):
    """An account: customers, staff (role ADMIN) and vendors, logging in by email.

    ``is_active`` and ``is_staff`` are derived from ``status`` and ``role`` so there is one
    source of truth; a superuser is always ADMIN (database constraint).
    """

    # Which status may follow which (services call the verbs below, never assign directly).
    TRANSITIONS: dict[str, set[str]] = {
        UserStatus.PENDING: {UserStatus.ACTIVE, UserStatus.SUSPENDED, UserStatus.DELETED},
        UserStatus.ACTIVE: {UserStatus.SUSPENDED, UserStatus.DELETED},
        UserStatus.SUSPENDED: {UserStatus.ACTIVE, UserStatus.DELETED},
        UserStatus.DELETED: set(),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Stored trimmed and lower-cased; unique case-insensitively.
    email = models.EmailField(max_length=255, unique=True)
    status = models.CharField(
        max_length=16, choices=UserStatus.choices, default=UserStatus.ACTIVE, db_index=True
    )
    role = models.CharField(
        max_length=16, choices=UserRole.choices, default=UserRole.USER, db_index=True
    )
    is_superuser = models.BooleanField(default=False)
    has_used_trial = models.BooleanField(default=False)
    last_login_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Replaced by last_login_at (the API name); Django's own last_login updater is then skipped.
    last_login = None

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(is_superuser=False) | models.Q(role="ADMIN"),
                name="accounts_user_superuser_is_admin",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE

    @property
    def is_staff(self) -> bool:
        return self.role == UserRole.ADMIN

    # Staff have every back-office permission; the role is the permission model of VBWD.
    def has_perm(self, perm, obj=None) -> bool:
        return self.is_active and self.is_staff

    def has_perms(self, perm_list, obj=None) -> bool:
        return self.is_active and self.is_staff

    def has_module_perms(self, app_label) -> bool:
        return self.is_active and self.is_staff

    @property
    def roles(self) -> list[str]:
        return [self.role]

    @property
    def display_name(self) -> str | None:
        details = getattr(self, "details", None)
        if details is None:
            return None
        name = f"{details.first_name or ''} {details.last_name or ''}".strip()
        return name or None

    def _move_to(self, status: str) -> None:
        if status not in self.TRANSITIONS[self.status]:
            raise InvalidTransition(f"User cannot move from {self.status} to {status}")
        self.status = status

    def activate(self) -> None:
        self._move_to(UserStatus.ACTIVE)

    def suspend(self) -> None:
        self._move_to(UserStatus.SUSPENDED)

    def mark_deleted(self) -> None:
        self._move_to(UserStatus.DELETED)


class UserDetails(models.Model):
    """Billing and contact data, one row per user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="details")
    first_name = models.CharField(max_length=100, null=True, blank=True)
    last_name = models.CharField(max_length=100, null=True, blank=True)
    company = models.CharField(max_length=255, null=True, blank=True)
    # VAT id, used for EU reverse charge.
    tax_number = models.CharField(max_length=100, null=True, blank=True)
    # The reference the buyer asks to see on its invoices (BT-10); for German public buyers the
    # Leitweg-ID that routes an XRechnung.
    buyer_reference = models.CharField(max_length=100, null=True, blank=True)
    phone = models.CharField(max_length=20, null=True, blank=True)
    address_line_1 = models.CharField(max_length=255, null=True, blank=True)
    address_line_2 = models.CharField(max_length=255, null=True, blank=True)
    city = models.CharField(max_length=100, null=True, blank=True)
    state = models.CharField(max_length=100, null=True, blank=True)
    postal_code = models.CharField(max_length=20, null=True, blank=True)
    # ISO-3166 alpha-2, upper-case.
    country = models.CharField(max_length=2, null=True, blank=True)
    # User preferences (language, theme, …); updates are merged into it.
    config = models.JSONField(default=dict, blank=True)
    # Informational account credit set by staff, in balance_currency; not used by billing.
    balance = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    balance_currency = models.CharField(max_length=3, default="EUR")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "billing details"
        verbose_name_plural = "billing details"

    def __str__(self) -> str:
        return f"Details of {self.user_id}"

"""The password policy of users' own passwords, as a function and a Django password validator."""

from django.core.exceptions import ValidationError

MIN_LENGTH = 8


def policy_errors(password: str) -> list[str]:
    """Every policy message the password violates, in the documented order."""
    errors = []
    if len(password) < MIN_LENGTH:
        errors.append("Password must be at least 8 characters long")
    if not any(char.isupper() for char in password):
        errors.append("Password must contain an uppercase letter")
    if not any(char.islower() for char in password):
        errors.append("Password must contain a lowercase letter")
    if not any(char.isdigit() for char in password):
        errors.append("Password must contain a digit")
    if not any(not char.isalnum() for char in password):
        errors.append("Password must contain a special character")
    return errors


def staff_set_errors(password: str) -> list[str]:
    """Passwords that staff set for a user only need the length."""
    return [] if len(password) >= MIN_LENGTH else ["Password must be at least 8 characters long"]


class PasswordPolicyValidator:
    """AUTH_PASSWORD_VALIDATORS entry, so the Django admin and createsuperuser apply it too."""

    def validate(self, password, user=None):
        errors = policy_errors(password)
        if errors:
            raise ValidationError(errors)

    def get_help_text(self):
        return (
            "At least 8 characters with an upper-case and a lower-case letter, a digit and a "
            "character that is neither a letter nor a digit."
        )

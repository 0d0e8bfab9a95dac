"""Account use cases (one module per concern); callers use ``accounts.services.<name>``."""

from accounts.services.auth import (
    InvalidCredentials,
    InvalidResetToken,
    auth_login,
    auth_logout,
    auth_refresh,
    password_change,
    password_reset_confirm,
    password_reset_link,
    password_reset_request,
    user_register,
)
from accounts.services.users import (
    DETAILS_FIELDS,
    email_exists,
    user_activate,
    user_create,
    user_details_update,
    user_set_role,
    user_suspend,
    validate_email_address,
)

__all__ = [
    "DETAILS_FIELDS",
    "InvalidCredentials",
    "InvalidResetToken",
    "auth_login",
    "auth_logout",
    "auth_refresh",
    "email_exists",
    "password_change",
    "password_reset_confirm",
    "password_reset_link",
    "password_reset_request",
    "user_activate",
    "user_create",
    "user_details_update",
    "user_register",
    "user_set_role",
    "user_suspend",
    "validate_email_address",
]

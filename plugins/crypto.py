"""Encryption of secrets at rest (Fernet: AES-128-CBC with HMAC-SHA256): the plugins' secret
settings and the outbound webhooks' signing secrets.

The key is VBWD_SECRETS_KEY when set, otherwise derived from SECRET_KEY; rotating either makes
stored secrets unreadable, so re-enter them (or keep them in the environment) after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    material = (settings.VBWD_SECRETS_KEY or settings.SECRET_KEY).encode()
    key = base64.urlsafe_b64encode(hashlib.sha256(b"vbwd.plugins.secrets\0" + material).digest())
    return Fernet(key)


def encrypt(values: dict[str, str]) -> str:
    if not values:
        return ""
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        # Encrypted under another key: treated as unset rather than failing every request.
        return {}


def encrypt_text(value: str) -> str:
    """One secret, encrypted."""
    return _fernet().encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str | None:
    """The secret ``encrypt_text`` made, or None when it was encrypted under another key."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None

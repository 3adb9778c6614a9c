"""Credentials of connections, encrypted at rest with Fernet keys from the environment.

``RUNBOOKS_SECRET_KEYS`` lists the keys, newest first: the first encrypts, every one decrypts
(``MultiFernet``). Rotation: put a new key first, run ``manage.py runbooks_rotate_key`` (each
stored secret is re-encrypted with the new key), then drop the old key. Production refuses to
encrypt or decrypt without the variable; elsewhere a key is derived from ``SECRET_KEY`` so a
development checkout works out of the box.

Plain secrets never leave this module except to a transport that uses them; ``mask`` takes
them out of any text (outputs, errors) before it is stored or shown.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MASK = "••••••"


class SecretUnreadable(Exception):
    """The stored secret cannot be decrypted with the configured keys (a key was dropped too early)."""


def _derived_key() -> bytes:
    digest = hashlib.sha256(b"itsm.runbooks.credentials:" + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def keys() -> list[bytes]:
    configured = [key.strip().encode() for key in settings.RUNBOOKS_SECRET_KEYS if key.strip()]
    if configured:
        return configured
    if settings.PRODUCTION:
        raise ImproperlyConfigured("RUNBOOKS_SECRET_KEYS is required in production (see .env.example).")
    return [_derived_key()]


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys()])
    except ValueError as error:
        # The message of cryptography's error says nothing of the key; ours says which variable.
        raise ImproperlyConfigured(
            "RUNBOOKS_SECRET_KEYS holds a value that is not a Fernet key (32 url-safe base64 bytes)."
        ) from error


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            "The stored credential cannot be decrypted with RUNBOOKS_SECRET_KEYS."
        ) from error


def rotate(token: str) -> str:
    """The same secret encrypted with the first key (raises SecretUnreadable)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            "The stored credential cannot be decrypted with RUNBOOKS_SECRET_KEYS."
        ) from error


def _fragments(secret: str) -> list[str]:
    """The secret and each of its lines of some length (a private key is printed line by line)."""
    pieces = {secret, secret.strip()}
    pieces |= {line.strip() for line in secret.splitlines() if len(line.strip()) >= 8}
    return sorted((piece for piece in pieces if len(piece) >= 4), key=len, reverse=True)


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (and every line of a multi-line one) replaced by ``MASK``."""
    if not text:
        return text
    for secret in secrets:
        if not secret:
            continue
        for piece in _fragments(secret):
            text = text.replace(piece, MASK)
    return text

"""``manage.py check --deploy``: production needs its own keys for connection credentials."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_credential_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    keys = [key.strip() for key in settings.RUNBOOKS_SECRET_KEYS if key.strip()]
    if not keys:
        if not settings.PRODUCTION:
            return []
        return [
            Error(
                "RUNBOOKS_SECRET_KEYS is not set: connection credentials cannot be stored or read.",
                hint="Generate a Fernet key (see .env.example) and set RUNBOOKS_SECRET_KEYS.",
                id="runbooks.E001",
            )
        ]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            errors.append(
                Error(
                    f"Key {position} of RUNBOOKS_SECRET_KEYS is not a Fernet key (32 url-safe base64 bytes).",
                    id="runbooks.E002",
                )
            )
    return errors

"""Reading unread messages from the IMAP mailbox in settings (``EMAIL_IMAP_*``).

Each unread message is fetched with ``BODY.PEEK[]`` (which leaves it unread), handed to
``handle``, and only then flagged ``\\Seen``: if handling fails (database down), the message
stays unread and is read again next time; receipts make a second read change nothing.
"""

from __future__ import annotations

import imaplib
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def connect() -> imaplib.IMAP4:
    if not settings.EMAIL_IMAP_HOST:
        raise ImproperlyConfigured("EMAIL_IMAP_HOST is not set.")
    factory = imaplib.IMAP4_SSL if settings.EMAIL_IMAP_SSL else imaplib.IMAP4
    client = factory(
        settings.EMAIL_IMAP_HOST, settings.EMAIL_IMAP_PORT, timeout=settings.EMAIL_IMAP_TIMEOUT_SECONDS
    )
    client.login(settings.EMAIL_IMAP_USER, settings.EMAIL_IMAP_PASSWORD)
    return client


def fetch_unseen(handle: Callable[[bytes], object], *, limit: int = 200) -> int:
    """Handle up to ``limit`` unread messages; returns how many were handled."""
    client = connect()
    handled = 0
    try:
        status, _data = client.select(settings.EMAIL_IMAP_MAILBOX)
        if status != "OK":
            raise ImproperlyConfigured(f"Cannot open IMAP mailbox {settings.EMAIL_IMAP_MAILBOX!r}.")
        status, data = client.uid("SEARCH", None, "UNSEEN")
        uids = data[0].split() if status == "OK" and data and data[0] else []
        for uid in uids[:limit]:
            status, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((part[1] for part in parts or [] if isinstance(part, tuple) and len(part) > 1), None)
            if status != "OK" or raw is None:
                continue
            handle(raw)
            client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            handled += 1
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return handled

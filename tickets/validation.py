"""Limits on what a ticket holds, one set for every channel (API, pages, mail, Jira).

Serializers and forms validate with these before anything is stored; each validator raises
Django's ``ValidationError`` with a message for the person who sent the value.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from itsm.lib import safe_json

TAG_MAX_LENGTH = 50


def validate_tag(tag: str) -> None:
    """A tag is short text PostgreSQL can store (no NUL, no lone surrogate)."""
    try:
        safe_json.check_text(tag, what="A tag")
    except ValueError as error:
        raise ValidationError(str(error), code="invalid") from None
    if len(tag.strip()) > TAG_MAX_LENGTH:
        raise ValidationError(
            f"Tags are at most {TAG_MAX_LENGTH} characters: {tag[:60]!r}.", code="max_length"
        )

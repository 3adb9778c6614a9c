"""Limits on what a ticket holds, one set for every channel (API, pages, mail, Jira).

The ticket actions enforce them (``tickets/actions``), so no channel can store more than
another; serializers declare the same limits so the API schema shows them. Each validator
raises Django's ``ValidationError`` with a message for the person who sent the value. Edges
that import text written elsewhere (mail, Jira) fit it to the limits with ``fit_text``
before they hand it over, so a long message is cut visibly instead of being refused.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError

from itsm.lib import safe_json

TAG_MAX_LENGTH = 50
# A ticket's description and a comment's text, in characters.
DESCRIPTION_MAX_LENGTH = 100_000
COMMENT_MAX_LENGTH = 100_000
# ``Ticket.metadata`` (integration keys, catalog answers, Jira fields), in bytes of compact
# UTF-8 JSON: room for any integration's keys, not a document store.
METADATA_MAX_BYTES = 64 * 1024


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


def metadata_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (how it is sent and, near enough, stored)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace"))


def validate_metadata(value: Any) -> None:
    """Metadata is a JSON object PostgreSQL can store, at most ``METADATA_MAX_BYTES``."""
    if not isinstance(value, dict):
        raise ValidationError("Metadata is a JSON object.", code="invalid")
    try:
        safe_json.check_storable(value)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid") from None
    size = metadata_size(value)
    if size > METADATA_MAX_BYTES:
        raise ValidationError(
            f"Metadata is at most {METADATA_MAX_BYTES} bytes of JSON; this is {size}.", code="max_length"
        )


def validate_description(text: str) -> None:
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise ValidationError(
            f"A description is at most {DESCRIPTION_MAX_LENGTH:,} characters; this one has {len(text):,}.",
            code="max_length",
        )


def validate_comment_body(text: str) -> None:
    if len(text) > COMMENT_MAX_LENGTH:
        raise ValidationError(
            f"A message is at most {COMMENT_MAX_LENGTH:,} characters; this one has {len(text):,}.",
            code="max_length",
        )


CUT_MARKER = "\n\n[… cut at {limit:,} characters]"


def fit_text(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, visibly cut when longer (for imported text)."""
    if len(text) <= limit:
        return text
    marker = CUT_MARKER.format(limit=limit)
    return text[: limit - len(marker)] + marker

"""Attachments: the upload limits of the settings, and storing a file on a ticket or comment."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError

from itsm.storage import StorageUnavailable, storage_errors
from tickets.models import Attachment, Comment, Ticket

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from itsm.models import User


def check_attachment(upload: UploadedFile) -> None:
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            {
                "attachments": (
                    f"{upload.name} is {upload.size} bytes; the limit is {settings.ATTACHMENT_MAX_BYTES} bytes."
                )
            }
        )
    content_type = (upload.content_type or "application/octet-stream").split(";")[0].strip().lower()
    if content_type not in settings.ATTACHMENT_ALLOWED_TYPES:
        raise ValidationError(
            {"attachments": f"{upload.name}: files of type {content_type} are not accepted."}
        )


def store_attachment(
    ticket: Ticket, upload: UploadedFile, *, uploaded_by: User | None, comment: Comment | None = None
) -> Attachment:
    """The file goes to the store first, then its row; callers run in a transaction, so a store
    that refuses the file leaves no row behind (and no comment or ticket of which it was part)."""
    check_attachment(upload)
    try:
        return Attachment.objects.create(
            ticket=ticket,
            comment=comment,
            file=upload,
            filename=upload.name[:255],
            content_type=(upload.content_type or "application/octet-stream").split(";")[0],
            size=upload.size,
            uploaded_by=uploaded_by,
        )
    except storage_errors() as error:
        logger.error("file store refused %s for ticket %s: %s", upload.name, ticket.pk, error)
        raise StorageUnavailable from error

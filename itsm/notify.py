"""Notify people: a bell notification now, an email from the worker after commit.

Every app notifies through this one function, so the bell, the email and the de-duplication
behave the same everywhere. Sending never blocks the request: mail goes through the
``itsm.tasks.send_notification_email`` task, deferred when the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from itsm.models import Notification
from itsm.tasks import send_notification_email

if TYPE_CHECKING:
    from itsm.models import User


def notify(
    recipients: Iterable[User],
    *,
    verb: str,
    title: str,
    body: str = "",
    url: str = "",
    subject_type: str = "",
    subject_id: str | int = "",
    dedupe_key: str = "",
    email: bool = False,
    email_template: str = "itsm/email/notification",
    email_context: dict | None = None,
    exclude: User | None = None,
) -> list[Notification]:
    """Create one bell notification per recipient (at most once per ``dedupe_key``)."""
    created = []
    seen: set[int] = set()
    for user in recipients:
        if (
            user is None
            or user.pk in seen
            or not user.is_active
            or (exclude is not None and user.pk == exclude.pk)
        ):
            continue
        seen.add(user.pk)
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    recipient=user,
                    verb=verb,
                    title=title[:300],
                    body=body,
                    url=url,
                    subject_type=subject_type,
                    subject_id=str(subject_id),
                    dedupe_key=dedupe_key,
                )
        except IntegrityError:
            continue  # already notified for this dedupe_key
        created.append(notification)
        if email:
            _send_email_on_commit(notification.pk, email_template, email_context or {})
    return created


def _send_email_on_commit(notification_id: int, template: str, context: dict) -> None:
    def defer() -> None:
        send_notification_email.defer(notification_id=notification_id, template=template, context=context)

    transaction.on_commit(defer)

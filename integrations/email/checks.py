"""Deployment checks of the email channel (`manage.py check --deploy` and every start).

Registered in ``MailConfig.ready()``.
"""

from django.conf import settings
from django.core import checks


def one_reply_mailer(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A requester must not receive every agent reply twice.

    The tickets app mails replies with the `[INC-…]` subject token (`TICKET_REPLY_EMAILS`);
    the email channel can mail them threaded by Message-ID instead (`EMAIL_SEND_REPLIES`).
    With both on, each public reply leaves as two messages.
    """
    if settings.EMAIL_SEND_REPLIES and settings.TICKET_REPLY_EMAILS:
        return [
            checks.Warning(
                "EMAIL_SEND_REPLIES and TICKET_REPLY_EMAILS are both on: requesters get every agent reply twice.",
                hint="Keep one: set TICKET_REPLY_EMAILS=false to thread replies by Message-ID, "
                "or EMAIL_SEND_REPLIES=false to keep the tickets app's reply mail.",
                id="mail.W001",
            )
        ]
    return []

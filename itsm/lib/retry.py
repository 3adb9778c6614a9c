"""Retry schedules for background work whose dependency can be down for hours.

procrastinate's own ``RetryStrategy`` waits ``exponential_wait ** attempts`` seconds: five
attempts of a mail job with ``exponential_wait=5`` end 65 minutes after the first, so a mail
server down for two hours lost the mail. ``Backoff`` waits ``base`` seconds, doubling at each
attempt up to ``cap``, for ``max_attempts`` attempts: the defaults keep trying for a day
(``horizon_seconds``). Errors that another attempt cannot cure (``permanent``) stop sooner.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable

from procrastinate import BaseRetryStrategy, RetryDecision


class Backoff(BaseRetryStrategy):
    """Exponential backoff, capped, with an early stop for permanent errors."""

    def __init__(
        self,
        *,
        max_attempts: int,
        base: int = 30,
        cap: int = 1800,
        permanent: Callable[[BaseException], bool] | None = None,
        permanent_attempts: int = 3,
    ) -> None:
        self.max_attempts, self.base, self.cap = max_attempts, base, cap
        self.permanent, self.permanent_attempts = permanent, permanent_attempts

    def wait_seconds(self, attempts: int) -> int:
        """The wait after the failure of attempt number ``attempts + 1``."""
        return min(self.cap, self.base * 2 ** min(attempts, 32))

    @property
    def horizon_seconds(self) -> int:
        """How long after the first attempt the last one runs."""
        return sum(self.wait_seconds(attempts) for attempts in range(self.max_attempts - 1))

    def get_retry_decision(self, *, exception: BaseException, job: object) -> RetryDecision | None:
        """None: give up now (``job.attempts`` attempts were made before this one)."""
        attempts = getattr(job, "attempts", 0)
        limit = self.max_attempts
        if self.permanent is not None and self.permanent(exception):
            limit = min(limit, self.permanent_attempts)
        if attempts + 1 >= limit:
            return None
        return RetryDecision(retry_in={"seconds": self.wait_seconds(attempts)})


class MailBeingSent(Exception):
    """Another worker claimed this mail moments ago: look again once its claim has run out."""


def permanent_mail_error(error: BaseException) -> bool:
    """The mail server refused the message for good (a 5xx answer to the sender, every recipient
    or the content): sending it again will not help. Refused credentials are not permanent: the
    operator fixes the settings and the waiting mail goes out."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return bool(error.recipients) and all(code >= 500 for code, _message in error.recipients.values())
    if isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return error.smtp_code >= 500
    return False


# Mail (ticket mail, notifications): 30 s, 1, 2, 4, 8, 16 minutes, then every half hour, for
# 60 attempts: about 27 hours. A permanent refusal stops after 3 attempts.
MAIL_RETRY = Backoff(max_attempts=60, base=30, cap=1800, permanent=permanent_mail_error)

"""The retry schedule of mail and other work whose dependency can be down for hours."""

from __future__ import annotations

import smtplib
from types import SimpleNamespace

import pytest

from itsm.lib.retry import MAIL_RETRY, Backoff, permanent_mail_error


def decision(strategy: Backoff, error: BaseException, attempts: int):
    return strategy.get_retry_decision(exception=error, job=SimpleNamespace(attempts=attempts))


def test_the_wait_doubles_up_to_its_cap():
    strategy = Backoff(max_attempts=10, base=30, cap=1800)
    assert [strategy.wait_seconds(n) for n in range(8)] == [30, 60, 120, 240, 480, 960, 1800, 1800]
    assert strategy.wait_seconds(10_000) == 1800  # no overflow however long it ran
    assert strategy.horizon_seconds == 30 + 60 + 120 + 240 + 480 + 960 + 1800 + 1800 + 1800


def test_it_gives_up_after_max_attempts():
    strategy = Backoff(max_attempts=3, base=10, cap=100)
    assert decision(strategy, OSError("down"), 0) is not None
    assert decision(strategy, OSError("down"), 1) is not None  # the second run failed: a third
    assert decision(strategy, OSError("down"), 2) is None  # the third was the last


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user"), "b@x": (553, b"bad")}), True),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user"), "b@x": (452, b"full")}), False),
        (smtplib.SMTPRecipientsRefused({}), False),
        (smtplib.SMTPSenderRefused(550, b"not allowed", "desk@x"), True),
        (smtplib.SMTPSenderRefused(451, b"try later", "desk@x"), False),
        (smtplib.SMTPDataError(554, b"spam"), True),
        (smtplib.SMTPDataError(421, b"closing"), False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),  # the operator fixes it
        (smtplib.SMTPServerDisconnected("gone"), False),
        (ConnectionRefusedError(111, "refused"), False),
        (TimeoutError("timed out"), False),
    ],
)
def test_only_a_refusal_for_good_is_permanent(error, permanent):
    assert permanent_mail_error(error) is permanent
    # a permanent error stops at the third attempt; any other keeps going
    assert (decision(MAIL_RETRY, error, 2) is None) is permanent
    assert decision(MAIL_RETRY, error, 1) is not None


def test_mail_is_retried_for_about_a_day():
    assert MAIL_RETRY.max_attempts == 60
    assert 24 * 3600 <= MAIL_RETRY.horizon_seconds <= 30 * 3600

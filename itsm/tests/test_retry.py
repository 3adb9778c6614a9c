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


def test_the_defaults_and_the_mail_schedule_are_pinned():
    default = Backoff(max_attempts=5)
    assert (default.wait_seconds(0), default.wait_seconds(5), default.wait_seconds(6)) == (30, 960, 1800)
    assert [MAIL_RETRY.wait_seconds(n) for n in (0, 5, 6, 40)] == [30, 960, 1800, 1800]


def test_the_doubling_stops_at_two_to_the_32nd():
    # the exponent is bounded so a job retried for years never builds a huge integer
    huge = Backoff(max_attempts=99, base=1, cap=10**12)
    assert huge.wait_seconds(31) == 2**31
    assert huge.wait_seconds(32) == huge.wait_seconds(40) == 2**32


def test_a_job_without_a_count_of_attempts_is_at_its_first():
    first = MAIL_RETRY.get_retry_decision(exception=OSError("down"), job=SimpleNamespace())
    again = decision(MAIL_RETRY, OSError("down"), 0)
    assert first is not None and again is not None
    assert abs((first.retry_at - again.retry_at).total_seconds()) < 1  # 30 s both


@pytest.mark.parametrize(("code", "permanent"), [(500, True), (499, False), (501, True)])
def test_500_is_the_first_code_for_good(code, permanent):
    assert permanent_mail_error(smtplib.SMTPRecipientsRefused({"a@x": (code, b"")})) is permanent
    assert permanent_mail_error(smtplib.SMTPSenderRefused(code, b"", "desk@x")) is permanent
    assert permanent_mail_error(smtplib.SMTPDataError(code, b"")) is permanent

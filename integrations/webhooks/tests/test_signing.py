"""The signature scheme receivers verify, and the backoff schedule."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from integrations.webhooks import transport

SECRET = "whsec_test-secret-0123456789"
BODY = b'{"event":"ticket.critical","ticket":{"id":1}}'


def test_it_signs_timestamp_dot_body_with_hmac_sha256():
    header = transport.signature_header(SECRET, 1700000000, BODY)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_it_verifies_a_good_signature():
    header = transport.signature_header(SECRET, 1700000000, BODY)
    assert transport.verify_signature(SECRET, header, BODY, now=1700000010)


def test_it_refuses_a_tampered_body_a_wrong_secret_and_a_missing_signature():
    header = transport.signature_header(SECRET, 1700000000, BODY)
    assert not transport.verify_signature(SECRET, header, BODY + b" ", now=1700000000)
    assert not transport.verify_signature("whsec_other", header, BODY, now=1700000000)
    assert not transport.verify_signature(SECRET, "", BODY, now=1700000000)
    assert not transport.verify_signature(SECRET, "t=1700000000", BODY, now=1700000000)


def test_it_refuses_another_algorithm_or_version():
    digest = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha1).hexdigest()
    assert not transport.verify_signature(SECRET, f"t=1700000000,v1={digest}", BODY, now=1700000000)
    good = transport.sign(SECRET, 1700000000, BODY)
    assert not transport.verify_signature(SECRET, f"t=1700000000,v0={good}", BODY, now=1700000000)


def test_it_refuses_a_replayed_old_signature():
    header = transport.signature_header(SECRET, 1700000000, BODY)
    assert not transport.verify_signature(SECRET, header, BODY, now=1700000000 + 301)


def test_it_backs_off_exponentially_up_to_the_cap_and_honours_retry_after():
    delays = [transport.backoff_delay(n, base=30, maximum=3600).total_seconds() for n in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert transport.backoff_delay(1, base=30, maximum=3600, retry_after=120) == timedelta(seconds=120)
    assert transport.backoff_delay(1, base=30, maximum=3600, retry_after=99999) == timedelta(seconds=3600)


def test_it_reads_retry_after_as_seconds_or_http_date():
    now = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
    assert transport.HttpResult(429, headers={"retry-after": "7"}).retry_after_seconds(now) == 7
    dated = transport.HttpResult(429, headers={"retry-after": "Fri, 14 Mar 2025 09:01:00 GMT"})
    assert dated.retry_after_seconds(now) == 60
    assert transport.HttpResult(429, headers={"retry-after": "soon"}).retry_after_seconds(now) is None
    assert transport.HttpResult(429).retry_after_seconds(now) is None

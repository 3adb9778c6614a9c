"""Outbound HTTP for webhooks and chat channels: one POST, bounded, never raising.

Also the signature scheme of our webhooks and the backoff schedule shared by every
outbound delivery (webhooks, Teams, Slack).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from django.utils import timezone

USER_AGENT = "ITSM-Webhooks/1.0"
EXCERPT_CHARS = 1000
SIGNATURE_HEADER = "X-ITSM-Signature"
SIGNATURE_VERSION = "v1"


@dataclass
class HttpResult:
    """What one POST gave: a status and the start of the body, or a network error."""

    status_code: int | None = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""
    timed_out: bool = False
    duration_ms: int = 0

    @property
    def is_2xx(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def retry_after_seconds(self, now: datetime | None = None) -> int | None:
        """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None."""
        value = self.headers.get("retry-after", "").strip()
        if not value:
            return None
        if value.isdigit():
            return int(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        return max(0, int((when - (now or timezone.now())).total_seconds()))


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> HttpResult:
    """POST ``body``; read at most a short excerpt of the answer. Never raises for HTTP trouble."""
    started = time.monotonic()
    result = HttpResult()
    all_headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", **headers}
    try:
        # No redirects: a receiver that moved must be reconfigured, not followed blindly.
        with requests.post(
            url, data=body, headers=all_headers, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            result.status_code = response.status_code
            result.headers = {name.lower(): value for name, value in response.headers.items()}
            chunk = next(response.iter_content(chunk_size=EXCERPT_CHARS * 4), b"")
            result.body = chunk.decode(response.encoding or "utf-8", errors="replace")[:EXCERPT_CHARS]
    except requests.Timeout as error:
        result.timed_out = True
        result.error = f"timeout after {timeout}s: {error.__class__.__name__}"
    except requests.RequestException as error:
        result.error = f"{error.__class__.__name__}: {str(error)[:300]}"
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def backoff_delay(attempt: int, *, base: int, maximum: int, retry_after: int | None = None) -> timedelta:
    """Wait before attempt ``attempt + 1``: base × 2^(attempt-1), capped; never less than Retry-After."""
    seconds = min(base * 2 ** max(attempt - 1, 0), maximum)
    if retry_after is not None:
        seconds = max(seconds, min(retry_after, maximum))
    return timedelta(seconds=seconds)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over ``"<timestamp>.<body>"``, hex."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},{SIGNATURE_VERSION}={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: int | None = None
) -> bool:
    """What a receiver does (and what our tests do): parse ``t=…,v1=…``, check age and HMAC."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp, signature = parts.get("t", ""), parts.get(SIGNATURE_VERSION, "")
    if not timestamp.isdigit() or not signature:
        return False
    if abs((now if now is not None else int(time.time())) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)

"""How a chat service's answer is judged: sent, retry later, or failed for good.

Retry classification (from the contracts): network errors, timeouts, 429 and 5xx are retried;
other 4xx (Slack ``invalid_payload``, ``channel_not_found``, ``channel_is_archived`` …) are
permanent: the message is marked failed and the channel shows the error to the admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from integrations.webhooks.transport import HttpResult

SENT, RETRY, FAILED = "sent", "retry", "failed"


@dataclass(frozen=True)
class Verdict:
    outcome: str
    reason: str = ""

    @classmethod
    def sent(cls) -> Verdict:
        return cls(SENT)

    @classmethod
    def retry(cls, reason: str) -> Verdict:
        return cls(RETRY, reason)

    @classmethod
    def failed(cls, reason: str) -> Verdict:
        return cls(FAILED, reason)

    @classmethod
    def from_http_failure(cls, result: HttpResult) -> Verdict:
        if result.status_code is None:
            return cls.retry(result.error or "no answer")
        detail = f"HTTP {result.status_code}" + (
            f" {result.body.strip()[:300]}" if result.body.strip() else ""
        )
        if result.status_code == 429 or result.status_code >= 500:
            return cls.retry(detail)
        return cls.failed(detail)

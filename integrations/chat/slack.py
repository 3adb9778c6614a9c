"""Slack incoming webhooks: text (the notification fallback) plus Block Kit blocks.

Slack answers 200 with the plain-text body ``ok``; errors are plain text too (``400
invalid_payload``, ``404 channel_not_found``, ``410 channel_is_archived``, ``500 rollup_error``),
and 429 with ``Retry-After`` when posting faster than about one message a second.
"""

from __future__ import annotations

from typing import Any

from integrations.chat.notice import Notice
from integrations.outbox import Verdict
from integrations.webhooks.transport import HttpResult

MAX_TEXT = 2900  # section text is limited to 3000 characters


def escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(notice: Notice) -> dict[str, Any]:
    headline, text = escape(notice.headline), escape(notice.text)
    fallback = f"{notice.headline}: {notice.text}" if notice.text else notice.headline
    if notice.link:
        fallback += f" - {notice.link}"
    linked = f"*<{notice.link}|{headline}>*" if notice.link else f"*{headline}*"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": notice.headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{linked} {text}"[:MAX_TEXT]}},
    ]
    if notice.facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{escape(title)}:*\n{escape(value)}"[:2000]}
                    for title, value in notice.facts[:10]
                ],
            }
        )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "Sent by ITSM"}]})
    return {"text": fallback[:MAX_TEXT], "blocks": blocks}


def classify(result: HttpResult) -> Verdict:
    if result.status_code == 200:
        if result.body.strip() == "ok":
            return Verdict.sent()
        return Verdict.failed(f"Slack answered 200 without ok: {result.body.strip()[:300]}")
    return Verdict.from_http_failure(result)

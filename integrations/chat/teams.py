"""Microsoft Teams: Adaptive Card in the Workflows envelope, and how Teams answers.

Workflows ("When a Teams webhook request is received") accept only Adaptive Cards inside
``{"type": "message", "attachments": [...]}`` and answer 202; failures of the flow are not
visible to us. Legacy Office 365 connectors accept the same envelope and answer 200 with body
``1``, and report their own errors as 200 with an error text (``HTTP error 429`` …).
"""

from __future__ import annotations

import re
from typing import Any

from integrations.chat.notice import Notice
from integrations.outbox import Verdict
from integrations.webhooks.transport import HttpResult

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
LEGACY_RETRYABLE = re.compile(r"HTTP error (429|5\d\d)\b")


def render(notice: Notice) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": notice.headline,
            "weight": "Bolder",
            "size": "Medium",
            "color": notice.tone.capitalize(),
            "wrap": True,
        },
    ]
    if notice.text:
        body.append({"type": "TextBlock", "text": notice.text, "wrap": True})
    if notice.facts:
        body.append(
            {"type": "FactSet", "facts": [{"title": title, "value": value} for title, value in notice.facts]}
        )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if notice.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": notice.link_label or "Open", "url": notice.link}
        ]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


def classify_workflows(result: HttpResult) -> Verdict:
    """Workflows: 202 (any 2xx) is the only success signal; 429, 5xx and network errors retry."""
    if result.is_2xx:
        return Verdict.sent()
    return Verdict.from_http_failure(result)


def classify_legacy(result: HttpResult) -> Verdict:
    """Legacy connector: success is 200 with a number as body; errors may come back as 200 too."""
    if result.status_code == 200:
        text = result.body.strip()
        if text.isdigit():
            return Verdict.sent()
        if LEGACY_RETRYABLE.search(text):
            return Verdict.retry(f"Teams: {text[:300]}")
        return Verdict.failed(f"Teams refused the message: {text[:300] or 'empty answer'}")
    return Verdict.from_http_failure(result)

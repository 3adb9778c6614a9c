"""Teams Adaptive Cards in the Workflows envelope; Slack text plus blocks."""

import json
from pathlib import Path

from django.conf import settings

from integrations.chat import slack, teams
from integrations.chat.notice import notice_for

CONTRACTS = Path(settings.BASE_DIR).parent / "shared" / "contracts"

TICKET = {
    "id": 123,
    "number": "INC-000123",
    "title": "VPN <down> & out",
    "priority": "critical",
    "status": "in_progress",
    "team": "Network",
    "assignee": {"name": "Alex Agent"},
    "organisation": "BigCorp",
    "tier": "enterprise",
    "url": "https://itsm.example.com/tickets/123/",
}


def keys_of(value):
    if isinstance(value, dict):
        return {
            key: keys_of(item) for key, item in value.items() if key not in {"text", "value", "title", "url"}
        }
    if isinstance(value, list):
        return [keys_of(item) for item in value[:1]]
    return type(value).__name__


def test_teams_gets_an_adaptive_card_in_the_workflows_envelope():
    notice = notice_for(
        "sla.breached", {"ticket": TICKET, "sla": {"metric": "response", "due_at": "2025-03-14T09:00:00Z"}}
    )
    body = teams.render(notice)
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "INC-000123 breached its response SLA"
    assert card["body"][0]["color"] == "Attention"
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Priority"] == "critical" and facts["Assignee"] == "Alex Agent"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open ticket", "url": TICKET["url"]}]
    if CONTRACTS.exists():  # the same structure as the documented example
        example = json.loads((CONTRACTS / "teams-adaptive-card.json").read_text())
        assert keys_of(body) == keys_of(example)


def test_slack_gets_text_and_blocks_with_escaped_mrkdwn():
    body = slack.render(notice_for("ticket.critical", {"ticket": TICKET}))
    assert body["text"].startswith("Critical ticket INC-000123: VPN <down> & out")
    header, section, fields, context = body["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert section["text"]["type"] == "mrkdwn"
    assert "VPN &lt;down&gt; &amp; out" in section["text"]["text"]
    assert f"<{TICKET['url']}|" in section["text"]["text"]
    assert "*Priority:*\ncritical" in [field["text"] for field in fields["fields"]]
    assert context["type"] == "context"
    if CONTRACTS.exists():
        example = json.loads((CONTRACTS / "slack-webhook.json").read_text())
        assert [block["type"] for block in body["blocks"]] == [block["type"] for block in example["blocks"]]


def test_problem_detection_names_the_problem_and_its_incidents():
    data = {
        "problem": {
            "number": "PRB-000007",
            "title": "Recurring: Wi-Fi drops",
            "incident_count": 3,
            "team": None,
            "url": "https://itsm.example.com/problems/7/",
        },
        "incidents": [{"number": f"INC-00000{n}"} for n in range(1, 4)],
    }
    card = teams.render(notice_for("problem.detected", data))["attachments"][0]["content"]
    assert card["body"][0]["text"] == "Problem PRB-000007 detected"
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Incidents"] == "INC-000001, INC-000002, INC-000003"
    assert slack.render(notice_for("problem.detected", data))["text"].startswith(
        "Problem PRB-000007 detected"
    )


def test_a_comment_event_names_its_kind_and_author_and_shortens_the_text():
    comment = {"internal": True, "author": "alex@example.com", "body": "Rebooted the core switch. " * 40}
    card = teams.render(notice_for("comment.edited", {"ticket": TICKET, "comment": comment}))["attachments"][
        0
    ]
    texts = [block.get("text", "") for block in card["content"]["body"]]
    assert texts[0] == "Internal note on INC-000123 by alex@example.com (edited)"
    assert (
        texts[1].startswith("Rebooted the core switch.") and texts[1].endswith("…") and len(texts[1]) == 601
    )
    reply = {"internal": False, "author": "dave@example.com", "body": "Works again, thanks"}
    assert slack.render(notice_for("comment.added", {"ticket": TICKET, "comment": reply}))["text"].startswith(
        "Reply on INC-000123 by dave@example.com: Works again, thanks"
    )

"""The smart-reply KPIs: drafts asked for (page and API) and drafts sent as the public reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from ai.knowledge.actions import do_record_reply_draft
from ai.knowledge.models import DraftEventKind, ReplyDraftEvent
from itsm import kpis

HTMX = {"HTTP_HX_REQUEST": "true"}
BODY = "1. Open the self-service portal.\n2. Choose *Reset VPN token*.\n3. Sign in again."


@pytest.fixture
def ticket(make_article, make_ticket):
    make_article("Reset your VPN token", BODY)
    return make_ticket("VPN authentication failed", description="The VPN client says authentication failed.")


def figures(**extra):
    now = timezone.now()
    return kpis.compute(
        ["ai_smart_reply_drafts", "ai_smart_reply_sent_rate"],
        now - timedelta(days=1),
        now + timedelta(minutes=1),
        user=None,
        **extra,
    )


def test_drafts_and_the_replies_sent_from_them_are_counted(client, agent, api_for, ticket):
    assert figures().value("ai_smart_reply_drafts") == 0
    assert figures().value("ai_smart_reply_sent_rate") is None  # nothing drafted: not 0
    client.force_login(agent)
    for _ in range(2):
        assert client.post(reverse("ai:kb-ticket-draft", args=[ticket.pk]), **HTMX).status_code == 200
    assert api_for(agent).post(f"/api/ai/tickets/{ticket.pk}/draft-reply/").status_code == 200
    sent = client.post(reverse("ai:kb-ticket-send-reply", args=[ticket.pk]), {"body": "Edited."}, **HTMX)
    assert sent.status_code == 200
    # An empty reply is refused and counts as nothing sent.
    empty = client.post(reverse("ai:kb-ticket-send-reply", args=[ticket.pk]), {"body": "  "}, **HTMX)
    assert empty.status_code == 400
    assert ReplyDraftEvent.objects.filter(kind=DraftEventKind.DRAFTED, grounded=True).count() == 3
    assert ReplyDraftEvent.objects.filter(kind=DraftEventKind.SENT, agent=agent).count() == 1
    result = figures()
    assert result.value("ai_smart_reply_drafts") == 3
    assert result.value("ai_smart_reply_sent_rate") == pytest.approx(1 / 3, abs=1e-4)
    by_team = figures(group_by="priority")
    assert by_team.value("ai_smart_reply_drafts", group=ticket.priority) == 3


def test_others_draft_nothing_and_record_nothing(client, requester, viewer, ticket):
    for user in (requester, viewer):
        client.force_login(user)
        assert client.post(reverse("ai:kb-ticket-draft", args=[ticket.pk])).status_code == 403
    assert not ReplyDraftEvent.objects.exists()


def test_an_unknown_event_is_refused(agent, ticket):
    with pytest.raises(ValidationError):
        do_record_reply_draft(ticket, actor=agent, kind="opened")
    assert not ReplyDraftEvent.objects.exists()

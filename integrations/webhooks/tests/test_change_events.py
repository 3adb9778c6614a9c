"""A change moving in its lifecycle becomes a `change.status_changed` delivery (and a chat notice)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from changes import actions
from integrations.chat.notice import notice_for
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


def test_each_move_of_a_change_is_delivered_once(agent, team):
    WebhookSubscription.objects.create(
        name="n8n", url="http://127.0.0.1:9/hook", events=["change.status_changed"]
    )
    start = timezone.now() + timedelta(days=1)
    change = actions.do_create_change(
        actor=agent,
        title="Rotate logs",
        type="standard",
        team=team,
        planned_start=start,
        planned_end=start + timedelta(hours=1),
    )
    actions.do_transition_change(change, "assess", actor=agent)
    actions.do_transition_change(change, "authorize", actor=agent)  # standard: scheduled at once
    moves = [
        (d.payload["from"], d.payload["to"])
        for d in WebhookDelivery.objects.filter(event="change.status_changed").order_by("id")
    ]
    assert moves == [("draft", "assess"), ("assess", "authorize"), ("authorize", "scheduled")]
    last = WebhookDelivery.objects.filter(event="change.status_changed").latest("id").payload
    assert last["change"]["number"] == change.number and last["actor"] == agent.email
    notice = notice_for("change.status_changed", last)
    assert change.number in notice.headline and notice.link.endswith(f"/changes/{change.pk}/")

"""/api/integrations/chat/: channels (admins), test messages, the message log."""

import pytest
from rest_framework.test import APIClient

from integrations.chat.models import ChatChannel, ChatMessage, MessageStatus

BASE = "/api/integrations/chat/"


@pytest.fixture
def admin_api(admin_user, api_for):
    return api_for(admin_user)


@pytest.fixture
def channel(db):
    return ChatChannel.objects.create(
        name="#ops", kind="slack", webhook_url="https://hooks.slack.com/services/T/B/x"
    )


def test_it_creates_a_channel_with_the_default_events(admin_api):
    response = admin_api.post(
        f"{BASE}channels/",
        {
            "name": "Ops",
            "kind": "teams_workflows",
            "webhook_url": "https://prod-00.westeurope.logic.azure.com:443/workflows/0000/triggers/manual/paths/invoke",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["events"] == ["ticket.critical", "sla.at_risk", "sla.breached", "problem.detected"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "discord"}, "kind"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"events": ["ticket.exploded"]}, "events"),
        ({"events": []}, "events"),
    ],
)
def test_it_refuses_bad_channels(admin_api, payload, field):
    data = {"name": "x", "kind": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/x", **payload}
    response = admin_api.post(f"{BASE}channels/", data, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not ChatChannel.objects.exists()


def test_it_queues_a_test_message(admin_api, channel):
    response = admin_api.post(f"{BASE}channels/{channel.pk}/test/")
    assert response.status_code == 202
    message = ChatMessage.objects.get()
    assert message.event == "test"
    assert message.body["text"].startswith("Test message from the service desk")
    channel.active = False
    channel.save()
    assert admin_api.post(f"{BASE}channels/{channel.pk}/test/").status_code == 400
    assert ChatMessage.objects.count() == 1


@pytest.mark.parametrize("persona", ["agent", "requester", "viewer"])
def test_only_admins_may_use_it(request, api_for, persona, channel):
    client = api_for(request.getfixturevalue(persona))
    assert client.get(f"{BASE}channels/").status_code == 403
    assert client.post(f"{BASE}channels/{channel.pk}/test/").status_code == 403
    assert client.get(f"{BASE}messages/").status_code == 403
    assert APIClient().get(f"{BASE}channels/").status_code == 401
    assert not ChatMessage.objects.exists()


def test_it_lists_messages_in_a_fixed_number_of_queries(admin_api, channel, django_assert_num_queries):
    for status in ("sent", "failed", "retrying"):
        ChatMessage.objects.create(
            channel=channel, event="ticket.critical", status=status, body={"text": "x"}
        )
    admin_api.get(f"{BASE}messages/")  # the token's last_used_at is written once a minute
    # the token with its user, the throttle's counter (one upsert), the count, the page
    with django_assert_num_queries(4):
        response = admin_api.get(f"{BASE}messages/")
    assert response.json()["count"] == 3
    failed = admin_api.get(f"{BASE}messages/", {"status": "failed"}).json()["results"]
    assert [m["status"] for m in failed] == ["failed"]
    assert admin_api.get(f"{BASE}messages/", {"status": "nope"}).status_code == 400


def test_it_retries_a_failed_message_and_refuses_a_sent_one(admin_api, channel):
    failed = ChatMessage.objects.create(channel=channel, event="ticket.critical", status="failed", attempts=1)
    sent = ChatMessage.objects.create(channel=channel, event="ticket.critical", status="sent", attempts=1)
    response = admin_api.post(f"{BASE}messages/{failed.pk}/retry/")
    assert response.status_code == 202
    assert response.json()["status"] == MessageStatus.PENDING
    assert admin_api.post(f"{BASE}messages/{sent.pk}/retry/").status_code == 400
    sent.refresh_from_db()
    assert sent.status == MessageStatus.SENT


def test_the_django_admin_manages_channels(client, admin_user, channel):
    from conftest import PASSWORD

    assert client.login(email=admin_user.email, password=PASSWORD)
    assert client.get("/admin/chat/chatchannel/").status_code == 200
    assert client.get(f"/admin/chat/chatchannel/{channel.pk}/change/").status_code == 200
    assert client.get("/admin/chat/chatmessage/").status_code == 200
    response = client.post(
        "/admin/chat/chatchannel/add/",
        {
            "name": "Teams ops",
            "kind": "teams_legacy",
            "webhook_url": "https://acme.webhook.office.com/webhookb2/x",
            "events": ["ticket.critical"],
            "active": "on",
        },
    )
    assert response.status_code == 302
    assert ChatChannel.objects.get(name="Teams ops").events == ["ticket.critical"]
    client.post("/admin/chat/chatchannel/", {"action": "send_test", "_selected_action": [channel.pk]})
    assert ChatMessage.objects.filter(channel=channel, event="test").count() == 1

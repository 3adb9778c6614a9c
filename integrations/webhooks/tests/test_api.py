"""/api/webhooks/: subscriptions CRUD and deliveries, admins only."""

import pytest
from rest_framework.test import APIClient

from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

BASE = "/api/webhooks/"


@pytest.fixture
def admin_api(admin_user, api_for):
    return api_for(admin_user)


@pytest.fixture
def subscription(db):
    return WebhookSubscription.objects.create(
        name="n8n", url="https://n8n.example.com/webhook/itsm", events=["ticket.critical"]
    )


def make_delivery(subscription, status=DeliveryStatus.DEAD, **extra):
    return WebhookDelivery.objects.create(
        subscription=subscription,
        event="ticket.critical",
        status=status,
        payload={"ticket": {"id": 1}},
        **extra,
    )


def test_it_creates_a_subscription_with_a_generated_secret(admin_api, admin_user):
    response = admin_api.post(
        BASE,
        {
            "name": "n8n critical",
            "url": "https://n8n.example.com/webhook/itsm-critical-ticket",
            "events": ["ticket.critical", "sla.breached", "ticket.critical"],
            "auth_header_name": "X-N8N-Auth",
            "auth_header_value": "s3cret-value",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["events"] == ["ticket.critical", "sla.breached"]
    assert body["secret"].startswith("whsec_")
    assert "auth_header_value" not in body
    subscription = WebhookSubscription.objects.get()
    assert subscription.created_by == admin_user
    assert subscription.auth_header_value == "s3cret-value"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["ticket.deleted"]}, "events"),
        ({"auth_header_name": "X-Auth"}, "auth_header_value"),
        ({"auth_header_name": "X-ITSM-Signature", "auth_header_value": "x"}, "auth_header_name"),
        ({"auth_header_name": "Bad Header", "auth_header_value": "x"}, "auth_header_name"),
        ({"secret": "short"}, "secret"),
    ],
)
def test_it_refuses_bad_subscriptions_and_creates_nothing(admin_api, payload, field):
    data = {"name": "x", "url": "https://n8n.example.com/webhook/a", "events": ["ticket.created"], **payload}
    response = admin_api.post(BASE, data, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not WebhookSubscription.objects.exists()


def test_it_updates_rotates_pings_and_deletes(admin_api, subscription):
    old_secret = subscription.secret
    response = admin_api.patch(f"{BASE}{subscription.pk}/", {"active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["active"] is False
    response = admin_api.post(f"{BASE}{subscription.pk}/ping/")
    assert response.status_code == 400  # inactive
    admin_api.patch(f"{BASE}{subscription.pk}/", {"active": True}, format="json")
    response = admin_api.post(f"{BASE}{subscription.pk}/ping/")
    assert response.status_code == 202
    assert response.json()["event"] == "ping"
    response = admin_api.post(f"{BASE}{subscription.pk}/rotate-secret/")
    assert response.json()["secret"] != old_secret
    assert admin_api.delete(f"{BASE}{subscription.pk}/").status_code == 204
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize("persona", ["agent", "requester", "viewer"])
def test_only_admins_may_use_it(request, api_for, persona, subscription):
    client = api_for(request.getfixturevalue(persona))
    assert client.get(BASE).status_code == 403
    assert client.get(f"{BASE}deliveries/").status_code == 403
    assert (
        client.post(
            BASE, {"name": "x", "url": "https://e.com", "events": ["ticket.created"]}, format="json"
        ).status_code
        == 403
    )
    assert APIClient().get(BASE).status_code == 401
    assert WebhookSubscription.objects.count() == 1


def test_it_lists_deliveries_in_a_fixed_number_of_queries(admin_api, subscription, django_assert_num_queries):
    for status in ("dead", "succeeded", "retrying"):
        make_delivery(subscription, status=status)
    admin_api.get(f"{BASE}deliveries/")  # the token's last_used_at is written once a minute
    # the token with its user, the count, the page
    with django_assert_num_queries(4):  # + the API throttle's counter
        response = admin_api.get(f"{BASE}deliveries/")
    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert response.json()["results"][0]["subscription_name"] == "n8n"
    dead = admin_api.get(f"{BASE}deliveries/", {"status": "dead"}).json()
    assert [d["status"] for d in dead["results"]] == ["dead"]
    assert admin_api.get(f"{BASE}deliveries/", {"status": "exploded"}).status_code == 400


def test_it_shows_a_delivery_with_its_attempts(admin_api, subscription):
    delivery = make_delivery(subscription)
    delivery.attempt_log.create(number=1, outcome="retry", response_code=500, response_excerpt="boom")
    delivery.attempt_log.create(number=2, outcome="dead", error="timeout after 10s")
    body = admin_api.get(f"{BASE}deliveries/{delivery.pk}/").json()
    assert body["payload"] == {"ticket": {"id": 1}}
    assert [(a["number"], a["outcome"]) for a in body["attempts_log"]] == [(1, "retry"), (2, "dead")]


def test_it_redelivers_a_dead_delivery(admin_api, subscription, admin_user):
    delivery = make_delivery(subscription)
    response = admin_api.post(f"{BASE}deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 201
    copy = WebhookDelivery.objects.get(pk=response.json()["id"])
    assert copy.status == DeliveryStatus.PENDING
    assert copy.redelivery_of == delivery
    assert response.json()["redelivery_of"] == str(delivery.delivery_id)
    assert copy.payload == delivery.payload


def test_it_refuses_to_redeliver_what_is_still_being_delivered(admin_api, subscription):
    delivery = make_delivery(subscription, status=DeliveryStatus.RETRYING)
    response = admin_api.post(f"{BASE}deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 409
    assert "retrying" in response.json()["detail"]
    assert WebhookDelivery.objects.count() == 1
    subscription.active = False
    subscription.save()
    dead = make_delivery(subscription)
    assert admin_api.post(f"{BASE}deliveries/{dead.pk}/redeliver/").status_code == 400
    assert WebhookDelivery.objects.count() == 2


def test_deliveries_are_read_only(admin_api, subscription):
    delivery = make_delivery(subscription)
    assert (
        admin_api.patch(
            f"{BASE}deliveries/{delivery.pk}/", {"status": "succeeded"}, format="json"
        ).status_code
        == 405
    )
    assert admin_api.delete(f"{BASE}deliveries/{delivery.pk}/").status_code == 405
    assert admin_api.get(f"{BASE}deliveries/{delivery.pk}/redeliver/").status_code == 405
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD

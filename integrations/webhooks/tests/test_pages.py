"""The admin pages: the deliveries page, redelivery by hand (HTMX and plain), the Django admin."""

import pytest

from conftest import PASSWORD
from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

LIST = "/integrations/webhooks/"


@pytest.fixture
def subscription(db):
    return WebhookSubscription.objects.create(
        name="n8n", url="https://n8n.example.com/webhook/itsm", events=["ticket.critical"]
    )


@pytest.fixture
def dead(subscription):
    return WebhookDelivery.objects.create(
        subscription=subscription,
        event="ticket.critical",
        status=DeliveryStatus.DEAD,
        attempts=8,
        payload={"ticket": {"id": 1}},
    )


def login(client, user):
    assert client.login(email=user.email, password=PASSWORD)
    return client


def test_the_admin_sees_subscriptions_and_deliveries(client, admin_user, dead, django_assert_num_queries):
    login(client, admin_user)
    for _ in range(5):
        WebhookDelivery.objects.create(
            subscription=dead.subscription, event="ticket.created", status=DeliveryStatus.SUCCEEDED
        )
    with django_assert_num_queries(6):  # session, user, count, bell, subscriptions, page
        response = client.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "https://n8n.example.com/webhook/itsm" in html
    assert f'id="delivery-{dead.pk}"' in html
    assert "Redeliver" in html
    filtered = client.get(LIST, {"status": "dead"}).content.decode()
    assert "ticket.created" not in filtered
    assert client.get(LIST, {"status": "exploded"}).status_code == 400


def test_other_roles_may_not_see_it(client, agent, viewer, requester):
    for user in (agent, viewer, requester):
        login(client, user)
        assert client.get(LIST).status_code == 403
    client.logout()
    response = client.get(LIST)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_redeliver_with_htmx_swaps_the_row(client, admin_user, dead):
    login(client, admin_user)
    url = f"/integrations/webhooks/deliveries/{dead.pk}/redeliver/"
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode().strip().startswith(f'<tr id="delivery-{dead.pk}"')
    assert "queued again" in response.content.decode()
    assert "webhookRedelivered" in response["HX-Trigger"]
    assert WebhookDelivery.objects.filter(redelivery_of=dead).count() == 1


def test_redeliver_without_javascript_redirects_with_a_message(client, admin_user, dead):
    login(client, admin_user)
    url = f"/integrations/webhooks/deliveries/{dead.pk}/redeliver/"
    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == LIST
    assert "queued again" in response.content.decode()
    assert client.get(url).status_code == 405
    WebhookDelivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.RETRYING)
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert WebhookDelivery.objects.filter(redelivery_of=dead).count() == 1


def test_others_may_not_redeliver(client, agent, dead):
    login(client, agent)
    assert client.post(f"/integrations/webhooks/deliveries/{dead.pk}/redeliver/").status_code == 403
    assert not WebhookDelivery.objects.filter(redelivery_of=dead).exists()


def test_the_django_admin_lists_deliveries_attempts_and_redelivers(client, admin_user, dead):
    login(client, admin_user)
    dead.attempt_log.create(number=1, outcome="dead", response_code=500, response_excerpt="upstream exploded")
    assert client.get("/admin/webhooks/webhooksubscription/").status_code == 200
    assert client.get("/admin/webhooks/webhooksubscription/add/").status_code == 200
    assert client.get("/admin/webhooks/webhookdelivery/").status_code == 200
    detail = client.get(f"/admin/webhooks/webhookdelivery/{dead.pk}/change/")
    assert "upstream exploded" in detail.content.decode()
    response = client.post(
        "/admin/webhooks/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [dead.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert WebhookDelivery.objects.filter(redelivery_of=dead).count() == 1


def test_the_django_admin_saves_a_subscription_with_its_events(client, admin_user):
    login(client, admin_user)
    response = client.post(
        "/admin/webhooks/webhooksubscription/add/",
        {
            "name": "n8n",
            "url": "https://n8n.example.com/webhook/x",
            "events": ["ticket.critical", "sla.breached"],
            "active": "on",
            "secret": "whsec_0123456789abcdef",
            "auth_header_name": "",
            "auth_header_value": "",
            "description": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    subscription = WebhookSubscription.objects.get()
    assert subscription.events == ["ticket.critical", "sla.breached"]
    assert subscription.created_by == admin_user
    bad = client.post(
        "/admin/webhooks/webhooksubscription/add/",
        {
            "name": "bad",
            "url": "https://n8n.example.com/webhook/y",
            "events": ["ticket.critical"],
            "secret": "whsec_0123456789abcdef",
            "auth_header_name": "X-Auth",
            "auth_header_value": "",
        },
    )
    assert bad.status_code == 200
    assert WebhookSubscription.objects.count() == 1

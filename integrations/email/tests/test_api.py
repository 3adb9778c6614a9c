"""/api/integrations/email/: inbound mail over HTTP, and the inbound log (admins)."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from integrations.email.models import EmailReceipt
from tickets.models import Ticket

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "/api/integrations/email/"


@pytest.fixture
def admin_api(admin_user, api_for):
    return api_for(admin_user)


def post_raw(client, data: bytes):
    return client.generic("POST", f"{BASE}inbound/", data, content_type="message/rfc822")


def test_it_ingests_a_raw_message_once(admin_api, requester):
    response = post_raw(admin_api, (FIXTURES / "new_ticket.eml").read_bytes())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "created" and body["duplicate"] is False
    assert body["ticket_number"] == Ticket.objects.get().number
    again = post_raw(admin_api, (FIXTURES / "new_ticket.eml").read_bytes())
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert Ticket.objects.count() == 1


def test_it_accepts_the_message_as_a_form_file(admin_api, requester):
    upload = SimpleUploadedFile(
        "m.eml", (FIXTURES / "new_ticket.eml").read_bytes(), content_type="message/rfc822"
    )
    response = admin_api.post(f"{BASE}inbound/", {"message": upload}, format="multipart")
    assert response.status_code == 201
    assert EmailReceipt.objects.get().source == "api"


@pytest.mark.parametrize("data", [b"", b"definitely not an email"])
def test_it_refuses_what_is_not_mail(admin_api, data):
    response = post_raw(admin_api, data)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not EmailReceipt.objects.exists()
    empty_form = admin_api.post(f"{BASE}inbound/", {}, format="multipart")
    assert empty_form.status_code == 400


@pytest.mark.parametrize("persona", ["agent", "requester", "viewer"])
def test_only_admins_may_use_it(request, api_for, persona):
    client = api_for(request.getfixturevalue(persona))
    assert post_raw(client, (FIXTURES / "new_ticket.eml").read_bytes()).status_code == 403
    assert client.get(f"{BASE}receipts/").status_code == 403
    assert post_raw(APIClient(), b"x").status_code == 401
    assert not EmailReceipt.objects.exists()


def test_it_lists_receipts_in_a_fixed_number_of_queries(
    admin_api, requester, other_requester, django_assert_num_queries
):
    for name in ("new_ticket.eml", "auto_reply.eml", "bounce.eml", "no_message_id.eml"):
        post_raw(admin_api, (FIXTURES / name).read_bytes())
    admin_api.get(f"{BASE}receipts/")  # the token's last_used_at is written once a minute
    # the token with its user, the throttle's counter (one upsert), the count, the page
    with django_assert_num_queries(4):
        response = admin_api.get(f"{BASE}receipts/")
    assert response.json()["count"] == 4
    bounces = admin_api.get(f"{BASE}receipts/", {"status": "bounce"}).json()["results"]
    assert [r["message_id"] for r in bounces] == ["<bounce-0006@mx.example.com>"]
    assert admin_api.get(f"{BASE}receipts/", {"status": "weird"}).status_code == 400


def test_the_django_admin_shows_the_inbound_log(client, admin_user, admin_api, requester):
    from conftest import PASSWORD

    post_raw(admin_api, (FIXTURES / "new_ticket.eml").read_bytes())
    assert client.login(email=admin_user.email, password=PASSWORD)
    page = client.get("/admin/mail/emailreceipt/")
    assert page.status_code == 200
    assert "Printer on floor 3 prints blank pages" in page.content.decode()
    assert client.get(f"/admin/mail/emailreceipt/{EmailReceipt.objects.get().pk}/change/").status_code == 200
    assert client.get("/admin/mail/emailthreadmessage/").status_code == 200

"""One set of limits on what a ticket holds (``tickets.validation``), refused with a 400 naming
the limit, and nothing stored."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tickets.actions import do_add_comment, do_edit_ticket
from tickets.models import Comment, Ticket
from tickets.validation import (
    COMMENT_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    METADATA_MAX_BYTES,
    TAG_MAX_LENGTH,
    fit_text,
    metadata_size,
    validate_metadata,
)

pytestmark = pytest.mark.django_db


def metadata_of(size: int) -> dict:
    """A metadata object of exactly ``size`` bytes of compact JSON."""
    value = {"note": ""}
    value["note"] = "x" * (size - metadata_size(value))
    assert metadata_size(value) == size
    return value


def test_the_api_refuses_five_megabytes_of_metadata(api_for, agent):
    response = api_for(agent).post(
        "/api/tickets/", {"title": "Printer", "metadata": {"blob": "b" * 5_000_000}}, format="json"
    )
    assert response.status_code == 400
    assert f"at most {METADATA_MAX_BYTES} bytes" in str(response.json()["metadata"])
    assert not Ticket.objects.exists()


def test_metadata_up_to_the_limit_is_kept(api_for, agent):
    client = api_for(agent)
    response = client.post(
        "/api/tickets/", {"title": "Printer", "metadata": metadata_of(METADATA_MAX_BYTES)}, format="json"
    )
    assert response.status_code == 201
    ticket = Ticket.objects.get()
    over = client.patch(
        f"/api/tickets/{ticket.pk}/", {"metadata": metadata_of(METADATA_MAX_BYTES + 1)}, format="json"
    )
    assert over.status_code == 400 and "metadata" in over.json()
    ticket.refresh_from_db()
    assert metadata_size(ticket.metadata) == METADATA_MAX_BYTES


def test_characters_count_as_their_utf8_bytes():
    with pytest.raises(ValidationError, match="bytes"):
        validate_metadata({"note": "é" * (METADATA_MAX_BYTES // 2)})
    validate_metadata({"note": "e" * (METADATA_MAX_BYTES // 2)})


@pytest.mark.parametrize(
    ("value", "words"),
    [([1, 2], "JSON object"), ({"a\x00": 1}, "NUL"), ({"a": "\udfff"}, "lone surrogate")],
)
def test_metadata_must_be_an_object_postgresql_can_store(value, words):
    with pytest.raises(ValidationError, match=words):
        validate_metadata(value)


def test_descriptions_and_comments_share_the_limit(api_for, agent, make_ticket):
    client = api_for(agent)
    too_long = "a" * (DESCRIPTION_MAX_LENGTH + 1)
    assert (
        client.post("/api/tickets/", {"title": "x", "description": too_long}, format="json").status_code
        == 400
    )
    assert not Ticket.objects.exists()
    ticket = make_ticket()
    body = "a" * (COMMENT_MAX_LENGTH + 1)
    response = client.post(f"/api/tickets/{ticket.pk}/comments/", {"body": body}, format="json")
    assert response.status_code == 400 and "body" in response.json()
    assert not Comment.objects.filter(ticket=ticket).exists()


# --- every channel has the same limits: pages and mail as the API ---------------------------
def test_the_create_page_refuses_a_description_over_the_limit(client, agent, requester):
    client.force_login(agent)
    response = client.post(
        reverse("tickets:ticket-create"),
        {
            "title": "Printer",
            "description": "x" * (DESCRIPTION_MAX_LENGTH + 1),
            "type": "incident",
            "impact": "low",
            "urgency": "low",
            "requester": requester.email,
        },
    )
    assert response.status_code == 400
    assert f"at most {DESCRIPTION_MAX_LENGTH:,} characters" in response.content.decode()
    assert not Ticket.objects.exists()


def test_the_create_page_refuses_a_long_tag_instead_of_cutting_it(client, agent, requester):
    client.force_login(agent)
    long_tag = "t" * (TAG_MAX_LENGTH + 1)
    response = client.post(
        reverse("tickets:ticket-create"),
        {
            "title": "Printer",
            "type": "incident",
            "impact": "low",
            "urgency": "low",
            "requester": requester.email,
            "tags": f"printer, {long_tag}",
        },
    )
    assert response.status_code == 400
    assert f"at most {TAG_MAX_LENGTH} characters" in response.content.decode()
    assert not Ticket.objects.exists()


def test_a_reply_over_the_limit_is_refused_on_the_ticket_page_and_in_the_portal(
    client, agent, requester, make_ticket
):
    ticket = make_ticket()
    client.force_login(agent)
    too_long = "y" * (COMMENT_MAX_LENGTH + 1)
    response = client.post(reverse("tickets:ticket-comment", args=[ticket.pk]), {"body": too_long})
    assert response.status_code == 400
    client.force_login(requester)
    response = client.post(reverse("tickets:portal-reply", args=[ticket.pk]), {"body": too_long})
    assert f"at most {COMMENT_MAX_LENGTH:,} characters" in response.content.decode()
    assert not Comment.objects.exists()


def test_actions_enforce_the_limits_whoever_calls_them(make_ticket, agent):
    with pytest.raises(ValidationError) as refused:
        make_ticket(description="d" * (DESCRIPTION_MAX_LENGTH + 1))
    assert "description" in refused.value.message_dict
    ticket = make_ticket()
    with pytest.raises(ValidationError) as refused:
        do_edit_ticket(ticket, {"metadata": {"blob": "b" * METADATA_MAX_BYTES}}, actor=agent)
    assert "metadata" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        do_add_comment(ticket, actor=agent, body="c" * (COMMENT_MAX_LENGTH + 1))
    assert "body" in refused.value.message_dict
    ticket.refresh_from_db()
    assert (ticket.metadata, ticket.version, ticket.comments.count()) == ({}, 1, 0)


def test_a_long_mail_is_cut_visibly_not_refused(requester):
    from integrations.email.actions import do_ingest_email

    message = (
        "From: Dave Requester <dave.user@example.com>\r\nTo: ITSM <itsm@localhost>\r\n"
        "Subject: Huge log\r\nMessage-ID: <huge-log-1@mail.example.com>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n'
        + "log line 42 failed\r\n"
        * 8000
    ).encode()
    ticket = do_ingest_email(message, source="test:huge").receipt.ticket
    assert len(ticket.description) == DESCRIPTION_MAX_LENGTH
    assert ticket.description.endswith(f"[… cut at {DESCRIPTION_MAX_LENGTH:,} characters]")


def test_fit_text_keeps_short_text_and_cuts_long_text_to_the_limit():
    assert fit_text("short", 100) == "short"
    cut = fit_text("z" * 500, 100)
    assert len(cut) == 100 and cut.startswith("z") and cut.endswith("[… cut at 100 characters]")

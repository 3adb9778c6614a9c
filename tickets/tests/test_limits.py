"""One set of limits on what a ticket holds (``tickets.validation``), refused with a 400 naming
the limit, and nothing stored."""

import pytest
from django.core.exceptions import ValidationError

from tickets.models import Comment, Ticket
from tickets.validation import (
    COMMENT_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    METADATA_MAX_BYTES,
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

"""Recurrence detection with the local embeddings the ai app registers (problems.similarity)."""

import pytest

from problems import actions, similarity
from problems.models import IncidentVector, Problem

pytestmark = pytest.mark.django_db

# One cause in different words: trigram similarity of the titles stays far below 0.5.
PARAPHRASES = [
    ("VPN keeps disconnecting", "Since this morning my VPN connection drops every few minutes."),
    ("Lost VPN connection again", "GlobalProtect lost the connection again, third time today."),
    ("Cannot stay connected to VPN", "VPN connects then disconnects."),
]


@pytest.fixture
def embeddings_on(settings, minilm):
    settings.PROBLEM_DETECTION_EMBEDDINGS = True
    settings.PROBLEM_DETECTION_EMBEDDING_SIMILARITY = 0.6
    assert similarity.embedder() is not None  # registered by AiConfig.ready()


def test_paraphrased_incidents_cluster_by_embedding_only(make_ticket, settings, embeddings_on):
    incidents = [make_ticket(title, description=body) for title, body in PARAPHRASES]
    make_ticket("Printer out of toner", description="Floor 5 printer needs toner.")
    settings.PROBLEM_DETECTION_EMBEDDINGS = False
    assert actions.do_detect_recurrences(dry_run=True) == []  # trigram alone finds nothing
    settings.PROBLEM_DETECTION_EMBEDDINGS = True
    report = actions.do_detect_recurrences()
    assert [entry["tickets"] for entry in report] == [[t.number for t in incidents]]
    assert IncidentVector.objects.count() == 4
    problem = Problem.objects.get()
    newcomer = make_ticket(
        "VPN disconnects every hour", description="The VPN client drops the tunnel about every hour."
    )
    joined = actions.do_join_similar_incidents()
    assert [entry["ticket"] for entry in joined] == [newcomer.number]
    assert problem.links.count() == 4


def test_an_edited_incident_gets_a_new_vector_and_unchanged_ones_are_not_embedded_again(
    make_ticket, embeddings_on
):
    title, body = PARAPHRASES[0]
    ticket = make_ticket(title, description=body)
    assert similarity.ensure_vectors([ticket.pk]) == 1
    assert similarity.ensure_vectors([ticket.pk]) == 0
    type(ticket).objects.filter(pk=ticket.pk).update(title="Outlook does not start")
    assert similarity.ensure_vectors([ticket.pk]) == 1


def test_a_failing_embedder_leaves_detection_to_trigrams(make_ticket, settings, embeddings_on, monkeypatch):
    def broken(texts):
        raise ConnectionError("provider down")

    original = similarity.embedder()
    monkeypatch.setattr(similarity, "_embedder", similarity.RegisteredEmbedder(broken, original.model))
    for title in (
        "VPN disconnects every hour",
        "VPN disconnects every hour again",
        "VPN disconnects every hour on wifi",
    ):
        make_ticket(title)
    assert len(actions.do_detect_recurrences()) == 1
    assert not IncidentVector.objects.exists()


def test_a_boilerplate_description_is_left_out_of_the_embedded_text(make_ticket, embeddings_on):
    form = "Submitted through the self-service form."
    tickets = [
        make_ticket(title, description=form)
        for title in ("Mailbox full", "Account locked out", "Mouse not working")
    ]
    unique = make_ticket("VPN keeps disconnecting", description="Drops every few minutes.")
    similarity.ensure_vectors([t.pk for t in [*tickets, unique]])
    vectors = {v.ticket_id: v.text_hash for v in IncidentVector.objects.all()}
    assert vectors[tickets[0].pk] == similarity.text_hash("Mailbox full")
    assert vectors[unique.pk] == similarity.text_hash("VPN keeps disconnecting\nDrops every few minutes.")
    assert actions.do_detect_recurrences(dry_run=True) == []

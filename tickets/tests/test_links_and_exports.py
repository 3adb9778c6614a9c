"""The ticket page's links (add, remove, picker, children) and the queue's export buttons."""

from __future__ import annotations

import pytest
from django.urls import reverse

from itsm.models import Notification
from tickets.actions import do_add_relation, do_build_export, do_transition_ticket
from tickets.models import ExportJob, TicketRelation, TicketStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(make_ticket, team):
    return make_ticket("Mail outage", team=team), make_ticket("Outlook slow", team=team)


def test_an_agent_links_and_unlinks_tickets_from_the_page(agent_client, pair):
    parent, child = pair
    url = reverse("tickets:relation-add", args=[parent.pk])
    response = agent_client.post(url, {"target": f"{child.number} · Outlook slow", "kind": "parent_of"})
    assert response.status_code == 302
    relation = TicketRelation.objects.get()
    assert (relation.source, relation.target, relation.kind) == (parent, child, "parent_of")
    html = agent_client.get(reverse("tickets:ticket-detail", args=[parent.pk])).content.decode()
    assert 'data-testid="children-summary"' in html and "1 still open" in html
    remove = reverse("tickets:relation-remove", args=[parent.pk, relation.pk])
    assert agent_client.post(remove).status_code == 302
    assert not TicketRelation.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"target": "INC-999999", "kind": "related"},
        {"target": "", "kind": "related"},
        {"kind": "related"},
        {"target": "self", "kind": "related"},
        {"target": "other", "kind": "nonsense"},
    ],
)
def test_bad_links_are_a_400_that_says_why(agent_client, pair, data):
    parent, child = pair
    data = dict(data)
    if data.get("target") == "self":
        data["target"] = parent.number
    if data.get("target") == "other":
        data["target"] = child.number
    response = agent_client.post(reverse("tickets:relation-add", args=[parent.pk]), data)
    assert response.status_code == 400 and 'data-testid="relation-error"' in response.content.decode()
    assert not TicketRelation.objects.exists()


def test_links_refuse_viewers_requesters_and_hidden_tickets(
    client, viewer, requester, other_agent, make_ticket, team, pair
):
    parent, _child = pair
    secret = make_ticket("HR case", sensitive=True, team=team)
    client.force_login(viewer)
    assert (
        client.post(
            reverse("tickets:relation-add", args=[parent.pk]), {"target": secret.number, "kind": "related"}
        ).status_code
        == 403
    )
    client.force_login(requester)
    assert (
        client.post(
            reverse("tickets:relation-add", args=[parent.pk]), {"target": secret.number, "kind": "related"}
        ).status_code
        == 403
    )
    client.force_login(other_agent)
    hidden = client.post(
        reverse("tickets:relation-add", args=[parent.pk]), {"target": secret.number, "kind": "related"}
    )
    assert hidden.status_code == 400 and secret.title not in hidden.content.decode()
    assert client.get(reverse("tickets:ticket-picker"), {"q": "HR case"}).content.decode().strip() == ""
    assert not TicketRelation.objects.exists()


def test_the_page_lists_only_links_to_tickets_the_reader_may_see(
    client, admin_user, agent, other_agent, make_ticket, team, other_team
):
    """Links both ways; the other end of a link the reader may not see is left out, its number
    and title never shown."""
    page_of = make_ticket("Mail outage", team=other_team)
    secret_out = make_ticket("HR case one", sensitive=True, team=team)
    secret_in = make_ticket("HR case two", sensitive=True, team=team)
    theirs = make_ticket("Their own sensitive", sensitive=True, team=other_team)
    plain = make_ticket("Outlook slow", team=team)
    do_add_relation(page_of, target=secret_out, kind="related", actor=admin_user)
    do_add_relation(secret_in, target=page_of, kind="parent_of", actor=admin_user)
    do_add_relation(page_of, target=theirs, kind="related", actor=admin_user)
    do_add_relation(plain, target=page_of, kind="related", actor=admin_user)

    def shown(user) -> str:
        client.force_login(user)
        return client.get(reverse("tickets:ticket-detail", args=[page_of.pk])).content.decode()

    def numbers(html: str) -> str:
        # The page without the merge form's example number, which a ticket of the test may bear.
        return html.replace('placeholder="INC-000042"', "")

    html = shown(other_agent)  # in the page's team, not in the secrets' team
    assert "Their own sensitive" in html and "Outlook slow" in html
    assert "HR case" not in html
    assert secret_out.number not in numbers(html) and secret_in.number not in numbers(html)
    html = shown(agent)  # the secrets' team
    assert all(title in html for title in ("HR case one", "HR case two", "Outlook slow"))
    assert "Their own sensitive" not in html and theirs.number not in numbers(html)
    html = shown(admin_user)
    assert all(
        title in html for title in ("HR case one", "HR case two", "Their own sensitive", "Outlook slow")
    )


def test_the_picker_finds_tickets_by_number_or_words(agent_client, pair):
    parent, child = pair
    by_words = agent_client.get(reverse("tickets:ticket-picker"), {"q": "outage"}).content.decode()
    assert parent.number in by_words and child.number not in by_words
    by_number = agent_client.get(reverse("tickets:ticket-picker"), {"target": child.number}).content.decode()
    assert child.number in by_number
    assert agent_client.get(reverse("tickets:ticket-picker"), {"q": "x"}).content.decode().strip() == ""


def test_resolving_a_parent_offers_to_resolve_its_children(agent_client, make_ticket, team, agent, pair):
    parent, child = pair
    done = make_ticket("Already done", team=team)
    do_add_relation(parent, target=child, kind="parent_of", actor=agent)
    do_add_relation(done, target=parent, kind="child_of", actor=agent)
    do_transition_ticket(done, TicketStatus.CANCELLED, actor=agent)
    html = agent_client.get(reverse("tickets:ticket-detail", args=[parent.pk])).content.decode()
    assert "Also resolve its 1 open child ticket(s)" in html
    parent.refresh_from_db()
    response = agent_client.post(
        reverse("tickets:ticket-status", args=[parent.pk]),
        {
            "status": "resolved",
            "resolution": "Relay restarted",
            "resolve_children": "on",
            "version": parent.version,
        },
    )
    assert response.status_code == 302
    child.refresh_from_db()
    done.refresh_from_db()
    assert child.status == TicketStatus.RESOLVED and child.resolution == "Relay restarted"
    assert done.status == TicketStatus.CANCELLED


def test_resolving_without_the_box_leaves_the_children(agent_client, agent, pair):
    parent, child = pair
    do_add_relation(parent, target=child, kind="parent_of", actor=agent)
    parent.refresh_from_db()
    agent_client.post(
        reverse("tickets:ticket-status", args=[parent.pk]),
        {"status": "resolved", "resolution": "Relay restarted", "version": parent.version},
    )
    child.refresh_from_db()
    assert child.status == TicketStatus.NEW


def test_the_queue_exports_its_current_filters_and_the_bell_says_when_ready(
    agent_client, agent, make_ticket, team, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    make_ticket("VPN", team=team, tags=["vpn"])
    make_ticket("Printer", team=team)
    response = agent_client.post(
        reverse("tickets:queue-export"), {"format": "csv", "query": "tags=vpn", "next": "/tickets/?tags=vpn"}
    )
    assert response.status_code == 302 and response["Location"] == "/tickets/?tags=vpn"
    job = ExportJob.objects.get()
    assert job.filters == {"tags": ["vpn"]} and job.format == "csv"
    do_build_export(job.pk)
    do_build_export(job.pk)  # a retried build changes nothing twice
    [bell] = Notification.objects.filter(recipient=agent, verb="export_ready")
    download = agent_client.get(bell.url)
    assert download.status_code == 200
    content = b"".join(download.streaming_content).decode()
    assert "VPN" in content and "Printer" not in content


def test_bad_exports_change_nothing_and_others_cannot_download(
    client, agent_client, agent, other_agent, viewer, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    url = reverse("tickets:queue-export")
    agent_client.post(url, {"format": "xml", "query": ""})
    agent_client.post(url, {"format": "csv", "query": "status=bogus"})
    assert not ExportJob.objects.exists()
    agent_client.post(url, {"format": "csv", "query": ""})
    job = ExportJob.objects.get()
    do_build_export(job.pk)
    client.force_login(viewer)  # the same client, now a viewer
    assert client.post(url, {"format": "csv", "query": ""}).status_code == 403
    assert ExportJob.objects.count() == 1
    client.force_login(other_agent)
    assert client.get(reverse("tickets:export-download", args=[job.pk])).status_code == 404

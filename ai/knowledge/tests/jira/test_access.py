"""Jira items in search, similar items and smart replies: key, link, status and resolution for
agents; requesters only through a project shared with their organisation, resolved issues,
public passages; a JSM internal comment never reaches a requester."""

import pytest
from django.urls import reverse

from ai.knowledge.models import JiraAudience, JiraKnowledgeProject
from ai.knowledge.replies import draft_reply
from ai.knowledge.search import hybrid_search, similar_items
from itsm.models import Role, User

pytestmark = pytest.mark.django_db

SECRET_WORDS = "zebra-falcon"  # only in internal comments


@pytest.fixture
def corpus(kb_project, add_resolved, backfill, organisation):
    JiraKnowledgeProject.objects.create(
        key="SHARED", audience=JiraAudience.ORGANISATION, organisation=organisation
    )
    add_resolved(
        1,
        "VPN certificate validation failure",
        "AnyConnect says certificate validation failure when connecting from home.",
        "Renew the VPN certificate in the self-service portal, then reconnect.",
        internal=f"Root cause: the {SECRET_WORDS} GPO did not renew certificates on remote laptops.",
    )
    add_resolved(
        2,
        "Outlook keeps asking for the password",
        "Outlook desktop prompts for the password every few minutes after a password change.",
        "Remove the MicrosoftOffice16 entries in Credential Manager and create a new mail profile.",
        internal=f"Internal: the {SECRET_WORDS} token cache bug on our tenant; do not tell the customer.",
        project="SHARED",
    )
    add_resolved(
        3,
        "Outlook prompts for credentials on the shared mailbox",
        "Outlook asks for credentials when opening the shared mailbox.",
        "",
        project="SHARED",
        resolved=False,
    )
    backfill()


@pytest.fixture
def stranger(db, enterprise):
    return User.objects.create_user(
        email="sid.other@example.com",
        password="x",
        role=Role.USER,
        organisation=enterprise,
        full_name="Sid Other",
    )


def jira_hits(user, query, k=10):
    return [hit for hit in hybrid_search(user, query, k=k).hits if hit.is_jira]


def test_agents_get_jira_items_with_key_link_status_and_resolution(corpus, agent, settings):
    hits = jira_hits(agent, "VPN certificate validation failure from home")
    first = hits[0]
    assert (first.key, first.status, first.resolution) == ("HIST-1", "Resolved", "Done")
    assert first.url == first.jira_url == f"{settings.JIRA_BASE_URL}/browse/HIST-1"
    assert first.source_id == 70001 and first.title == "HIST-1 VPN certificate validation failure"
    unresolved = next(
        hit for hit in jira_hits(agent, "shared mailbox credentials Outlook") if hit.key == "SHARED-3"
    )
    assert (unresolved.status, unresolved.resolution) == ("In Progress", "")
    # Agents find what only an internal comment says.
    assert "HIST-1" in [hit.key for hit in jira_hits(agent, f"{SECRET_WORDS} GPO")]


def test_the_search_api_returns_jira_fields(corpus, agent, api_for, settings):
    response = api_for(agent).post(
        "/api/ai/search/",
        {"query": "VPN certificate validation failure", "k": 3, "sources": ["jira_issue"]},
        format="json",
    )
    assert response.status_code == 200
    first = response.json()["results"][0]
    assert first["source_type"] == "jira_issue" and first["key"] == "HIST-1"
    assert first["url"] == f"{settings.JIRA_BASE_URL}/browse/HIST-1"
    assert (first["status"], first["resolution"], first["linked_ticket_id"]) == ("Resolved", "Done", None)


def test_a_requester_of_the_shared_organisation_sees_resolved_public_passages_only(corpus, requester):
    hits = jira_hits(requester, "Outlook asks for my password again and again")
    assert [hit.key for hit in hits] == ["SHARED-2"]  # not the internal project, not the unresolved issue
    for query in (f"{SECRET_WORDS} token cache bug", "Outlook password prompt tenant internal"):
        for hit in jira_hits(requester, query):
            assert SECRET_WORDS not in hit.text and SECRET_WORDS not in hit.snippet


def test_an_internal_comment_never_reaches_a_requester_through_the_api_or_the_page(
    corpus, requester, client, api_for
):
    response = api_for(requester).post(
        "/api/ai/search/", {"query": f"{SECRET_WORDS} token cache bug"}, format="json"
    )
    assert response.status_code == 200 and SECRET_WORDS not in response.content.decode()
    client.force_login(requester)
    page = client.get(reverse("ai:kb-search"), {"q": "Outlook token cache bug on our tenant"})
    assert page.status_code == 200 and "SHARED-2" in page.content.decode()  # the issue, by its public text
    assert (
        SECRET_WORDS not in page.content.decode() and "do not tell the customer" not in page.content.decode()
    )


@pytest.mark.parametrize("persona", ["stranger", "viewer", "unattached"])
def test_requesters_of_unmapped_organisations_and_others_never_see_jira_items(
    corpus, request, persona, client, api_for
):
    if persona == "unattached":
        user = User.objects.create_user(email="una@example.com", password="x", role=Role.USER)
    else:
        user = request.getfixturevalue(persona)
    assert jira_hits(user, "Outlook keeps asking for the password") == []
    assert jira_hits(user, "VPN certificate validation failure") == []
    response = api_for(user).post(
        "/api/ai/search/", {"query": "Outlook password prompt", "sources": ["jira_issue"]}, format="json"
    )
    assert response.status_code == 200 and response.json()["results"] == []
    client.force_login(user)
    assert (
        "SHARED-2"
        not in client.get(reverse("ai:kb-search"), {"q": "Outlook password prompt"}).content.decode()
    )


def test_the_shared_organisation_loses_access_when_the_project_becomes_internal(corpus, requester):
    assert jira_hits(requester, "Outlook keeps asking for the password")
    JiraKnowledgeProject.objects.filter(key="SHARED").update(
        audience=JiraAudience.INTERNAL, organisation=None
    )
    assert jira_hits(requester, "Outlook keeps asking for the password") == []


def test_smart_replies_use_the_public_answer_of_issues_the_requester_may_read(
    corpus, make_ticket, agent, stranger
):
    ticket = make_ticket(
        "Outlook asks for my password all the time",
        description="Since I changed my password Outlook prompts for the password every few minutes.",
    )
    draft = draft_reply(ticket, actor=agent)
    jira = [citation for citation in draft.citations if citation.source_type == "jira_issue"]
    assert [citation.title for citation in jira] == ["SHARED-2 Outlook keeps asking for the password"]
    assert "Remove the MicrosoftOffice16 entries in Credential Manager" in draft.text
    assert SECRET_WORDS not in draft.text and "HIST-1" not in draft.text

    theirs = make_ticket(
        "Outlook asks for my password all the time",
        description="Since I changed my password Outlook prompts for the password every few minutes.",
        requester=stranger,
    )
    draft = draft_reply(theirs, actor=agent)
    assert not [citation for citation in draft.citations if citation.source_type == "jira_issue"]
    assert SECRET_WORDS not in draft.text and "MicrosoftOffice16" not in draft.text


def test_the_similar_items_panel_shows_jira_issues_with_their_link_and_status(
    corpus, make_ticket, agent, client, settings
):
    ticket = make_ticket(
        "VPN certificate error from home",
        description="AnyConnect fails with a certificate validation failure when I connect from home.",
    )
    assert [hit.key for hit in similar_items(agent, ticket) if hit.is_jira][:1] == ["HIST-1"]
    client.force_login(agent)
    content = client.get(reverse("ai:kb-ticket-similar", args=[ticket.pk])).content.decode()
    assert f'href="{settings.JIRA_BASE_URL}/browse/HIST-1"' in content
    assert "Jira: Resolved" in content and "Done" in content

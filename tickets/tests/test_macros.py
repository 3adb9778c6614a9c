"""Macros: the sandboxed reply, applying through the usual actions, visibility, API, page, bulk."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from tickets.actions import (
    do_apply_macro,
    do_save_macro,
    do_transition_ticket,
    preview_macro,
    render_macro_body,
)
from tickets.models import Comment, IllegalTransition, Macro, Ticket, TicketStatus

pytestmark = pytest.mark.django_db

GREETING = "Hello {{ requester.first_name }}, {{ ticket.number }} is being handled by {{ agent.full_name }}."


@pytest.fixture
def ticket(make_ticket, team):
    return make_ticket("VPN drops every hour", team=team)


@pytest.fixture
def shared(admin_user):
    return do_save_macro(
        None,
        {
            "name": "Resolved: VPN client update",
            "body": GREETING,
            "visibility": "shared",
            "set_status": "resolved",
            "resolution": "Updated the VPN client to 5.2.",
            "set_priority": "low",
            "priority_reason": "workaround in place",
            "assign_to_me": True,
            "add_tags": ["vpn", "Client-Update"],
        },
        actor=admin_user,
    )


@pytest.fixture
def personal(agent):
    return do_save_macro(
        None,
        {"name": "Ask for logs", "body": "Please send the logs.", "set_status": "pending_customer"},
        actor=agent,
    )


def state() -> list[tuple]:
    return list(
        Ticket.objects.order_by("pk").values_list("status", "priority", "assignee", "tags", "version")
    ) + [(Comment.objects.count(), *Macro.objects.order_by("pk").values_list("usage_count", flat=True))]


# --- the sandbox --------------------------------------------------------------------------------------
def test_it_renders_the_listed_placeholders(ticket, agent, requester):
    text = render_macro_body(GREETING + " {{ ticket.title|upper }}", ticket, agent)
    assert text == f"Hello Dave, {ticket.number} is being handled by Bob Agent. VPN DROPS EVERY HOUR"


@pytest.mark.parametrize(
    "body",
    [
        "{% load static %}",
        "{% include 'base.html' %}",
        "{% extends 'base.html' %}",
        "{% debug %}",
        "{% url 'tickets:ticket-list' %}",
        "{% csrf_token %}",
        "{% if %}",
        "{{ ticket.number|pprint }}",
    ],
)
def test_the_sandbox_refuses_what_reaches_outside_the_text(ticket, agent, body):
    with pytest.raises(ValidationError):
        render_macro_body(body, ticket, agent)


def test_the_sandbox_exposes_values_not_objects(ticket, agent):
    # Only plain strings are in the context: no model, manager, password hash or setting.
    text = render_macro_body(
        "[{{ requester.password }}][{{ ticket.requester.email }}][{{ agent.teams }}][{{ settings.SECRET_KEY }}]",
        ticket,
        agent,
    )
    assert text == "[][][][]"


# --- applying ------------------------------------------------------------------------------------------
def test_it_applies_the_reply_and_the_changes_as_one_edit(ticket, agent, shared):
    version = ticket.version
    comment, changed = do_apply_macro(ticket, shared, actor=agent)
    ticket.refresh_from_db()
    assert comment.body == f"Hello Dave, {ticket.number} is being handled by Bob Agent."
    assert not comment.internal and comment.author == agent
    assert ticket.status == TicketStatus.RESOLVED and ticket.resolution == "Updated the VPN client to 5.2."
    assert ticket.priority == "low" and ticket.priority_reason == "workaround in place"
    assert ticket.assignee == agent
    assert ticket.tags == ["vpn", "client-update"]
    assert set(changed) == {"status", "priority", "assignee", "tags"}
    assert ticket.version == version + 1  # one edit: one version bump
    shared.refresh_from_db()
    assert shared.usage_count == 1 and shared.last_used_at is not None
    # the audit trail names the macro as the reason
    assert {change.reason for change in ticket.audit_trail() if change.field == "status"} >= {
        f"macro: {shared.name}"
    }


def test_a_refused_change_rolls_back_the_reply_and_the_count(ticket, agent, shared):
    do_transition_ticket(ticket, TicketStatus.CANCELLED, actor=agent)
    ticket.refresh_from_db()
    before = state()
    with pytest.raises(IllegalTransition):
        do_apply_macro(ticket, shared, actor=agent)
    assert state() == before


def test_the_agent_may_edit_the_reply_before_sending(ticket, agent, personal):
    comment, _changed = do_apply_macro(ticket, personal, actor=agent, body="  Please send the VPN log.  ")
    assert comment.body == "Please send the VPN log."


def test_a_preview_changes_nothing(ticket, agent, shared):
    before = state()
    preview = preview_macro(shared, ticket, actor=agent)
    assert preview.body.startswith("Hello Dave") and preview.changes["status"] == "resolved"
    assert state() == before


# --- who may use and keep which macros -----------------------------------------------------------------
def test_visibility_personal_team_shared(
    agent, other_agent, team, admin_user, personal, shared, viewer, requester
):
    team_macro = do_save_macro(
        None, {"name": "Desk hello", "body": "Hi", "visibility": "team", "team": team}, actor=agent
    )
    assert set(Macro.objects.available_to(agent)) == {personal, shared, team_macro}
    assert set(Macro.objects.available_to(other_agent)) == {shared}
    assert not Macro.objects.available_to(viewer).exists()
    assert not Macro.objects.available_to(requester).exists()


def test_other_agents_cannot_use_or_change_a_personal_macro(ticket, other_agent, personal, team):
    team.members.add(other_agent)
    before = state()
    with pytest.raises(PermissionDenied):
        do_apply_macro(ticket, personal, actor=other_agent)
    with pytest.raises(PermissionDenied):
        do_save_macro(personal, {"name": "Mine now"}, actor=other_agent)
    assert state() == before


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"name": "", "body": "x"}, ValidationError),
        ({"name": "Bad", "body": "{% load static %}"}, ValidationError),
        ({"name": "Shared", "visibility": "shared"}, PermissionDenied),
        ({"name": "Team", "visibility": "team"}, ValidationError),
        ({"name": "Resolve", "set_status": "resolved"}, ValidationError),
        ({"name": "Priority", "set_priority": "high"}, ValidationError),
        ({"name": "Status", "set_status": "nonsense"}, ValidationError),
        ({"name": "Visibility", "visibility": "public"}, ValidationError),
    ],
)
def test_bad_macros_are_refused_and_nothing_is_saved(agent, values, error):
    with pytest.raises(error):
        do_save_macro(None, values, actor=agent)
    assert not Macro.objects.exists()


def test_a_team_macro_needs_membership(agent, other_team):
    with pytest.raises(ValidationError):
        do_save_macro(None, {"name": "Net", "visibility": "team", "team": other_team}, actor=agent)


# --- API -------------------------------------------------------------------------------------------------
MACROS = "/api/macros/"


def apply_url(ticket: Ticket) -> str:
    return f"/api/tickets/{ticket.pk}/apply-macro/"


def test_api_crud(api_for, agent, team):
    client = api_for(agent)
    response = client.post(
        MACROS,
        {
            "name": "Reset password",
            "body": "Hi {{ requester.first_name }}",
            "set_status": "pending_customer",
            "add_tags": "password",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    macro = response.json()
    assert (
        macro["owner"] == agent.email
        and macro["visibility"] == "personal"
        and macro["add_tags"] == ["password"]
    )
    assert [row["name"] for row in client.get(MACROS).json()["results"]] == ["Reset password"]
    response = client.patch(
        f"{MACROS}{macro['id']}/", {"visibility": "team", "team": team.name}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["team"] == team.name and response.json()["name"] == "Reset password"
    assert client.delete(f"{MACROS}{macro['id']}/").status_code == 204
    assert not Macro.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "Bad", "body": "{% include 'x' %}"},
        {"name": "Unknown", "colour": "red"},
        {"name": "Nobody", "set_assignee": "nobody@example.com"},
        {"name": "Requester", "set_assignee": "dave.user@example.com"},
        {"name": "Team", "visibility": "team", "team": "No such team"},
        {"body": "no name"},
        ["not", "an", "object"],
    ],
)
def test_api_refuses_bad_macros_with_a_400(api_for, agent, requester, payload):
    response = api_for(agent).post(MACROS, payload, format="json")
    assert response.status_code == 400, response.content
    assert not Macro.objects.exists()


def test_api_roles(api_for, agent, other_agent, requester, viewer, personal, shared):
    assert api_for(requester).get(MACROS).status_code == 403
    assert api_for(viewer).get(MACROS).status_code == 403
    assert (
        api_for(agent).post(MACROS, {"name": "S", "visibility": "shared"}, format="json").status_code == 403
    )
    # another agent's personal macro does not exist for them
    assert api_for(other_agent).get(f"{MACROS}{personal.pk}/").status_code == 404
    assert (
        api_for(other_agent).patch(f"{MACROS}{personal.pk}/", {"name": "x"}, format="json").status_code == 404
    )
    # a shared macro is used by all agents, changed by admins only
    assert api_for(agent).patch(f"{MACROS}{shared.pk}/", {"name": "x"}, format="json").status_code == 403
    assert api_for(agent).delete(f"{MACROS}{shared.pk}/").status_code == 403
    assert Macro.objects.filter(pk=shared.pk, name=shared.name).exists()


def test_api_applies_and_previews(api_for, agent, ticket, shared):
    client = api_for(agent)
    before = state()
    preview = client.post(apply_url(ticket), {"macro": shared.pk, "preview": True}, format="json")
    assert preview.status_code == 200, preview.json()
    assert preview.json()["changes"]["assignee"] == agent.email and preview.json()["changes"]["tags"] == [
        "vpn",
        "client-update",
    ]
    assert state() == before
    response = client.post(
        apply_url(ticket), {"macro": shared.pk, "body": "Fixed, {{ not rendered }}"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ticket"]["status"] == "resolved" and body["comment"]["body"] == "Fixed, {{ not rendered }}"
    # applying again: the changes hold already, the status move is not repeated
    again = client.post(apply_url(ticket), {"macro": shared.pk}, format="json")
    assert again.status_code == 200 and again.json()["changed"] == []


@pytest.mark.parametrize(
    "payload", [{}, {"macro": 999999}, {"macro": "x"}, {"macro": 1, "extra": 1}, {"macro": -1}]
)
def test_api_apply_refuses_bad_input(api_for, agent, ticket, shared, payload):
    before = state()
    assert api_for(agent).post(apply_url(ticket), payload, format="json").status_code == 400
    assert state() == before


def test_api_apply_refuses_others_macros_requesters_and_illegal_moves(
    api_for, agent, other_agent, requester, ticket, personal, shared
):
    before = state()
    assert api_for(other_agent).post(
        apply_url(ticket), {"macro": personal.pk}, format="json"
    ).status_code in (400, 404)
    assert api_for(requester).post(apply_url(ticket), {"macro": shared.pk}, format="json").status_code == 403
    assert state() == before
    do_transition_ticket(ticket, TicketStatus.CANCELLED, actor=agent)
    before = state()
    assert api_for(agent).post(apply_url(ticket), {"macro": shared.pk}, format="json").status_code == 409
    assert state() == before


def test_api_bulk_applies_a_macro_to_many(api_for, agent, make_ticket, team, personal):
    tickets = [make_ticket(f"Ticket {index}", team=team) for index in range(3)]
    response = api_for(agent).post(
        "/api/tickets/bulk/",
        {"ids": [t.pk for t in tickets], "action": "macro", "macro": personal.pk},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert set(Ticket.objects.filter(pk__in=[t.pk for t in tickets]).values_list("status", flat=True)) == {
        "pending_customer"
    }
    assert Comment.objects.filter(body="Please send the logs.").count() == 3
    personal.refresh_from_db()
    assert personal.usage_count == 3


def test_api_bulk_macro_is_all_or_nothing(api_for, agent, other_agent, make_ticket, team, personal):
    tickets = [make_ticket(f"Ticket {index}", team=team) for index in range(2)]
    do_transition_ticket(tickets[1], TicketStatus.CANCELLED, actor=agent)
    before = state()
    client = api_for(agent)
    response = client.post(
        "/api/tickets/bulk/",
        {"ids": [t.pk for t in tickets], "action": "macro", "macro": personal.pk},
        format="json",
    )
    assert response.status_code == 400 and response.json()["ids"] == [tickets[1].pk]
    assert (
        client.post(
            "/api/tickets/bulk/", {"ids": [tickets[0].pk], "action": "macro"}, format="json"
        ).status_code
        == 400
    )
    theirs = api_for(other_agent).post(
        "/api/tickets/bulk/", {"ids": [tickets[0].pk], "action": "macro", "macro": personal.pk}, format="json"
    )
    assert theirs.status_code == 400
    assert state() == before


# --- the ticket page ------------------------------------------------------------------------------------
def test_the_page_lists_usable_macros_and_previews_one(agent_client, ticket, personal, shared, other_agent):
    do_save_macro(None, {"name": "Carol's secret macro"}, actor=other_agent)
    html = agent_client.get(reverse("tickets:ticket-detail", args=[ticket.pk])).content.decode()
    assert "Ask for logs" in html and "Resolved: VPN client update" in html
    assert "Carol&#x27;s secret macro" not in html and "Carol's secret macro" not in html
    before = state()
    url = reverse("tickets:macro-preview", args=[ticket.pk])
    html = agent_client.get(url, {"macro": shared.pk}).content.decode()  # without JavaScript: the whole page
    assert (
        f"Hello Dave, {ticket.number} is being handled by Bob Agent." in html
        and 'data-testid="macro-changes"' in html
    )
    fragment = agent_client.get(url, {"macro": shared.pk}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.content.decode().lstrip().startswith(
        '<div id="macro-preview"'
    )
    assert agent_client.get(url, {"macro": "nope"}).status_code == 400
    assert state() == before


def test_the_pages_macro_list_follows_every_change_at_once(agent_client, ticket, agent, other_agent, team):
    """The list comes from the list cache: a macro saved, renamed, switched off or deleted, or a
    team joined or left, shows on the next page view."""

    def listed() -> str:
        return agent_client.get(reverse("tickets:ticket-detail", args=[ticket.pk])).content.decode()

    assert "No macros yet" in listed()  # an empty list is kept too
    mine = do_save_macro(None, {"name": "Ask for logs", "body": "Logs?"}, actor=agent)
    assert "Ask for logs" in listed()
    do_save_macro(mine, {"name": "Ask for the VPN logs"}, actor=agent)
    assert "Ask for the VPN logs" in listed() and "Ask for logs<" not in listed()
    team.members.add(other_agent)  # Carol joins Bob's team and writes a macro for it
    do_save_macro(None, {"name": "Network hello", "visibility": "team", "team": team}, actor=other_agent)
    assert "Network hello" in listed()
    team.members.remove(agent)  # Bob leaves the team: its macros leave his list
    assert "Network hello" not in listed() and "Ask for the VPN logs" in listed()
    mine.active = False
    mine.save()
    assert "Ask for the VPN logs" not in listed()
    Macro.objects.all().delete()
    assert "No macros yet" in listed()


def test_the_page_applies_a_macro(agent_client, ticket, shared, agent):
    url = reverse("tickets:macro-apply", args=[ticket.pk])
    response = agent_client.post(url, {"macro": shared.pk, "body": "All fixed."})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == "resolved" and ticket.comments.get().body == "All fixed."
    # the HTMX variant redirects the page; an illegal move is a 409 that says why, nothing changed
    do_transition_ticket(ticket, TicketStatus.CLOSED, actor=agent)
    before = state()
    refused = agent_client.post(url, {"macro": shared.pk}, headers={"HX-Request": "true"})
    assert refused.status_code == 409 and 'data-testid="macro-error"' in refused.content.decode()
    assert state() == before


def test_the_page_refuses_viewers_requesters_and_gets(
    client, viewer, requester, agent_client, ticket, shared
):
    url = reverse("tickets:macro-apply", args=[ticket.pk])
    before = state()
    assert agent_client.get(url).status_code == 405
    client.force_login(viewer)
    assert client.post(url, {"macro": shared.pk}).status_code == 403
    client.force_login(requester)
    assert client.post(url, {"macro": shared.pk}).status_code == 403
    assert state() == before


def test_other_teams_sensitive_tickets_are_a_404(client, other_agent, make_ticket, team, shared):
    secret = make_ticket("HR case", sensitive=True, team=team)
    client.force_login(other_agent)
    before = state()
    assert (
        client.get(reverse("tickets:macro-preview", args=[secret.pk]), {"macro": shared.pk}).status_code
        == 404
    )
    assert (
        client.post(reverse("tickets:macro-apply", args=[secret.pk]), {"macro": shared.pk}).status_code == 404
    )
    assert state() == before


def test_the_queue_applies_a_macro_in_bulk(agent_client, make_ticket, team, personal):
    tickets = [make_ticket(f"Ticket {index}", team=team) for index in range(2)]
    response = agent_client.post(
        reverse("tickets:ticket-bulk"),
        {"ids": [t.pk for t in tickets], "action": "macro", "macro": personal.pk},
    )
    assert response.status_code == 302
    assert Comment.objects.filter(body="Please send the logs.").count() == 2


def test_the_queue_refuses_a_macro_the_agent_may_not_use(
    client, other_agent, make_ticket, personal, other_team
):
    ticket = make_ticket("Theirs", team=other_team)
    client.force_login(other_agent)
    before = state()
    response = client.post(
        reverse("tickets:ticket-bulk"), {"ids": [ticket.pk], "action": "macro", "macro": personal.pk}
    )
    assert response.status_code == 400
    assert state() == before


def test_admin_refuses_a_broken_template(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:tickets_macro_add"),
        {
            "name": "Broken",
            "body": "{% load static %}",
            "visibility": "shared",
            "usage_count": 0,
            "add_tags": "",
        },
    )
    assert response.status_code == 200 and not Macro.objects.exists()

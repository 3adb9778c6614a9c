"""Catalog items that require approval: the request waits in pending_approval (SLA clocks
paused) until its approvers decide through the core's approvals (page, API, mailed link)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from conftest import make_user
from itsm.approvals import links
from itsm.approvals.models import ApprovalDecision, ApprovalRequest, ApprovalStatus
from itsm.models import Notification, Role, User
from sla.defaults import ensure_defaults
from sla.models import Metric, SLAPause, TicketSLA
from tickets.actions import do_transition_ticket
from tickets.actions.catalog import do_request_catalog_item
from tickets.models import (
    CATALOG_APPROVAL_KIND,
    ApproverSource,
    CatalogItem,
    IllegalTransition,
    Ticket,
    TicketStatus,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def lead(db, team) -> User:
    user = make_user("lena.lead@example.com", Role.AGENT, full_name="Lena Lead")
    team.members.add(user)
    team.lead = user
    team.save(update_fields=["lead"])
    return user


@pytest.fixture
def laptop(db, team) -> CatalogItem:
    return CatalogItem.objects.create(
        name="New laptop",
        slug="new-laptop",
        default_team=team,
        requires_approval=True,
        approver_source=ApproverSource.TEAM_LEAD,
        fields=[
            {"name": "model", "label": "Model", "type": "choice", "required": True, "choices": ["S", "L"]}
        ],
    )


@pytest.fixture
def mouse(db, team) -> CatalogItem:
    return CatalogItem.objects.create(name="Mouse", slug="mouse", default_team=team)


def request_item(item: CatalogItem, requester: User, **answers) -> Ticket:
    return do_request_catalog_item(
        item, actor=requester, description="Model: L", answers=answers or {"model": "L"}
    )


def approval_of(ticket: Ticket) -> ApprovalRequest:
    return ApprovalRequest.objects.for_target(ticket).get(kind=CATALOG_APPROVAL_KIND)


def portal_page(ticket: Ticket) -> str:
    return reverse("tickets:portal-ticket", args=[ticket.pk])


# --- the request waits ---------------------------------------------------------------------------
def test_a_request_from_an_item_needing_approval_waits_and_asks_the_team_lead(
    client, laptop, requester, lead, agent
):
    client.force_login(requester)
    response = client.post(reverse("tickets:portal-request", args=["new-laptop"]), {"field_model": "L"})
    ticket = Ticket.objects.get(requester=requester)
    assert response.status_code == 302 and response["Location"] == portal_page(ticket)
    assert ticket.status == TicketStatus.PENDING_APPROVAL and ticket.team == laptop.default_team
    approval = approval_of(ticket)
    assert approval.requested_by == requester and approval.is_pending
    assert [link.user for link in approval.approver_links.all()] == [lead]
    # The approver hears of it; the team does not until it is approved.
    assert Notification.objects.filter(recipient=lead, subject_type="approval").count() == 1
    assert not Notification.objects.filter(recipient=agent, verb="assigned_team").exists()
    html = client.get(portal_page(ticket)).content.decode()
    assert 'data-testid="request-approval"' in html and "waits for approval" in html
    assert "Pending approval" in html


def test_an_item_without_approval_opens_a_new_request_at_once(mouse, requester):
    ticket = request_item(mouse, requester, model="x")
    assert ticket.status == TicketStatus.NEW
    assert not ApprovalRequest.objects.for_target(ticket).exists()


def test_the_sla_clocks_do_not_run_while_the_request_waits(laptop, mouse, requester, lead):
    ensure_defaults()  # the default policies (a transactional test elsewhere may have flushed them)
    with time_machine.travel(T0, tick=False):
        waiting = request_item(laptop, requester)
        plain = request_item(mouse, requester, model="x")
    assert SLAPause.objects.get(ticket=waiting).reason == "pending_approval"
    assert waiting.sla_clocks.get(metric=Metric.RESOLUTION).state == "paused"
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        from itsm.approvals.actions import do_decide_approval

        do_decide_approval(approval_of(waiting), actor=lead, approve=True)
    waiting.refresh_from_db()
    assert waiting.status == TicketStatus.NEW
    for metric in Metric.values:
        held = TicketSLA.objects.get(ticket=waiting, metric=metric)
        running = TicketSLA.objects.get(ticket=plain, metric=metric)
        assert held.state == "on_track" and held.paused_seconds == 3 * 3600
        # The same policy, three hours of waiting later.
        assert held.due_at - running.due_at >= timedelta(hours=3) - timedelta(seconds=1)
        assert held.due_at > running.due_at


# --- deciding --------------------------------------------------------------------------------------
def test_approval_through_the_api_moves_it_to_new_and_tells_the_team(api_for, laptop, requester, lead, agent):
    ticket = request_item(laptop, requester)
    approval = approval_of(ticket)
    response = api_for(lead).post(f"/api/approvals/{approval.pk}/approve/", {"comment": "OK"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW
    # Routed as usual: the team hears of the new request now.
    assert Notification.objects.filter(
        recipient=agent, verb="assigned_team", subject_id=str(ticket.pk)
    ).exists()
    # Twice: a clear 409, nothing changed.
    again = api_for(lead).post(f"/api/approvals/{approval.pk}/approve/", {"comment": "OK"}, format="json")
    assert again.status_code == 409 and "already" in again.json()["detail"]
    assert ApprovalDecision.objects.filter(request=approval).count() == 1
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW and ticket.version == 2


def test_someone_not_asked_cannot_decide_and_nothing_changes(api_for, laptop, requester, lead, other_agent):
    ticket = request_item(laptop, requester)
    approval = approval_of(ticket)
    refused = api_for(other_agent).post(f"/api/approvals/{approval.pk}/approve/", {}, format="json")
    # Not an approver: the request is not even visible to them.
    assert refused.status_code == 404
    own = api_for(requester).post(f"/api/approvals/{approval.pk}/approve/", {}, format="json")
    assert own.status_code == 403 and own.json()["detail"]
    approval.refresh_from_db()
    ticket.refresh_from_db()
    assert approval.is_pending and approval.approval_count == 0
    assert ticket.status == TicketStatus.PENDING_APPROVAL and ticket.version == 1


def test_a_rejection_from_the_page_cancels_it_and_the_requester_reads_why(client, laptop, requester, lead):
    ticket = request_item(laptop, requester)
    approval = approval_of(ticket)
    client.force_login(lead)
    response = client.post(
        reverse("approvals:approval-reject", args=[approval.pk]), {"comment": "Laptops are frozen until May."}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CANCELLED
    client.force_login(requester)
    html = client.get(portal_page(ticket)).content.decode()
    assert 'data-testid="approval-rejected"' in html
    assert "Laptops are frozen until May." in html
    assert "Cancelled" in html


def test_a_rejection_without_a_comment_is_refused_and_changes_nothing(client, laptop, requester, lead):
    ticket = request_item(laptop, requester)
    approval = approval_of(ticket)
    client.force_login(lead)
    response = client.post(reverse("approvals:approval-reject", args=[approval.pk]), {"comment": " "})
    assert response.status_code == 400
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PENDING_APPROVAL


def test_the_mailed_link_opens_the_approval_and_the_decision_is_recorded_as_email(
    client, laptop, requester, lead
):
    ticket = request_item(laptop, requester)
    approval = approval_of(ticket)
    client.force_login(lead)
    page = client.get(links.link_path(approval, lead))
    assert page.status_code == 200 and ticket.number in page.content.decode()
    client.post(reverse("approvals:approval-approve", args=[approval.pk]), {"channel": "email"})
    assert ApprovalDecision.objects.get(request=approval).channel == "email"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW


def test_the_requester_withdrawing_the_approval_cancels_the_request(api_for, laptop, requester, lead):
    ticket = request_item(laptop, requester)
    approval = approval_of(ticket)
    response = api_for(requester).post(
        f"/api/approvals/{approval.pk}/cancel/", {"reason": "Not needed"}, format="json"
    )
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CANCELLED


def test_an_expired_approval_cancels_the_request(laptop, requester, lead):
    from itsm.approvals.actions import do_expire_approvals

    ticket = request_item(laptop, requester)
    assert do_expire_approvals(now=approval_of(ticket).expires_at + timedelta(seconds=1)) == 1
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CANCELLED


# --- the desk cannot skip the approval ---------------------------------------------------------------
def test_an_agent_cannot_move_a_waiting_request_on_but_may_cancel_it(api_for, laptop, requester, lead, agent):
    ticket = request_item(laptop, requester)
    refused = api_for(agent).post(f"/api/tickets/{ticket.pk}/transition/", {"to": "new"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["allowed"] == ["cancelled"] and "waits for its approval" in refused.json()["detail"]
    with pytest.raises(IllegalTransition):
        do_transition_ticket(ticket, TicketStatus.NEW, actor=None)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PENDING_APPROVAL
    done = api_for(agent).post(f"/api/tickets/{ticket.pk}/transition/", {"to": "cancelled"}, format="json")
    assert done.status_code == 200
    approval = approval_of(ticket)
    assert approval.status == ApprovalStatus.CANCELLED and "cancelled by bob.agent" in approval.closed_reason
    # The approver's page no longer offers a decision.
    assert not ApprovalRequest.objects.awaiting_decision_by(lead).exists()


# --- who approves -----------------------------------------------------------------------------------
def test_approvers_by_role_and_by_name_never_include_the_requester(
    laptop, requester, admin_user, agent, lead
):
    laptop.approver_source = ApproverSource.ROLE
    laptop.approver_role = Role.ADMIN
    laptop.save()
    by_role = approval_of(request_item(laptop, requester))
    assert [link.user for link in by_role.approver_links.all()] == [admin_user]
    laptop.approver_source = ApproverSource.USERS
    laptop.approvals_needed = 5  # capped at the two named people
    laptop.save()
    laptop.approver_users.set([agent, lead])
    by_name = approval_of(request_item(laptop, requester))
    assert {link.user for link in by_name.approver_links.all()} == {agent, lead}
    assert by_name.quorum == 2
    # The lead asking for themselves is left out; with no one else named, admins decide.
    laptop.approver_users.set([lead])
    own = approval_of(request_item(laptop, lead))
    assert [link.user for link in own.approver_links.all()] == [admin_user]


def test_no_one_to_approve_refuses_the_request_and_creates_nothing(client, laptop, requester):
    client.force_login(requester)  # the team has no lead and there is no admin
    response = client.post(reverse("tickets:portal-request", args=["new-laptop"]), {"field_model": "L"})
    assert response.status_code == 400 and "No one can approve" in response.content.decode()
    assert not Ticket.objects.exists() and not ApprovalRequest.objects.exists()


def test_the_item_checks_its_approver_settings(laptop):
    from django.core.exceptions import ValidationError

    laptop.default_team = None
    with pytest.raises(ValidationError) as error:
        laptop.full_clean()
    assert "default_team" in error.value.message_dict
    laptop.approver_source = ApproverSource.ROLE
    with pytest.raises(ValidationError) as error:
        laptop.full_clean()
    assert "approver_role" in error.value.message_dict


# --- the API ------------------------------------------------------------------------------------------
def test_the_api_lists_the_catalog_and_requests_an_item(api_for, laptop, mouse, requester, lead):
    client = api_for(requester)
    listed = client.get("/api/catalog/").json()["results"]
    assert [(item["slug"], item["requires_approval"]) for item in listed] == [
        ("mouse", False),
        ("new-laptop", True),
    ]
    response = client.post("/api/catalog/new-laptop/request/", {"answers": {"model": "S"}}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    ticket = Ticket.objects.get(pk=body["ticket"]["id"])
    assert body["ticket"]["status"] == "pending_approval" and ticket.channel == "api"
    assert body["approval"] == {"id": approval_of(ticket).pk, "status": "pending"}
    assert ticket.metadata["answers"] == {"model": "S"}
    plain = client.post("/api/catalog/mouse/request/", {}, format="json")
    assert plain.status_code == 201 and plain.json()["approval"] is None
    assert plain.json()["ticket"]["status"] == "new"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"answers": {}}, "model"),
        ({"answers": {"model": "XL"}}, "model"),
        ({"answers": {"model": "S", "colour": "red"}}, "answers"),
        ({"answers": "S"}, "answers"),
    ],
)
def test_bad_answers_are_refused_and_nothing_is_created(api_for, laptop, requester, lead, payload, field):
    response = api_for(requester).post("/api/catalog/new-laptop/request/", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Ticket.objects.exists() and not ApprovalRequest.objects.exists()


def test_viewers_cannot_request_and_unknown_items_are_404(api_for, laptop, viewer, requester):
    assert api_for(viewer).post("/api/catalog/new-laptop/request/", {}, format="json").status_code == 403
    assert api_for(requester).post("/api/catalog/nothing/request/", {}, format="json").status_code == 404
    assert not Ticket.objects.exists()


def test_the_portal_speaks_french_about_the_approval(client, laptop, requester, lead):
    client.force_login(requester)
    form = client.get(reverse("tickets:portal-request", args=["new-laptop"]), HTTP_ACCEPT_LANGUAGE="fr")
    assert "Cette demande nécessite une approbation" in form.content.decode()
    ticket = request_item(laptop, requester)
    html = client.get(portal_page(ticket), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "En attente d’approbation" in html and "Cette demande attend son approbation." in html


def test_the_ticket_page_offers_only_cancel_and_shows_the_approval(
    client, api_for, laptop, requester, lead, agent
):
    ticket = request_item(laptop, requester)
    assert api_for(agent).get(f"/api/tickets/{ticket.pk}/").json()["allowed_transitions"] == ["cancelled"]
    detail = reverse("tickets:ticket-detail", args=[ticket.pk])
    client.force_login(agent)  # not an approver: who was asked
    html = client.get(detail).content.decode()
    assert 'data-testid="request-approval"' in html and "Lena Lead" in html
    sidebar = html.split('id="ticket-sidebar"', 1)[1]
    assert 'value="cancelled"' in sidebar and 'value="new"' not in sidebar
    client.force_login(lead)  # the approver decides right there
    html = client.get(detail).content.decode()
    assert f'data-testid="approve-{approval_of(ticket).pk}"' in html


def test_routing_while_it_waits_tells_the_assignee_only_once_approved(laptop, requester, lead, agent):
    from itsm.approvals.actions import do_decide_approval
    from tickets.actions import do_assign_ticket

    ticket = request_item(laptop, requester)
    do_assign_ticket(ticket, actor=None, actor_label="system:ai", assignee=agent)  # auto-triage, say
    assert not Notification.objects.filter(recipient=agent, verb="assigned").exists()
    do_decide_approval(approval_of(ticket), actor=lead, approve=True)
    assert (
        Notification.objects.filter(recipient=agent, verb="assigned", subject_id=str(ticket.pk)).count() == 1
    )

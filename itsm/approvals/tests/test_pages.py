"""The approval pages: my list, one approval, deciding with and without HTMX, the mailed link."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from itsm.approvals import links
from itsm.approvals.actions import do_decide_approval
from itsm.approvals.models import ApprovalDecision, ApprovalStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
LIST = reverse("approvals:approval-list")


def page(client, user, url, **extra):
    client.force_login(user)
    return client.get(url, **extra)


# --- the list -----------------------------------------------------------------------------------
def test_the_list_shows_what_waits_for_me_and_what_i_asked(client, ask, agent, lead, other_agent, ticket):
    waiting = ask([lead], summary="Reboot web01")
    mine = ask([other_agent], requested_by=lead, summary="Patch db02", kind="other")
    content = page(client, lead, LIST).content.decode()
    waiting_section, asked_section = content.split("Asked by me")
    assert "Reboot web01" in waiting_section and f'data-testid="approve-{waiting.pk}"' in waiting_section
    assert ticket.number in waiting_section  # the target's label from the registry, linked
    assert reverse("tickets:ticket-detail", args=[ticket.pk]) in waiting_section
    assert "Patch db02" in asked_section and f'data-testid="cancel-{mine.pk}"' in asked_section
    assert f'data-testid="approve-{mine.pk}"' not in content  # one's own: no buttons


def test_the_list_reads_a_fixed_number_of_queries(
    client, ask, lead, other_agent, admin_user, make_ticket, django_assert_num_queries
):
    def add(n: int) -> None:
        waiting = ask([lead, other_agent], target=make_ticket(f"Ticket {n}"), quorum=2)
        do_decide_approval(waiting, actor=other_agent, approve=True)
        ask([admin_user], target=make_ticket(f"Mine {n}"), requested_by=lead)

    add(0)
    client.force_login(lead)
    client.get(LIST)
    # session, user, bell; per section: requests, their targets (one query per type), decisions
    # (and their approvers when there are some), approver links and their users.
    with django_assert_num_queries(14):
        client.get(LIST)
    for n in range(1, 7):
        add(n)
    with django_assert_num_queries(14):
        response = client.get(LIST)
    assert response.content.count(b'data-testid="approve-') == 7


def test_the_asked_section_filters_by_status_with_htmx(client, ask, lead, other_agent):
    approved = ask([other_agent], requested_by=lead, summary="Approved one")
    do_decide_approval(approved, actor=other_agent, approve=True)
    ask([other_agent], requested_by=lead, summary="Pending one", kind="second")
    response = page(client, lead, LIST + "?status=approved", **HTMX)
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="approvals-asked">') and "<html" not in content
    assert "Approved one" in content and "Pending one" not in content


def test_strangers_and_requesters_see_only_their_own(
    client, ask, lead, other_agent, requester, viewer, admin_user
):
    approval = ask([lead])
    detail = reverse("approvals:approval-detail", args=[approval.pk])
    assert page(client, other_agent, detail).status_code == 404
    assert page(client, requester, detail).status_code == 404
    assert page(client, viewer, detail).status_code == 404
    assert page(client, lead, detail).status_code == 200
    assert page(client, admin_user, detail).status_code == 200  # admins see every approval
    assert "Restart payroll" not in page(client, other_agent, LIST).content.decode()


def test_a_requester_follows_the_approval_they_asked_for(client, ask, requester, lead):
    approval = ask([lead], requested_by=requester, summary="New laptop for Dave")
    content = page(
        client, requester, reverse("approvals:approval-detail", args=[approval.pk])
    ).content.decode()
    assert "New laptop for Dave" in content and "Pending" in content and "Lena Lead" in content


def test_a_viewer_asked_to_decide_may_decide(client, ask, viewer):
    approval = ask([viewer])
    client.force_login(viewer)
    client.post(reverse("approvals:approval-approve", args=[approval.pk]))
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.APPROVED


def test_the_pages_speak_french(client, ask, lead):
    lead.language = "fr"
    lead.save()
    ask([lead])
    client.force_login(lead)
    client.cookies["django_language"] = "fr"
    content = client.get(LIST, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "En attente de ma décision" in content and "Approuver" in content


# --- deciding -----------------------------------------------------------------------------------
def test_approving_with_htmx_swaps_the_card_and_tells_the_page(client, ask, lead):
    approval = ask([lead])
    client.force_login(lead)
    response = client.post(
        reverse("approvals:approval-approve", args=[approval.pk]), {"comment": "Go ahead"}, **HTMX
    )
    assert response.status_code == 200
    assert (
        response.headers["HX-Trigger"] == '{"approvalDecided": {}}'
        or "approvalDecided" in response.headers["HX-Trigger"]
    )
    content = response.content.decode()
    assert content.lstrip().startswith(f'<article class="panel approval" id="approval-{approval.pk}"')
    assert "Approved" in content and "Go ahead" in content
    decision = ApprovalDecision.objects.get()
    assert (decision.approver, decision.verdict, decision.channel) == (lead, "approve", "web")


def test_rejecting_without_javascript_redirects_back(client, ask, lead):
    approval = ask([lead])
    client.force_login(lead)
    response = client.post(
        reverse("approvals:approval-reject", args=[approval.pk]), {"comment": "Not now", "next": LIST}
    )
    assert response.status_code == 302 and response.url == LIST
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.REJECTED


def test_a_rejection_without_comment_shows_the_error_beside_the_form(client, ask, lead):
    approval = ask([lead])
    client.force_login(lead)
    url = reverse("approvals:approval-reject", args=[approval.pk])
    plain = client.post(url, {"comment": ""})
    assert plain.status_code == 400
    assert "A rejection needs a comment saying why." in plain.content.decode()
    swapped = client.post(url, {"comment": ""}, **HTMX)
    assert swapped.status_code == 200 and "HX-Trigger" not in swapped.headers
    assert "A rejection needs a comment saying why." in swapped.content.decode()
    assert not ApprovalDecision.objects.exists()


def test_deciding_twice_or_a_closed_request_says_why(client, ask, lead, other_agent):
    approval = ask([lead, other_agent], quorum=2)
    client.force_login(lead)
    url = reverse("approvals:approval-approve", args=[approval.pk])
    client.post(url)
    twice = client.post(url)
    assert twice.status_code == 409 and "You already decided" in twice.content.decode()
    do_decide_approval(approval, actor=other_agent, approve=True)
    client.force_login(other_agent)
    closed = client.post(url)
    assert closed.status_code == 409 and "already approved" in closed.content.decode()


def test_the_decision_views_only_accept_post(client, ask, lead):
    approval = ask([lead])
    client.force_login(lead)
    assert client.get(reverse("approvals:approval-approve", args=[approval.pk])).status_code == 405


def test_the_requester_withdraws_from_the_page(client, ask, agent, lead):
    approval = ask([lead])
    client.force_login(agent)
    response = client.post(reverse("approvals:approval-cancel", args=[approval.pk]), **HTMX)
    assert response.status_code == 200 and "Cancelled" in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.CANCELLED


# --- the mailed link -----------------------------------------------------------------------------
def test_the_link_opens_the_approval_and_still_asks_to_confirm(client, ask, lead):
    approval = ask([lead])
    response = page(client, lead, links.link_path(approval, lead))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Confirm your decision below." in content
    assert 'name="channel" value="email"' in content
    assert ApprovalDecision.objects.count() == 0  # opening the link decides nothing
    client.post(reverse("approvals:approval-approve", args=[approval.pk]), {"channel": "email"})
    assert ApprovalDecision.objects.get().channel == "email"


def test_the_link_of_another_approver_is_refused_clearly(client, ask, lead, other_agent):
    approval = ask([lead, other_agent])
    response = page(client, other_agent, links.link_path(approval, lead))
    assert response.status_code == 403
    assert "This approval link was sent to someone else." in response.content.decode()


def test_an_expired_link_is_refused_clearly(client, ask, lead, settings):
    settings.APPROVAL_LINK_MAX_AGE_HOURS = 1
    approval = ask([lead])
    path = links.link_path(approval, lead)
    client.force_login(lead)
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2)):
        response = client.get(path)
    assert response.status_code == 410
    assert "This approval link has expired." in response.content.decode()


def test_a_tampered_link_is_refused(client, ask, lead):
    approval = ask([lead])
    path = links.link_path(approval, lead)
    response = page(client, lead, path[:-3] + "xyz/")
    assert response.status_code == 400 and "not valid" in response.content.decode()


def test_the_link_needs_a_signed_in_approver(client, ask, lead):
    approval = ask([lead])
    path = links.link_path(approval, lead)
    response = client.get(path)
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))

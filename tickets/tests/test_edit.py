"""One edit of a ticket (``do_edit_ticket``): one lock, one version, one audit row, one event."""

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from itsm.approvals.models import ApprovalRequest, ApprovalStatus
from itsm.models import AutomationEvent
from sla import actions as sla_actions
from sla.defaults import ensure_defaults
from sla.models import TicketSLA
from tickets import actions, signals
from tickets.models import Category, IllegalTransition, StaleTicket, Ticket, TicketAudit, TicketStatus
from tickets.models.catalog import CATALOG_APPROVAL_KIND
from tickets.validation import DESCRIPTION_MAX_LENGTH

pytestmark = pytest.mark.django_db

SIGNALS = ("ticket_updated", "ticket_status_changed", "ticket_priority_changed", "ticket_assigned")


@pytest.fixture(autouse=True)
def _sla_policies(db):
    """The default SLA policies (a transactional test elsewhere may have flushed them)."""
    ensure_defaults()


@pytest.fixture
def heard():
    """The ticket signals sent while the test runs, as ``(name, kwargs)`` (real signals)."""
    received: list[tuple[str, dict]] = []

    def listener(name):
        return lambda **kwargs: received.append((name, kwargs))

    for name in SIGNALS:
        getattr(signals, name).connect(listener(name), weak=False, dispatch_uid=f"test-edit-{name}")
    yield received
    for name in SIGNALS:
        getattr(signals, name).disconnect(dispatch_uid=f"test-edit-{name}")


@pytest.fixture
def retargets(monkeypatch):
    """Every time the SLA receivers re-target a ticket's clocks (the real function still runs)."""
    calls: list[str] = []
    real = sla_actions.do_retarget_clocks

    def counting(ticket, *, reason, **kwargs):
        calls.append(reason)
        return real(ticket, reason=reason, **kwargs)

    monkeypatch.setattr(sla_actions, "do_retarget_clocks", counting)
    return calls


def names(heard):
    return [name for name, _kwargs in heard]


def audit_rows(ticket):
    return TicketAudit.objects.filter(pgh_obj=ticket).count()


def test_one_patch_of_priority_and_assignee_is_one_version_one_audit_row_one_event(
    api_for, make_ticket, agent, team, heard, retargets
):
    ticket = make_ticket()  # medium: response due in 2 hours
    rows = audit_rows(ticket)
    heard.clear()
    response = api_for(agent).patch(
        f"/api/tickets/{ticket.pk}/",
        {"priority": "critical", "priority_reason": "Whole floor", "assignee": agent.email, "version": 1},
        format="json",
    )
    assert response.status_code == 200, response.json()
    ticket.refresh_from_db()
    assert (ticket.version, ticket.priority, ticket.assignee, ticket.team) == (2, "critical", agent, team)
    assert audit_rows(ticket) == rows + 1
    change = TicketAudit.objects.filter(pgh_obj=ticket).latest("pgh_id")
    assert (change.priority, change.assignee_id, change.pgh_context["reason"]) == (
        "critical",
        agent.pk,
        "Whole floor",
    )
    assert sorted(names(heard)) == ["ticket_assigned", "ticket_priority_changed", "ticket_updated"]
    (updated,) = [kwargs for name, kwargs in heard if name == "ticket_updated"]
    assert updated["changed"] == ["priority", "assignee", "team"]
    # The SLA clocks follow once, to the critical targets (15 minutes to respond).
    assert len(retargets) == 1
    response_clock = TicketSLA.objects.get(ticket=ticket, metric="response")
    assert response_clock.due_at == ticket.created_at + timedelta(minutes=15)
    assert AutomationEvent.objects.filter(action="sla.retargeted", subject_id=str(ticket.pk)).count() == 2


def test_a_patch_of_category_type_and_priority_retargets_the_clocks_once(
    api_for, make_ticket, agent, retargets
):
    ticket = make_ticket()
    Category.objects.create(name="Network")
    response = api_for(agent).patch(
        f"/api/tickets/{ticket.pk}/",
        {"category": "Network", "type": "service_request", "priority": "high", "priority_reason": "VIP"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert len(retargets) == 1
    assert TicketSLA.objects.get(ticket=ticket, metric="resolution").due_at == ticket.created_at + timedelta(
        hours=4
    )


def test_an_edit_applies_fields_priority_people_and_status_at_once(make_ticket, agent, team, heard):
    ticket = make_ticket()
    heard.clear()
    changed = actions.do_edit_ticket(
        ticket,
        {
            "title": "Payroll export fails",
            "tags": ["Payroll", "payroll"],
            "impact": "high",
            "urgency": "high",
            "assignee": agent,
            "status": TicketStatus.RESOLVED,
            "resolution": "Re-ran the export.",
        },
        actor=agent,
        reason="triaged",
        expected_version=1,
    )
    assert changed == ["title", "tags", "impact", "urgency", "priority", "assignee", "team", "status"]
    # The caller's instance shows what was written.
    assert (ticket.version, ticket.status, ticket.priority, ticket.tags) == (
        2,
        "resolved",
        "critical",
        ["payroll"],
    )
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.resolution, fresh.resolved_at is not None, fresh.team) == ("Re-ran the export.", True, team)
    assert names(heard) == [
        "ticket_status_changed",
        "ticket_priority_changed",
        "ticket_assigned",
        "ticket_updated",
    ]
    status_kwargs = heard[0][1]
    assert (status_kwargs["previous"], status_kwargs["status"]) == ("new", "resolved")
    assert heard[1][1]["previous"] == "medium"
    assert (heard[2][1]["previous_assignee"], heard[2][1]["previous_team"]) == (None, None)
    (row,) = TicketAudit.objects.filter(pgh_obj=ticket, pgh_label="changed")
    assert (row.pgh_context["actor"], row.pgh_context["reason"]) == (agent.email, "triaged")


def test_unassigning_is_said_with_a_none(make_ticket, agent, team):
    ticket = make_ticket(assignee=agent, team=team)
    assert actions.do_edit_ticket(ticket, {"assignee": None}, actor=agent) == ["assignee"]
    assert (ticket.assignee, ticket.team) == (None, team)
    assert actions.do_edit_ticket(ticket, {"team": None}, actor=agent) == ["team"]
    assert Ticket.objects.get(pk=ticket.pk).team is None


def test_an_edit_that_changes_nothing_writes_nothing(make_ticket, agent, heard):
    ticket = make_ticket(title="Printer")
    heard.clear()
    assert actions.do_edit_ticket(ticket, {"title": "Printer", "assignee": None}, actor=agent) == []
    assert (Ticket.objects.get(pk=ticket.pk).version, heard) == (1, [])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "New", "assignee": "requester"}, "assignee"),
        ({"title": "New", "priority": "high"}, "priority_reason"),
        ({"title": "New", "priority": "urgent", "priority_reason": "x"}, "priority"),
        ({"title": "New", "priority_reason": "x"}, "priority_reason"),
        ({"title": " "}, "title"),
        ({"title": "New", "impact": "huge"}, "impact"),
        ({"title": "New", "resolution": "Fixed"}, "resolution"),
        ({"title": "New", "number": "INC-1"}, "number"),
    ],
)
def test_a_refused_edit_changes_nothing(make_ticket, agent, requester, heard, changes, field):
    ticket = make_ticket()
    heard.clear()
    if changes.get("assignee") == "requester":
        changes = {**changes, "assignee": requester}
    with pytest.raises(ValidationError) as refused:
        actions.do_edit_ticket(ticket, changes, actor=agent)
    assert field in refused.value.message_dict
    assert (Ticket.objects.get(pk=ticket.pk).title, heard) == ("Printer on floor 3 is jammed", [])


def test_an_illegal_move_refuses_the_whole_edit(make_ticket, agent):
    ticket = make_ticket()
    with pytest.raises(Exception, match="Cannot move a new ticket to closed"):
        actions.do_edit_ticket(ticket, {"title": "New", "status": TicketStatus.CLOSED}, actor=agent)
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.title, fresh.status, fresh.version) == ("Printer on floor 3 is jammed", "new", 1)


def test_a_stale_version_is_refused_even_when_the_values_match(make_ticket, agent, other_agent):
    ticket = make_ticket()
    actions.do_edit_ticket(ticket, {"title": "Theirs"}, actor=other_agent)
    with pytest.raises(StaleTicket):
        actions.do_edit_ticket(
            ticket, {"title": "Theirs", "urgency": "high"}, actor=agent, expected_version=1
        )
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.urgency, fresh.version) == ("medium", 2)


def test_requesters_and_other_teams_edit_nothing(make_ticket, requester, other_agent, team):
    ticket = make_ticket(sensitive=True, team=team)
    for actor in (requester, other_agent):
        with pytest.raises(PermissionDenied):
            actions.do_edit_ticket(ticket, {"title": "Mine"}, actor=actor)
    assert Ticket.objects.get(pk=ticket.pk).version == 1


def test_an_agent_given_a_ticket_without_a_team_brings_their_first_team(make_ticket, agent, team, other_team):
    other_team.members.add(agent)  # "Network" comes before "Service Desk"
    loose = make_ticket()
    actions.do_edit_ticket(loose, {"assignee": agent}, actor=agent)
    assert Ticket.objects.get(pk=loose.pk).team == other_team
    placed = make_ticket(team=team)
    actions.do_edit_ticket(placed, {"assignee": agent}, actor=agent)
    assert Ticket.objects.get(pk=placed.pk).team == team  # a ticket's team stays
    chosen = make_ticket()
    actions.do_edit_ticket(chosen, {"assignee": agent, "team": team}, actor=agent)
    assert Ticket.objects.get(pk=chosen.pk).team == team
    unassigned = make_ticket()
    actions.do_edit_ticket(unassigned, {"assignee": None, "title": "Moved"}, actor=agent)
    assert Ticket.objects.get(pk=unassigned.pk).team is None


def test_the_reason_of_an_edit_says_what_derived_the_priority(make_ticket, agent):
    ticket = make_ticket()
    actions.do_edit_ticket(ticket, {"impact": "high", "urgency": "high"}, actor=agent)
    assert ticket.audit_trail()[-1].reason == "impact high × urgency high"
    actions.do_edit_ticket(
        ticket, {"priority": "low", "priority_reason": "Test lab", "title": "Lab"}, actor=agent
    )
    assert ticket.audit_trail()[-1].reason == "Test lab"
    actions.do_edit_ticket(ticket, {"title": "Lab printer"}, actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).impact == "high"  # an edit without impact keeps it
    other = make_ticket(impact="high", urgency="medium")
    actions.do_edit_ticket(other, {"urgency": "low"}, actor=agent, reason="Asked by the customer")
    assert (other.impact, other.priority, other.audit_trail()[-1].reason) == (
        "high",
        "medium",
        "Asked by the customer",
    )
    actions.do_edit_ticket(other, {"impact": "medium"}, actor=agent)
    assert (other.urgency, other.priority) == ("low", "low")
    actions.do_edit_ticket(other, {"status": "open"}, actor=agent)
    assert other.audit_trail()[-1].reason == ""  # nothing derived: no reason


def test_tags_are_lower_case_without_blanks_or_repeats(make_ticket, agent):
    assert actions.normalise_tags(" VPN, wifi,,vpn ") == ["vpn", "wifi"]
    assert actions.normalise_tags(["A", "a", " "]) == ["a"]
    ticket = make_ticket(tags="Printer,printer")
    assert ticket.tags == ["printer"]
    with pytest.raises(ValidationError) as refused:
        actions.normalise_tags(["x" * 51])
    assert "tags" in refused.value.message_dict


def test_the_field_edit_names_the_fields_it_refuses(make_ticket, agent):
    ticket = make_ticket()
    with pytest.raises(ValidationError) as refused:
        actions.do_update_ticket(ticket, actor=agent, fields={"status": "open", "title": "New"})
    assert list(refused.value.message_dict) == ["status"]
    assert actions.do_update_ticket(ticket, actor=agent, fields={"urgency": "high"}) == [
        "urgency",
        "priority",
    ]
    assert Ticket.objects.get(pk=ticket.pk).title == "Printer on floor 3 is jammed"


def test_a_category_brings_its_default_team_at_creation(agent, requester, team, other_team):
    category = Category.objects.create(name="Network", default_team=other_team)
    ticket = actions.do_create_ticket(actor=agent, requester=requester, title="x" * 300, category=category)
    assert (ticket.team, len(ticket.title)) == (other_team, 255)
    chosen = actions.do_create_ticket(
        actor=agent, requester=requester, title="VPN", category=category, team=team
    )
    assert chosen.team == team
    by_automation = actions.do_create_ticket(actor=None, requester=requester, title="From Jira")
    assert by_automation.created_by is None and by_automation.requester == requester


def test_assigning_keeps_the_team_unless_one_is_given(make_ticket, agent, team, other_team):
    ticket = make_ticket(team=team)
    actions.do_assign_ticket(ticket, actor=agent, assignee=agent)
    assert (Ticket.objects.get(pk=ticket.pk).assignee, Ticket.objects.get(pk=ticket.pk).team) == (agent, team)
    actions.do_assign_ticket(ticket, actor=agent, assignee=None, team=other_team)
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.assignee, fresh.team) == (None, other_team)


def test_a_request_waiting_for_approval_moves_on_only_once_approved(make_ticket, agent):
    ticket = make_ticket("New laptop", status=TicketStatus.PENDING_APPROVAL)
    with pytest.raises(IllegalTransition, match="waits for its approval"):
        actions.do_transition_ticket(ticket, TicketStatus.NEW, actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.PENDING_APPROVAL
    ApprovalRequest.objects.create(
        target_type=ContentType.objects.get_for_model(Ticket),
        target_id=ticket.pk,
        kind=CATALOG_APPROVAL_KIND,
        summary="New laptop",
        status=ApprovalStatus.APPROVED,
        expires_at=timezone.now() + timedelta(days=7),
    )
    actions.do_transition_ticket(ticket, TicketStatus.NEW, actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.NEW


def test_a_description_over_the_limit_is_refused_at_creation(agent, requester):
    with pytest.raises(ValidationError) as refused:
        actions.do_create_ticket(
            actor=agent, requester=requester, title="Long", description="x" * (DESCRIPTION_MAX_LENGTH + 1)
        )
    assert "description" in refused.value.message_dict
    assert not Ticket.objects.exists()
    # and in an edit
    ticket = actions.do_create_ticket(
        actor=agent, requester=requester, title="Short", description="Since 9:00"
    )
    with pytest.raises(ValidationError) as refused_edit:
        actions.do_edit_ticket(ticket, {"description": "x" * (DESCRIPTION_MAX_LENGTH + 1)}, actor=agent)
    assert "description" in refused_edit.value.message_dict
    assert Ticket.objects.values_list("description", "version").get() == ("Since 9:00", 1)


def test_creation_refuses_metadata_that_is_not_an_object_and_stores_no_file_of_a_refused_ticket(
    agent, requester, settings, tmp_path
):
    with pytest.raises(ValidationError) as refused:
        actions.do_create_ticket(actor=agent, requester=requester, title="VPN", metadata=["not", "an object"])
    assert "metadata" in refused.value.message_dict
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_ALLOWED_TYPES = ["text/plain"]
    good = SimpleUploadedFile("log.txt", b"error 42", content_type="text/plain")
    bad = SimpleUploadedFile("run.exe", b"MZ", content_type="application/x-msdownload")
    with pytest.raises(ValidationError, match="not accepted"):
        actions.do_create_ticket(actor=agent, requester=requester, title="VPN", attachments=[good, bad])
    assert not Ticket.objects.exists()
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


def test_tags_may_come_as_one_comma_separated_text(agent, requester):
    ticket = actions.do_create_ticket(actor=agent, requester=requester, title="VPN", tags="VPN, Mail,,vpn")
    assert ticket.tags == ["vpn", "mail"]


@pytest.mark.parametrize("action", ["create", "edit", "archive", "unarchive"])
def test_a_write_whose_listener_fails_is_not_kept(make_ticket, agent, requester, action):
    ticket = make_ticket("VPN")
    if action == "unarchive":
        actions.do_archive_ticket(ticket, actor=agent)
    before = list(Ticket.objects.values_list("pk", "archived", "title", "version"))
    signal = signals.ticket_created if action == "create" else signals.ticket_updated

    def fail(**kwargs):
        raise RuntimeError("listener down")

    signal.connect(fail, sender=Ticket, dispatch_uid="test-write-fails")
    try:
        with pytest.raises(RuntimeError):
            if action == "create":
                actions.do_create_ticket(actor=agent, requester=requester, title="Mail")
            elif action == "edit":
                actions.do_edit_ticket(ticket, {"title": "Mail"}, actor=agent)
            elif action == "archive":
                actions.do_archive_ticket(ticket, actor=agent)
            else:
                actions.do_unarchive_ticket(ticket, actor=agent)
    finally:
        signal.disconnect(sender=Ticket, dispatch_uid="test-write-fails")
    assert list(Ticket.objects.values_list("pk", "archived", "title", "version")) == before


def test_the_files_given_at_creation_are_stored_with_the_ticket(agent, requester, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("log.txt", b"error 42", content_type="text/plain")
    ticket = actions.do_create_ticket(actor=agent, requester=requester, title="VPN", attachments=[upload])
    attachment = ticket.attachments.get()
    assert (attachment.filename, attachment.uploaded_by, attachment.comment) == ("log.txt", agent, None)
    assert attachment.file.read() == b"error 42"


def test_ticket_assigned_is_sent_when_the_assignee_or_the_team_changes_only(
    make_ticket, agent, team, other_team, heard
):
    ticket = make_ticket(team=team)
    actions.do_edit_ticket(ticket, {"title": "VPN down"}, actor=agent)
    assert names(heard) == ["ticket_updated"]
    heard.clear()
    actions.do_edit_ticket(ticket, {"assignee": agent}, actor=agent)
    assert names(heard) == ["ticket_assigned", "ticket_updated"]
    assert (heard[0][1]["previous_assignee"], heard[0][1]["previous_team"]) == (None, team)
    heard.clear()
    actions.do_edit_ticket(ticket, {"team": other_team}, actor=agent)
    assert names(heard) == ["ticket_assigned", "ticket_updated"]
    assert (heard[0][1]["previous_assignee"], heard[0][1]["previous_team"]) == (agent, team)

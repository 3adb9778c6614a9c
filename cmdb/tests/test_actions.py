"""Items, relations, ticket links, suggestions and extraction through the actions."""

from __future__ import annotations

import datetime

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import ProgrammingError, transaction

from cmdb import actions, signals
from cmdb.models import (
    ConfigurationItem,
    ItemRelation,
    ItemSuggestion,
    LinkSource,
    SuggestionStatus,
    TicketItem,
)
from itsm.models import AutomationEvent

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


# --- items -----------------------------------------------------------------------------------
def test_an_item_is_created_normalised_with_its_history(agent, team):
    item = actions.do_create_item(
        actor=agent,
        name="  Web   01 ",
        type="server",
        owner_team=team.name,
        aliases=["frontend-1", "FRONTEND-1"],
        hostnames=["Web01.Prod.Acme.Example."],
        ip_addresses=["10.0.1.11", "2001:0db8::0010"],
        attributes={"os": "Debian 12", "cpu_cores": 4, "rack": "B12", "tags": ["web", "dmz"]},
        maintenance_windows="sun 02:00-04:00; sat 22:00-01:00",
    )
    item.refresh_from_db()
    assert item.name == "Web 01" and item.owner_team == team
    assert item.aliases == ["frontend-1"]
    assert item.hostnames == ["web01.prod.acme.example"]
    assert item.ip_addresses == ["10.0.1.11", "2001:db8::10"]
    assert item.typed_attributes().cpu_cores == 4
    assert [str(window) for window in item.windows()] == ["sun 02:00-04:00", "sat 22:00-01:00"]
    keys = set(item.keys.values_list("key", flat=True))
    assert {"web 01", "frontend-1", "frontend 1", "web01.prod.acme.example", "web01", "10.0.1.11"} <= keys
    [created] = item.events.all()
    assert created.pgh_label == "created" and created.pgh_context["actor"] == agent.email


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"ip_addresses": ["10.0.0.300"]}, "ip_addresses"),
        ({"hostnames": ["bad_host!.example"]}, "hostnames"),
        ({"attributes": {"port": 70000}}, "attributes"),
        ({"attributes": {"Bad Key": 1}}, "attributes"),
        ({"attributes": {"nested": {"a": 1}}}, "attributes"),
        ({"attributes": ["not", "an", "object"]}, "attributes"),
        ({"maintenance_windows": "someday 02:00-04:00"}, "maintenance_windows"),
        ({"maintenance_windows": [{"day": "sun", "start": "25:00", "end": "04:00"}]}, "maintenance_windows"),
        ({"environment": "qa"}, "environment"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"owner_team": "Nobody"}, "owner_team"),
        ({"name": "   "}, "name"),
    ],
)
def test_bad_fields_are_refused_and_nothing_is_written(agent, values, field):
    with pytest.raises(ValidationError) as refused:
        actions.do_create_item(actor=agent, **{"name": "web01", "type": "server", **values})
    assert field in refused.value.message_dict
    assert not ConfigurationItem.objects.exists()


def test_name_and_type_are_unique_whatever_the_case(make_item):
    make_item("web01")
    with pytest.raises(ValidationError) as refused:
        make_item("WEB01")
    assert "exists already" in refused.value.message_dict["name"][0]
    make_item("web01", "service")  # another type


def test_requesters_and_viewers_change_no_items(requester, viewer):
    for user in (requester, viewer):
        with pytest.raises(PermissionDenied):
            actions.do_create_item(actor=user, name="web01", type="server")


def test_an_update_changes_only_what_differs_and_records_who(make_item, agent):
    item = make_item("web01", hostnames=["web01.acme.example"])
    assert actions.do_update_item(item, actor=agent, fields={"hostnames": ["WEB01.acme.example"]}) == []
    changed = actions.do_update_item(item, actor=agent, fields={"status": "maintenance", "aliases": ["w1"]})
    assert set(changed) == {"status", "aliases"}
    item.refresh_from_db()
    assert item.keys.filter(key="w1").exists()
    actions.do_update_item(item, actor=agent, fields={"aliases": []})
    assert not item.keys.filter(key="w1").exists()  # the old key is gone with the alias
    last = item.events.order_by("-pgh_id").first()
    assert (
        last.pgh_label == "changed"
        and last.status == "maintenance"
        and last.pgh_context["actor"] == agent.email
    )


def test_an_item_with_tickets_is_retired_not_deleted(make_item, make_ticket, agent):
    item = make_item("web01")
    actions.do_link_ticket_item(make_ticket("web01 down"), item, actor=agent)
    with pytest.raises(actions.ItemInUse):
        actions.do_delete_item(item, actor=agent)
    spare = make_item("spare01")
    spare_pk = spare.pk
    actions.do_delete_item(spare, actor=agent)
    assert not ConfigurationItem.objects.filter(pk=spare_pk).exists()
    # The history outlives the item.
    assert (
        apps.get_model("cmdb", "ConfigurationItemEvent")
        .objects.filter(pgh_obj_id=spare_pk, pgh_label="deleted")
        .exists()
    )


# --- maintenance windows ------------------------------------------------------------------------
@pytest.fixture
def windowed(make_item):
    return make_item(
        "db-prod-01",
        timezone="Europe/Paris",
        maintenance_windows=[
            {"day": "sun", "start": "02:00", "end": "04:00"},
            {"day": "sat", "start": "23:00", "end": "01:00"},
        ],
    )


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """2025-06-<day> at hour:minute UTC (June 2025: the 14th is a Saturday; Paris is UTC+2)."""
    return datetime.datetime(2025, 6, day, hour, minute, tzinfo=UTC)


def test_work_inside_a_window_is_not_outside(windowed):
    assert not windowed.is_outside_maintenance_windows(at(15, 0, 30), at(15, 1, 30))  # Sun 02:30-03:30 Paris
    assert not windowed.is_outside_maintenance_windows(
        at(14, 21, 10), at(14, 22, 50)
    )  # Sat 23:10-00:50, past midnight


def test_work_overlapping_the_end_or_another_day_is_outside(windowed):
    assert windowed.is_outside_maintenance_windows(at(15, 1, 30), at(15, 2, 30))  # Sun 03:30-04:30 Paris
    assert windowed.is_outside_maintenance_windows(at(16, 0, 30), at(16, 1, 0))  # a Monday
    # Sun 00:30-02:30 Paris starts in Saturday's window and ends in Sunday's: no one window holds it.
    assert windowed.is_outside_maintenance_windows(at(14, 22, 30), at(15, 0, 30))


def test_an_item_without_windows_is_never_outside(make_item):
    item = make_item("web01")
    assert not item.is_outside_maintenance_windows(at(16, 9), at(16, 17))
    with pytest.raises(ValueError):
        item.is_outside_maintenance_windows(at(16, 17), at(16, 9))


# --- relations ----------------------------------------------------------------------------------
def test_relations_refuse_self_and_duplicates(make_item, agent):
    portal, db = make_item("Customer Portal", "application"), make_item("Payroll DB", "database")
    relation = actions.do_add_item_relation(portal, db, kind="depends_on", actor=agent)
    with pytest.raises(ValidationError):
        actions.do_add_item_relation(portal, db, kind="depends_on", actor=agent)
    assert actions.do_add_item_relation(portal, db, kind="depends_on", actor=agent, exist_ok=True) == relation
    with pytest.raises(ValidationError):
        actions.do_add_item_relation(portal, portal, kind="part_of", actor=agent)
    with pytest.raises(ValidationError):
        actions.do_add_item_relation(portal, db, kind="loves", actor=agent)
    relation_pk = relation.pk
    actions.do_remove_item_relation(relation, actor=agent)
    events = (
        apps.get_model("cmdb", "ItemRelationEvent").objects.filter(pgh_obj_id=relation_pk).order_by("pgh_id")
    )
    assert [event.pgh_label for event in events] == ["added", "removed"]


def test_the_database_refuses_a_self_relation_too(make_item):
    item = make_item("web01")
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 - the check constraint's IntegrityError
        ItemRelation.objects.create(source=item, target=item, kind="part_of")


# --- ticket links ---------------------------------------------------------------------------------
def test_linking_twice_changes_nothing_and_the_trail_keeps_who(make_item, make_ticket, agent):
    item, ticket = make_item("web01"), make_ticket("web01 down")
    heard = []
    signals.ticket_item_linked.connect(
        lambda sender, link, **kwargs: heard.append(link.pk), dispatch_uid="t-linked", weak=False
    )
    try:
        link, created = actions.do_link_ticket_item(ticket, item, actor=agent)
        again, created_again = actions.do_link_ticket_item(ticket, item, actor=agent)
    finally:
        signals.ticket_item_linked.disconnect(dispatch_uid="t-linked")
    assert created and not created_again and again == link and heard == [link.pk]
    actions.do_link_ticket_item(ticket, item, actor=agent, role="caused_by")
    assert actions.do_unlink_ticket_item(ticket, item, actor=agent, role="caused_by") == 1
    assert actions.do_unlink_ticket_item(ticket, item, actor=agent) == 1
    assert not TicketItem.objects.exists()
    events = apps.get_model("cmdb", "TicketItemEvent").objects.filter(pgh_obj_id=link.pk).order_by("pgh_id")
    labels = [(e.pgh_label, e.role, e.pgh_context["actor"]) for e in events]
    assert labels == [("linked", "affected", agent.email), ("unlinked", "affected", agent.email)]


def test_only_agents_who_see_the_ticket_link(make_item, make_ticket, other_agent, viewer, requester, team):
    item = make_item("web01")
    secret = make_ticket("secret", sensitive=True, team=team)
    with pytest.raises(PermissionDenied):
        actions.do_link_ticket_item(secret, item, actor=other_agent)  # another team's sensitive ticket
    for user in (viewer, requester):
        with pytest.raises(PermissionDenied):
            actions.do_link_ticket_item(make_ticket("open"), item, actor=user)


# --- extraction -------------------------------------------------------------------------------------
def test_extraction_suggests_items_and_unknown_hosts_once(
    estate, make_ticket, django_capture_on_commit_callbacks
):
    ticket = make_ticket(
        "Portal 502", description="nginx@web01 times out talking to 10.0.2.21; backup02.acme.example too"
    )
    outcome = actions.do_extract_ticket_items(ticket)
    assert (outcome.suggested, outcome.linked, outcome.unknown_hosts) == (3, 0, 1)
    suggestions = ItemSuggestion.objects.filter(ticket=ticket)
    assert {s.item.name for s in suggestions.of_items()} == {"nginx", "web01", "db-prod-01"}
    assert [s.hostname for s in suggestions.unknown_hosts()] == ["backup02.acme.example"]
    db = suggestions.get(item__name="db-prod-01")
    assert (db.match_kind, db.matched_text, db.field) == ("ip", "10.0.2.21", "description")
    again = actions.do_extract_ticket_items(ticket)
    assert (again.suggested, again.unknown_hosts, again.removed) == (0, 0, 0)
    assert suggestions.count() == 4
    assert not TicketItem.objects.exists()  # suggestions only, by default


def test_a_dismissed_suggestion_stays_dismissed_and_stale_ones_go(estate, make_ticket, agent):
    ticket = make_ticket("web01 and web02 slow")
    actions.do_extract_ticket_items(ticket)
    web02 = ItemSuggestion.objects.get(ticket=ticket, item__name="web02")
    actions.do_dismiss_suggestion(web02, actor=agent)
    ticket.title = "only web02 now"
    ticket.save(update_fields=["title"])
    outcome = actions.do_extract_ticket_items(ticket)
    assert outcome.removed == 1  # web01 is no longer mentioned
    assert [(s.item.name, s.status) for s in ItemSuggestion.objects.filter(ticket=ticket)] == [
        ("web02", SuggestionStatus.DISMISSED)
    ]


def test_accepting_links_as_affected_and_a_second_click_is_refused(estate, make_ticket, agent, other_agent):
    ticket = make_ticket("Payroll DB slow")
    actions.do_extract_ticket_items(ticket)
    suggestion = ItemSuggestion.objects.get(ticket=ticket)
    link = actions.do_accept_suggestion(suggestion, actor=agent)
    assert (link.item.name, link.role, link.source, link.linked_by) == (
        "Payroll DB",
        "affected",
        "suggestion",
        agent,
    )
    with pytest.raises(actions.SuggestionDecided):
        actions.do_accept_suggestion(suggestion, actor=other_agent)
    assert TicketItem.objects.count() == 1
    actions.do_extract_ticket_items(ticket)  # linked: not suggested again
    assert ItemSuggestion.objects.filter(ticket=ticket).count() == 1


def test_an_unknown_host_cannot_be_accepted(make_ticket, agent, db):
    ticket = make_ticket("backup02.acme.example is full")
    actions.do_extract_ticket_items(ticket)
    suggestion = ItemSuggestion.objects.get(ticket=ticket)
    with pytest.raises(ValidationError):
        actions.do_accept_suggestion(suggestion, actor=agent)


def test_with_the_setting_on_unambiguous_matches_are_linked(estate, make_ticket, make_item, auto_link):
    make_item("payroll", "application")  # shares a word with nothing; Payroll DB stays unambiguous
    make_item("Portal Web", "application", aliases=["frontend-1"])  # frontend-1 now names two items
    ticket = make_ticket("PAYDB locks and frontend-1 errors", description="seen from 10.0.9.9")
    outcome = actions.do_extract_ticket_items(ticket)
    assert outcome.linked == 1
    [link] = TicketItem.objects.filter(ticket=ticket)
    assert (link.item.name, link.source, link.linked_by) == ("Payroll DB", LinkSource.AUTOMATIC, None)
    pending = ItemSuggestion.objects.filter(ticket=ticket, status=SuggestionStatus.PENDING)
    assert {s.item.name for s in pending} == {"web01", "Portal Web"}  # ambiguous: suggested only
    assert link.events.get().pgh_context["actor"] == "system:cmdb"
    assert AutomationEvent.objects.get(action="cmdb.item_linked").subject_id == str(ticket.pk)


def test_the_service_field_and_metadata_ci_are_read(estate, make_ticket):
    ticket = make_ticket("Slow", service="SAP ERP", metadata={"ci": ["fw-edge-02"]})
    actions.do_extract_ticket_items(ticket)
    found = {(s.item.name, s.field) for s in ItemSuggestion.objects.filter(ticket=ticket)}
    assert found == {("SAP ERP", "service"), ("fw-edge-02", "metadata")}


def test_suggestions_are_append_safe_under_a_rolled_back_extraction(estate, make_ticket):
    ticket = make_ticket("web01 down")
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.do_extract_ticket_items(ticket)
        raise RuntimeError("the worker died")
    assert not ItemSuggestion.objects.exists()


def test_history_rows_cannot_be_rewritten(make_item):
    item = make_item("web01")
    with pytest.raises(ProgrammingError), transaction.atomic():
        item.events.update(name="forged")

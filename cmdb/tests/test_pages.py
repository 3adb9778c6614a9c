"""The configuration-item pages and the panel on the ticket page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cmdb import actions, extensions
from cmdb.models import ItemSuggestion, SuggestionStatus, TicketItem
from tickets import extensions as ticket_extensions

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
LIST = reverse("cmdb:item-list")


def login(client, user):
    client.force_login(user)
    return client


# --- the list ------------------------------------------------------------------------------------
def test_the_list_filters_and_answers_htmx_with_the_results(client, agent, make_item):
    make_item("web01", hostnames=["web01.acme.example"])
    make_item("Payroll DB", "database", aliases=["PAYDB"])
    login(client, agent)
    content = client.get(LIST).content.decode()
    assert "web01" in content and "Payroll DB" in content and "web01.acme.example" in content
    partial = client.get(LIST, {"type": "database"}, **HTMX).content.decode()
    assert partial.lstrip().startswith('<div id="cmdb-item-results">') and "<html" not in partial
    assert "Payroll DB" in partial and "web01" not in partial
    assert "Payroll DB" in client.get(LIST, {"q": "paydb"}).content.decode()
    bad = client.get(LIST, {"type": "toaster"}).content.decode()
    assert "Some filters were not understood" in bad


def test_the_list_reads_a_fixed_number_of_queries(client, agent, team, make_item, django_assert_num_queries):
    make_item("a0", owner_team=team)
    login(client, agent)
    client.get(LIST)
    # session, user, count, page (teams joined), the team filter's choices, the bell
    with django_assert_num_queries(6):
        client.get(LIST)
    for n in range(1, 60):
        make_item(f"a{n:02d}", owner_team=team)
    with django_assert_num_queries(6):
        response = client.get(LIST)
    assert response.content.count(b'<tr id="cmdb-item-') == 50


def test_requesters_do_not_see_the_configuration_database(client, requester, make_item):
    item = make_item("web01")
    login(client, requester)
    assert client.get(LIST).status_code == 404
    assert client.get(reverse("cmdb:item-detail", args=[item.pk])).status_code == 404


def test_the_list_needs_a_signed_in_user(client):
    response = client.get(LIST)
    assert response.status_code == 302 and reverse("account_login") in response.url


# --- one item -------------------------------------------------------------------------------------
def test_the_item_page_shows_attributes_relations_tickets_and_history(client, agent, make_item, make_ticket):
    nginx = make_item(
        "nginx",
        "service",
        attributes={"version": "1.24", "port": 443, "tags": ["edge", "tls"]},
        maintenance_windows="sun 02:00-04:00",
    )
    web01, portal = make_item("web01"), make_item("Portal", "application")
    actions.do_add_item_relation(nginx, web01, kind="runs_on", actor=agent)
    actions.do_add_item_relation(portal, nginx, kind="depends_on", actor=agent)
    ticket = make_ticket("nginx 502")
    actions.do_link_ticket_item(ticket, nginx, actor=agent)
    actions.do_update_item(nginx, actor=agent, fields={"status": "maintenance"})
    content = login(client, agent).get(reverse("cmdb:item-detail", args=[nginx.pk])).content.decode()
    assert "1.24" in content and "edge, tls" in content and "sun 02:00-04:00" in content
    assert (
        content.count('data-testid="relation-out"') == 1 and content.count('data-testid="relation-in"') == 1
    )
    assert "runs on" in content and "depends on" in content
    assert ticket.number in content
    assert "changed" in content and agent.email in content  # the history, with who


def test_the_item_page_reads_a_fixed_number_of_queries(
    client, agent, team, make_item, make_ticket, django_assert_num_queries
):
    item = make_item("nginx", "service", owner_team=team)

    def grow(n: int) -> None:
        actions.do_add_item_relation(item, make_item(f"host{n}"), kind="runs_on", actor=agent)
        actions.do_add_item_relation(
            make_item(f"app{n}", "application"), item, kind="depends_on", actor=agent
        )
        actions.do_link_ticket_item(make_ticket(f"ticket {n}"), item, actor=agent)

    grow(0)
    login(client, agent)
    url = reverse("cmdb:item-detail", args=[item.pk])
    client.get(url)
    # session, user (+ its teams for visibility), item, relations out, relations in, open
    # tickets, history, the bell
    with django_assert_num_queries(9):
        client.get(url)
    for n in range(1, 8):
        grow(n)
    with django_assert_num_queries(9):
        content = client.get(url).content.decode()
    assert content.count('data-testid="open-ticket"') == 8


def test_the_item_page_has_a_slot_other_apps_fill(client, viewer, make_item):
    item = make_item("web01")
    installed = extensions.item_panels.get("runbook-executions")  # the runbooks app's own
    extensions.register_item_panel(
        extensions.ItemPanel(
            name="runbook-executions", label="Recent runbook executions", url_name="cmdb:item-detail"
        )
    )
    extensions.register_item_panel(
        extensions.ItemPanel(name="missing", label="Missing", url_name="nowhere:nothing")
    )
    try:
        content = login(client, viewer).get(reverse("cmdb:item-detail", args=[item.pk])).content.decode()
    finally:
        extensions.unregister_item_panel("runbook-executions")
        extensions.unregister_item_panel("missing")
        if installed is not None:
            extensions.register_item_panel(installed)
    assert 'id="item-panel-runbook-executions"' in content
    assert f'hx-get="/cmdb/items/{item.pk}/"' in content
    assert "item-panel-missing" not in content  # its app is not installed: no broken link


def test_the_pages_speak_french(client, agent, make_item):
    make_item("web01")
    login(client, agent)
    content = client.get(LIST, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Éléments de configuration" in content and "Environnement" in content


# --- the ticket page's panel ----------------------------------------------------------------------
def test_the_panel_is_registered_on_the_ticket_page(client, agent, make_ticket):
    assert "cmdb" in ticket_extensions.detail_panels
    ticket = make_ticket("web01 down")
    content = login(client, agent).get(reverse("tickets:ticket-detail", args=[ticket.pk])).content.decode()
    assert f'hx-get="/cmdb/tickets/{ticket.pk}/panel/"' in content


def test_the_panel_shows_links_suggestions_and_unknown_hosts(client, agent, estate, make_ticket):
    ticket = make_ticket("web01 slow", description="backup02.acme.example is full; see Payroll DB")
    actions.do_extract_ticket_items(ticket)
    actions.do_accept_suggestion(ItemSuggestion.objects.get(item__name="Payroll DB"), actor=agent)
    content = (
        login(client, agent).get(reverse("cmdb:ticket-panel", args=[ticket.pk]), **HTMX).content.decode()
    )
    assert content.lstrip().startswith(f'<section class="panel" id="cmdb-panel-{ticket.pk}"')
    assert content.count('data-testid="cmdb-link"') == 1 and "Payroll DB" in content
    assert content.count('data-testid="cmdb-suggestion"') == 1 and "“web01” (name) in the title" in content
    assert content.count('data-testid="cmdb-unknown-host"') == 1 and "backup02.acme.example" in content


def test_accepting_with_htmx_swaps_the_panel(client, agent, estate, make_ticket):
    ticket = make_ticket("web01 slow")
    actions.do_extract_ticket_items(ticket)
    suggestion = ItemSuggestion.objects.get()
    response = login(client, agent).post(reverse("cmdb:suggestion-accept", args=[suggestion.pk]), **HTMX)
    assert response.status_code == 200 and "ticketItemsChanged" in response.headers["HX-Trigger"]
    assert 'data-testid="cmdb-link"' in response.content.decode()
    assert TicketItem.objects.get().item.name == "web01"
    again = client.post(reverse("cmdb:suggestion-accept", args=[suggestion.pk]), **HTMX)
    assert "This suggestion is already accepted." in again.content.decode()


def test_dismissing_without_javascript_returns_to_the_ticket(client, agent, estate, make_ticket):
    ticket = make_ticket("web01 slow")
    actions.do_extract_ticket_items(ticket)
    suggestion = ItemSuggestion.objects.get()
    response = login(client, agent).post(reverse("cmdb:suggestion-dismiss", args=[suggestion.pk]))
    assert response.status_code == 302 and response.url == f"/tickets/{ticket.pk}/#panel-cmdb"
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.DISMISSED


def test_linking_by_name_host_or_address(client, agent, estate, make_ticket):
    ticket = make_ticket("slow")
    login(client, agent)
    url = reverse("cmdb:ticket-link", args=[ticket.pk])
    for text in ("PAYDB", "10.0.1.11", "GRAFANA.acme.example"):
        assert client.post(url, {"item": text, "role": "affected"}, **HTMX).status_code == 200
    client.post(url, {"item": "web01", "role": "caused_by"})
    assert sorted((link.item.name, link.role) for link in TicketItem.objects.filter(ticket=ticket)) == [
        ("Grafana", "affected"),
        ("Payroll DB", "affected"),
        ("web01", "affected"),
        ("web01", "caused_by"),
    ]


def test_an_unknown_or_ambiguous_item_is_refused_beside_the_field(client, agent, make_item, make_ticket):
    make_item("payroll", "database")
    make_item("payroll", "application")
    ticket = make_ticket("slow")
    login(client, agent)
    url = reverse("cmdb:ticket-link", args=[ticket.pk])
    unknown = client.post(url, {"item": "ghost", "role": "affected"}, **HTMX).content.decode()
    assert 'class="errorlist"' in unknown and "No configuration item is called ghost." in unknown
    plain = client.post(url, {"item": "payroll", "role": "affected"})
    assert plain.status_code == 400 and "names several items" in plain.content.decode()
    assert not TicketItem.objects.exists()


def test_unlinking_from_the_panel(client, agent, make_item, make_ticket):
    item, ticket = make_item("web01"), make_ticket("slow")
    link, _ = actions.do_link_ticket_item(ticket, item, actor=agent)
    response = login(client, agent).post(reverse("cmdb:ticket-unlink", args=[ticket.pk, link.pk]), **HTMX)
    assert response.status_code == 200 and not TicketItem.objects.exists()


def test_viewers_read_the_panel_without_buttons_and_cannot_post(client, viewer, estate, make_ticket):
    ticket = make_ticket("web01 slow")
    actions.do_extract_ticket_items(ticket)
    login(client, viewer)
    content = client.get(reverse("cmdb:ticket-panel", args=[ticket.pk]), **HTMX).content.decode()
    assert "web01" in content and "cmdb-accept-" not in content and "cmdb-link-submit" not in content
    suggestion = ItemSuggestion.objects.get()
    assert client.post(reverse("cmdb:suggestion-accept", args=[suggestion.pk])).status_code == 403
    assert client.get(reverse("cmdb:suggestion-accept", args=[suggestion.pk])).status_code == 405


def test_another_teams_sensitive_ticket_is_not_found(client, other_agent, team, make_ticket):
    secret = make_ticket("secret", sensitive=True, team=team)
    assert login(client, other_agent).get(reverse("cmdb:ticket-panel", args=[secret.pk])).status_code == 404

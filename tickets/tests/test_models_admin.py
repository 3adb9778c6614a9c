"""The tickets admin: catalog forms are validated, the matrix is editable, history is read-only."""

import pytest
from django.apps import apps

from tickets import actions
from tickets.models import CatalogItem, PriorityRule, SensitiveAccess

pytestmark = pytest.mark.django_db

TicketAudit = apps.get_model("tickets", "TicketAudit")


@pytest.fixture
def admin_client_(client, admin_user):
    client.force_login(admin_user)
    return client


def catalog_form(fields_json):
    return {
        "name": "New laptop",
        "slug": "new-laptop",
        "description": "",
        "active": "on",
        "order": "1",
        "fields": fields_json,
        "default_impact": "low",
        "default_urgency": "medium",
        "approver_source": "team_lead",
        "approvals_needed": "1",
    }


def test_an_item_approved_by_named_people_needs_at_least_one(admin_client_, agent):
    form = {**catalog_form("[]"), "requires_approval": "on", "approver_source": "users"}
    response = admin_client_.post("/admin/tickets/catalogitem/add/", form)
    assert response.status_code == 200 and "Name at least one approver." in response.content.decode()
    assert not CatalogItem.objects.exists()
    response = admin_client_.post("/admin/tickets/catalogitem/add/", {**form, "approver_users": [agent.pk]})
    assert response.status_code == 302
    assert list(CatalogItem.objects.get().approver_users.all()) == [agent]


def test_it_saves_a_catalog_item_with_good_fields(admin_client_):
    fields = (
        '[{"name": "model", "label": "Model", "type": "choice", "choices": ["13", "15"], "required": true}]'
    )
    response = admin_client_.post("/admin/tickets/catalogitem/add/", catalog_form(fields))
    assert response.status_code == 302
    assert CatalogItem.objects.get().form_fields()[0].choices == ("13", "15")


def test_it_refuses_a_catalog_item_with_bad_fields_with_a_clear_error(admin_client_):
    fields = '[{"name": "model", "type": "choice"}, {"name": "Bad name", "type": "colour"}]'
    response = admin_client_.post("/admin/tickets/catalogitem/add/", catalog_form(fields))
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["fields"])
    assert "Field 1 (model): a choice field needs a non-empty list" in errors
    assert "Field 2: name must be lower-case" in errors
    assert "type 'colour' is not one of" in errors
    assert not CatalogItem.objects.exists()


def test_it_edits_the_priority_matrix(admin_client_, make_ticket):
    response = admin_client_.post(
        "/admin/tickets/priorityrule/add/", {"impact": "low", "urgency": "low", "priority": "high"}
    )
    assert response.status_code == 302
    assert PriorityRule.objects.get().priority == "high"
    assert make_ticket(impact="low", urgency="low").priority == "high"


def test_it_shows_tickets_read_only_and_never_deletes_them(admin_client_, make_ticket, agent):
    ticket = make_ticket()
    ticket.assign(to=agent, actor=agent)
    page = admin_client_.get(f"/admin/tickets/ticket/{ticket.pk}/change/")
    assert page.status_code == 200
    assert agent.email in page.content.decode()  # the audit trail table
    assert admin_client_.get(f"/admin/tickets/ticket/{ticket.pk}/delete/").status_code == 403
    listing = admin_client_.get("/admin/tickets/ticket/", {"q": ticket.number})
    assert ticket.title in listing.content.decode()


def test_it_archives_from_the_admin(admin_client_, make_ticket):
    ticket = make_ticket()
    response = admin_client_.post(
        "/admin/tickets/ticket/", {"action": "archive_selected", "_selected_action": [ticket.pk]}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.archived


def test_it_records_an_admin_view_of_a_sensitive_ticket(admin_client_, admin_user, make_ticket, team):
    ticket = make_ticket(sensitive=True, team=team)
    admin_client_.get(f"/admin/tickets/ticket/{ticket.pk}/change/")
    assert list(SensitiveAccess.objects.values_list("user_email", "channel")) == [(admin_user.email, "admin")]


def test_it_never_edits_the_audit_trail_in_the_admin(admin_client_, make_ticket):
    make_ticket()
    row = TicketAudit.objects.get()
    assert admin_client_.get("/admin/tickets/ticketaudit/").status_code == 200
    assert (
        admin_client_.post(f"/admin/tickets/ticketaudit/{row.pk}/change/", {"status": "closed"}).status_code
        == 403
    )
    assert (
        admin_client_.post(f"/admin/tickets/ticketaudit/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert TicketAudit.objects.get().status == "new"


@pytest.mark.parametrize(
    "page",
    [
        "category",
        "catalogitem",
        "priorityrule",
        "savedview",
        "exportjob",
        "comment",
        "ticketrelation",
        "sensitiveaccess",
        "ticket",
    ],
)
def test_it_lists_every_tickets_model(admin_client_, page):
    assert admin_client_.get(f"/admin/tickets/{page}/").status_code == 200


def test_it_lists_the_earlier_texts_of_edited_comments(admin_client_, make_ticket, agent):
    ticket = make_ticket()
    comment = actions.do_add_comment(ticket, actor=agent, body="Reboot the NAS")
    actions.do_edit_comment(comment, actor=agent, body="Reboot the NAS after the backup")
    listing = admin_client_.get("/admin/tickets/commentrevision/", {"q": ticket.number})
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "Reboot the NAS" in html and "after the backup" not in html

from io import StringIO

import pytest
from django.core.management import call_command

from tickets.models import CatalogItem, Category, Ticket, TicketStatus

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_tickets_catalog_and_categories_once():
    call_command("seed_demo", stdout=StringIO())
    tickets = Ticket.objects.filter(metadata__demo=True)
    count = tickets.count()
    assert count == 12
    assert tickets.filter(status=TicketStatus.RESOLVED).exists()
    assert tickets.filter(assignee__isnull=True).exists()
    assert Category.objects.filter(name="Network", default_team__name="Network").exists()
    assert CatalogItem.objects.filter(slug="new-laptop").exists()
    call_command("seed_demo", stdout=StringIO())
    assert Ticket.objects.filter(metadata__demo=True).count() == count

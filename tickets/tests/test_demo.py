from io import StringIO

import pytest
from django.core.management import call_command

from tickets.models import (
    CatalogItem,
    Category,
    Macro,
    SatisfactionSurvey,
    Ticket,
    TicketRelation,
    TicketStatus,
    WorkLog,
)

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


def test_seed_demo_fills_the_productivity_features_once():
    call_command("seed_demo", stdout=StringIO())
    counts = (
        Macro.objects.count(),
        WorkLog.objects.count(),
        SatisfactionSurvey.objects.count(),
        SatisfactionSurvey.objects.answered().count(),
        TicketRelation.objects.count(),
    )
    assert counts[0] == 4 and {m.visibility for m in Macro.objects.all()} == {"personal", "team", "shared"}
    assert counts[1] > 100 and 0 < counts[3] < counts[2]
    assert TicketRelation.objects.filter(kind="parent_of", source__metadata__demo=True).exists()
    call_command("seed_demo", stdout=StringIO())
    assert (
        Macro.objects.count(),
        WorkLog.objects.count(),
        SatisfactionSurvey.objects.count(),
        SatisfactionSurvey.objects.answered().count(),
        TicketRelation.objects.count(),
    ) == counts

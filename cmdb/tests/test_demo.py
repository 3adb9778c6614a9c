"""``seed_demo`` adds the demo configuration items, relations and tickets naming them, once."""

import pytest
from django.core.management import call_command

from cmdb.models import ConfigurationItem, ItemRelation, ItemSuggestion
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_the_demo_has_items_relations_and_tickets_with_suggestions(capsys):
    call_command("seed_demo")
    assert "Demo configuration items: 13 created" in capsys.readouterr().out
    assert ConfigurationItem.objects.count() == 13
    assert ItemRelation.objects.count() >= 10
    portal = ConfigurationItem.objects.get(name="Customer Portal")
    assert {r.target.name for r in portal.relations_out.all()} == {"nginx", "Payroll DB", "Payments API"}
    tickets = Ticket.objects.filter(metadata__cmdb_demo=True)
    assert tickets.count() == 4
    first = tickets.get(title__startswith="Customer portal answers 502")
    assert {s.item.name for s in ItemSuggestion.objects.filter(ticket=first).of_items()} >= {
        "Customer Portal",
        "nginx",
        "web01",
        "db-prod-01",
    }
    vpn = tickets.get(title="VPN drops every hour")
    assert [s.hostname for s in ItemSuggestion.objects.filter(ticket=vpn).unknown_hosts()] == [
        "gw-backup.northwind.example"
    ]


def test_seeding_again_changes_nothing(capsys):
    call_command("seed_demo")
    counts = (ConfigurationItem.objects.count(), ItemRelation.objects.count(), ItemSuggestion.objects.count())
    call_command("seed_demo")
    assert "0 created, 0 updated, 13 unchanged, 0 relations added" in capsys.readouterr().out
    assert (
        ConfigurationItem.objects.count(),
        ItemRelation.objects.count(),
        ItemSuggestion.objects.count(),
    ) == counts
    assert Ticket.objects.filter(metadata__cmdb_demo=True).count() == 4

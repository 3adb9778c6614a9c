"""Fixtures of the triage tests: categories with keywords and default teams, settings helpers."""

from __future__ import annotations

import pytest

from ai.triage.models import FieldSetting, TriageSettings
from tickets.actions import do_create_ticket, do_transition_ticket
from tickets.models import Category

NETWORK_TEXTS = [
    ("VPN tunnel down", "The VPN tunnel to the Lyon office dropped, users cannot reach the file server."),
    ("Cannot connect to VPN", "VPN client shows error 809 when connecting from home."),
    ("Wifi keeps dropping", "The wifi access point in meeting room B drops every few minutes."),
    ("Network switch port dead", "Port 12 of the floor switch has no link, the desk phone is offline."),
    ("Firewall blocks VPN", "Since the firewall change the VPN gateway refuses our connection."),
    ("Slow network on floor 2", "Network latency is huge on floor 2, pings to the gateway take seconds."),
]
PRINTING_TEXTS = [
    ("Printer jammed", "The printer on floor 3 has a paper jam and shows error E4."),
    ("Toner empty", "The printer in accounting is out of toner, please replace the cartridge."),
    ("Print queue stuck", "Nothing prints, the print queue is stuck with 20 jobs."),
    ("Cannot print PDF", "Printing a PDF to the colour printer fails with a driver error."),
    ("Printer offline", "The label printer in the warehouse shows offline."),
    ("Scanner to email broken", "The printer scanner no longer sends scans to email."),
]


@pytest.fixture
def network(db, other_team):
    return Category.objects.create(
        name="Network", keywords="vpn, wifi, switch, firewall", default_team=other_team
    )


@pytest.fixture
def printing(db, team):
    return Category.objects.create(name="Printing", keywords="printer, toner, print queue", default_team=team)


@pytest.fixture
def field_mode(db):
    """``field_mode("category", "auto", 0.5)`` sets a field's mode and threshold."""

    def set_mode(field: str, mode: str, threshold: float = 0.9) -> FieldSetting:
        setting = FieldSetting.for_field(field)
        setting.mode, setting.threshold = mode, threshold
        setting.save()
        return setting

    return set_mode


@pytest.fixture
def history(db, requester, agent, other_agent, team, other_team, network, printing):
    """Resolved tickets to learn from: 4 copies of each text (numbers differ), with final values."""

    def build(copies: int = 4) -> list:
        tickets = []
        for round_ in range(copies):
            for texts, category, chosen_team, urgency in (
                (NETWORK_TEXTS, network, other_team, "high"),
                (PRINTING_TEXTS, printing, team, "low"),
            ):
                for title, description in texts:
                    ticket = do_create_ticket(
                        actor=None,
                        requester=requester,
                        title=f"{title} #{round_}",
                        description=description,
                        category=category,
                        team=chosen_team,
                        urgency=urgency,
                    )
                    do_transition_ticket(
                        ticket, "resolved", actor=None, resolution="fixed", actor_label="system:test"
                    )
                    tickets.append(ticket)
        return tickets

    return build


@pytest.fixture
def train_settings(db):
    settings_row = TriageSettings.load()
    settings_row.min_training_tickets = 10
    settings_row.save()
    return settings_row

"""The quick fix's confidence calibrated on the resolved tickets (ai/copilot/calibration.py): each
resolved ticket's fix predicted from the others, scored against its real resolution, the isotonic
map stored as a versioned calibration, refitted by ``ai_train``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from ai.copilot import calibration, quickfix
from ai.copilot.models import QuickFixCalibration
from tickets import actions

pytestmark = pytest.mark.django_db

VPN_FIXES = [
    "Reinstalled the client software package.",
    "Replaced the wireless adapter driver.",
    "Changed the router firmware version.",
    "Reset the directory password of the account.",
]


@pytest.fixture
def history(make_ticket, agent, team, admin_user):
    """Ten printer jams all fixed the same way; twelve VPN drops fixed four different ways."""
    tickets = {"printer": [], "vpn": []}
    for n in range(10):
        ticket = make_ticket(
            f"Printer jammed on floor {n + 10}", description="Paper jam.", team=team, actor=agent
        )
        actions.do_transition_ticket(
            ticket, "resolved", actor=agent, resolution="Cleared the paper jam and restarted the printer."
        )
        tickets["printer"].append(ticket)
    for n in range(12):
        ticket = make_ticket(
            f"VPN drops every hour {n + 10}", description="VPN drops.", team=team, actor=agent
        )
        actions.do_transition_ticket(ticket, "resolved", actor=agent, resolution=VPN_FIXES[n % 4])
        tickets["vpn"].append(ticket)
    return tickets


def test_the_text_match_reads_words_not_order_or_case():
    assert calibration.text_similarity("Restarted the printer.", "the PRINTER was restarted") > 0.9
    assert calibration.text_similarity("Reinstalled the VPN client", "Replaced the toner") == 0.0
    assert calibration.text_similarity("", "anything") == 0.0


def test_a_calibrated_confidence_tracks_the_observed_accuracy(history, agent):
    stored, outcome = calibration.do_calibrate_quick_fix(force=True)
    assert stored is not None, outcome.skipped
    observations = {row.number: row for row in outcome.observations}
    # Every resolved ticket got a fix from the others; never from itself.
    assert stored.rows == len(observations) == 22
    for group in history.values():
        rows = [observations[ticket.number] for ticket in group]
        stated = np.mean([stored.calibrate(row.raw, row.basis) for row in rows])
        observed = np.mean([row.right for row in rows])
        assert abs(stated - observed) < 0.1, (stated, observed)
    printer = [observations[t.number] for t in history["printer"]]
    vpn = [observations[t.number] for t in history["vpn"]]
    assert all(row.right for row in printer)
    assert 0 < np.mean([row.right for row in vpn]) < 0.6
    # The rule said 0.75 for a unanimous vote; the printer fixes were always right.
    assert stored.calibrate(printer[0].raw, "tickets") > 0.95 > printer[0].raw
    assert stored.calibrate(vpn[0].raw, "tickets") < 0.6
    # Out of fold, the calibrated scores are closer to what happened than the raw rule.
    figures = stored.metrics
    assert figures["brier"] < figures["brier_raw"]
    assert figures["ece"] < figures["ece_raw"]
    assert sum(row["rows"] for row in figures["reliability"]) == 22


def test_the_quick_fix_shows_the_calibrated_confidence(history, agent, make_ticket, team, api_for, client):
    stored, _outcome = calibration.do_calibrate_quick_fix(force=True)
    ticket = make_ticket("Printer jammed on floor 99", description="Paper jam again.", team=team, actor=agent)
    fix = quickfix.suggest(ticket, user=agent)
    assert fix.raw == 0.75
    assert fix.confidence == pytest.approx(stored.calibrate(0.75, "tickets"))
    body = api_for(agent).get(f"/api/ai/tickets/{ticket.pk}/quick-fix/").json()
    assert body["calibration"] == stored.version
    assert body["raw_score"] == 0.75
    assert body["confidence"] == round(stored.calibrate(0.75, "tickets"), 2)
    client.force_login(agent)
    panel = client.get(reverse("ai:copilot-quick-fix", args=[ticket.pk]), HTTP_HX_REQUEST="true")
    assert b'data-testid="quick-fix-calibrated"' in panel.content


def test_too_little_history_keeps_the_raw_rule(make_ticket, agent, team, admin_user):
    ticket = make_ticket("Printer jammed", description="Paper jam.", team=team, actor=agent)
    actions.do_transition_ticket(ticket, "resolved", actor=agent, resolution="Cleared the jam.")
    stored, outcome = calibration.do_calibrate_quick_fix(force=True)
    assert stored is None
    assert "needed" in outcome.skipped
    assert not QuickFixCalibration.objects.exists()


def test_ai_train_refits_it_and_the_nightly_run_waits_for_new_resolutions(history, agent, capsys):
    call_command("ai_train", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert any("Quick fix calibration v1" in line for line in summary["refits"])
    first = QuickFixCalibration.objects.get()
    assert first.is_active
    call_command("ai_train", "--if-new-data")
    assert "no ticket resolved since the active one" in capsys.readouterr().out
    assert QuickFixCalibration.objects.count() == 1
    call_command("ai_train")
    assert list(QuickFixCalibration.objects.values_list("version", "is_active")) == [(2, True), (1, False)]


@pytest.mark.django_db(transaction=True)
def test_the_nightly_training_refits_it_in_the_worker(history, run_worker):
    from procrastinate.contrib.django.models import ProcrastinateJob

    from ai.triage.tasks import train_triage_models

    ProcrastinateJob.objects.all().delete()  # only the training job below
    train_triage_models.defer(timestamp=0)
    run_worker()
    assert QuickFixCalibration.objects.active().get().rows == 22

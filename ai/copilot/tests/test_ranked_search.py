"""Full-text matches ranked on their ids, then loaded (ai/copilot/tools.py: first_ranked): the same
tickets in the same order as ranking whole rows, ties broken by id, visibility kept."""

from __future__ import annotations

import pytest

from ai.copilot import tools
from tickets import actions
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_it_gives_the_tickets_whole_row_ranking_gives(make_ticket, agent, team, other_requester):
    for n in range(6):
        ticket = make_ticket(
            f"VPN drops {'every hour ' * (n % 3)}{n}", description="vpn " * (n + 1), team=team, actor=agent
        )
        actions.do_transition_ticket(ticket, "resolved", actor=agent, resolution=f"Fix {n}")
    make_ticket("VPN drops for someone else", sensitive=True, requester=other_requester, actor=agent)
    matches = Ticket.objects.visible_to(agent).search("vpn or hour")
    expected = list(matches.order_by("-rank", "-resolved_at", "-pk")[:4])
    assert tools.first_ranked(matches, ("-rank", "-resolved_at"), 4) == expected
    assert len(tools.first_ranked(matches, ("-rank",), 50)) == 6  # what the user sees, no more
    fixes = tools.search_knowledge(agent, {"text": "How did we fix VPN drops?"}).data["fixes"]
    assert {fix["resolution"] for fix in fixes} <= {f"Fix {n}" for n in range(6)}
    assert len(fixes) == 3


def test_similar_tickets_without_an_index_prefers_every_title_word(make_ticket, agent, team):
    ticket = make_ticket("Printer jammed on floor", team=team, actor=agent)
    every = [make_ticket(f"Printer jammed on floor {n}", team=team, actor=agent) for n in range(2)]
    some = [make_ticket(f"Printer toner low {n}", team=team, actor=agent) for n in range(4)]
    similar = tools.similar_tickets(agent, {"number": ticket.number}).data["similar"]
    # Fewer than five share every word: any word will do for the rest, best ranked first.
    assert len(similar) == 5
    assert {row["number"] for row in similar[:2]} == {t.number for t in every}
    assert {row["number"] for row in similar[2:]} <= {t.number for t in some}
    every += [make_ticket(f"Printer jammed on floor {n}", team=team, actor=agent) for n in range(2, 6)]
    similar = tools.similar_tickets(agent, {"number": ticket.number}).data["similar"]
    assert {row["number"] for row in similar} <= {t.number for t in every}
    assert ticket.number not in {row["number"] for row in similar}

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

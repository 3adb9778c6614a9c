"""Policy matching: the live clocks and the simulator pick the same policy, by one rule."""

from __future__ import annotations

import pytest

from itsm.models import Organisation
from sla.models import SLAPolicy
from sla.simulate import current_policy_set, parse_policy_set
from tickets.models import Category, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(calendar_24x7):
    network = Category.objects.create(name="Network")
    bigcorp = Organisation.objects.create(name="BigCorp", tier="enterprise")
    acme = Organisation.objects.create(name="Acme", tier="standard")

    def policy(name, priority, **criteria):
        SLAPolicy.objects.create(
            name=name,
            priority=priority,
            response_minutes=30,
            resolution_minutes=240,
            calendar=calendar_24x7,
            **criteria,
        )

    # Created in this order on purpose: a wrong weight would tie, and the earlier one would win.
    policy("High requests", "high", ticket_type="service_request")
    policy("High network", "high", category=network)
    policy("High network incidents", "high", category=network, ticket_type="incident")
    policy("High BigCorp", "high", organisation=bigcorp)
    policy("High BigCorp requests", "high", organisation=bigcorp, ticket_type="service_request")
    policy("High Acme (retired)", "high", organisation=acme, is_active=False)
    policy("Low network", "low", category=network)
    SLAPolicy.objects.filter(name="Critical (default)").update(is_active=False)
    return {"Network": network, "BigCorp": bigcorp, "Acme": acme}


CASES = [
    # priority, type, category, organisation -> the policy that applies
    ("high", "incident", None, None, "High (default)"),
    ("high", "service_request", None, None, "High requests"),
    ("high", "incident", "Network", None, "High network incidents"),
    ("high", "service_request", "Network", None, "High network"),
    ("high", "incident", None, "BigCorp", "High BigCorp"),
    ("high", "service_request", None, "BigCorp", "High BigCorp requests"),
    ("high", "service_request", "Network", "BigCorp", "High BigCorp requests"),
    ("high", "incident", "Network", "BigCorp", "High BigCorp"),  # organisation beats category + type
    ("high", "incident", None, "Acme", "High (default)"),  # an inactive policy never applies
    ("low", "incident", "Network", None, "Low network"),
    ("low", "service_request", "Network", "Acme", "Low network"),
    ("low", "incident", None, None, "Low (default)"),
    ("medium", "incident", "Network", "BigCorp", "Medium (default)"),
    ("critical", "incident", None, None, None),  # no active policy: no clock
]


def test_the_live_matching_and_the_simulator_pick_the_same_policy(catalogue):
    simulated = current_policy_set()
    for priority, ticket_type, category, organisation, expected in CASES:
        ticket = Ticket(
            priority=priority,
            type=ticket_type,
            category=catalogue.get(category),
            organisation=catalogue.get(organisation),
        )
        live = SLAPolicy.objects.best_for(ticket)
        candidate = simulated.best_for(ticket)
        case = (priority, ticket_type, category, organisation)
        assert (live.name if live else None, candidate.name if candidate else None) == (expected, expected), (
            case
        )


def test_a_candidate_policy_file_matches_by_the_same_rule(catalogue):
    candidate = parse_policy_set(
        {
            "policies": [
                {"name": "Any high", "priority": "high", "response_minutes": 30, "resolution_minutes": 60},
                {
                    "name": "Network high",
                    "priority": "high",
                    "category": "Network",
                    "response_minutes": 10,
                    "resolution_minutes": 60,
                },
                {
                    "name": "BigCorp high requests",
                    "priority": "high",
                    "organisation": "BigCorp",
                    "ticket_type": "service_request",
                    "response_minutes": 5,
                    "resolution_minutes": 60,
                },
            ]
        }
    )
    network, bigcorp = catalogue["Network"], catalogue["BigCorp"]
    picks = [
        candidate.best_for(Ticket(priority="high", type="incident", category=network)),
        candidate.best_for(
            Ticket(priority="high", type="service_request", category=network, organisation=bigcorp)
        ),
        candidate.best_for(Ticket(priority="high", type="incident", organisation=bigcorp)),
        candidate.best_for(Ticket(priority="low", type="incident", category=network)),
    ]
    assert [pick.name if pick else None for pick in picks] == [
        "Network high",
        "BigCorp high requests",
        "Any high",
        None,
    ]

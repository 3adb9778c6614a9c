"""Approval tests use a ticket as the target (the core itself knows no domain model)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import make_user
from itsm.approvals import registry
from itsm.approvals.models import ApprovalRequest
from itsm.models import Role, User


@pytest.fixture(autouse=True)
def _ticket_is_a_target():
    # The tickets app registers its own (catalog requests); these tests pin a plain one and
    # give the app's back afterwards.
    previous = registry._targets.get(registry.model_key("tickets.Ticket"))
    registry.register_target(
        "tickets.Ticket",
        label=lambda ticket: f"{ticket.number} {ticket.title}",
        url=lambda ticket, user: reverse("tickets:ticket-detail", args=[ticket.pk]),
    )
    yield
    registry.unregister_target("tickets.Ticket")
    if previous is not None:
        registry._targets[registry.model_key("tickets.Ticket")] = previous


@pytest.fixture
def lead(db, team) -> User:
    user = make_user("lena.lead@example.com", Role.AGENT, full_name="Lena Lead")
    team.members.add(user)
    team.lead = user
    team.save(update_fields=["lead"])
    return user


@pytest.fixture
def ticket(make_ticket):
    return make_ticket("Restart the payroll service")


@pytest.fixture
def ask(ticket, agent):
    """``ask(approvers, **options)``: a request on the ticket, asked by the agent by default."""
    from itsm.approvals.actions import do_request_approval

    def make(
        approvers, *, target=None, requested_by=agent, summary="Restart payroll", **options
    ) -> ApprovalRequest:
        return do_request_approval(
            target or ticket, requested_by=requested_by, approvers=approvers, summary=summary, **options
        )

    return make

"""The platform events sent outside (webhooks, Teams, Slack), built from the domain signals.

The domain apps send ``tickets.signals``, ``sla.signals`` and ``problems.signals`` inside the
transaction that made the change. The translators below (connected by
``integrations.webhooks.receivers``) turn them into ``OutboundEvent``s and send
``event_raised`` once per change (a ticket created critical is two events at once); the
webhook and chat apps listen to it and queue their deliveries in the same transaction, so a
rolled-back change sends nothing.

Listeners never raise into the caller's transaction: failures are logged and swallowed, and
every write runs in a savepoint, so an outbound problem never blocks or fails a ticket
change. With nobody subscribed, a change costs one indexed query per listening app.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.dispatch import Signal
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm.approvals import registry

logger = logging.getLogger(__name__)

DESCRIPTION_EXCERPT = 2000


class Event(models.TextChoices):
    TICKET_CREATED = "ticket.created", _("Ticket created")
    TICKET_UPDATED = "ticket.updated", _("Ticket updated")
    TICKET_CRITICAL = "ticket.critical", _("Ticket became critical")
    SLA_AT_RISK = "sla.at_risk", _("SLA at risk")
    SLA_BREACHED = "sla.breached", _("SLA breached")
    PROBLEM_DETECTED = "problem.detected", _("Problem detected")
    PROBLEM_CREATED = "problem.created", _("Problem opened by an agent")
    PROBLEM_INCIDENT_LINKED = "problem.incident_linked", _("Incident linked to a problem")
    PROBLEM_MERGED = "problem.merged", _("Problem merged into another")
    PROBLEM_STATUS_CHANGED = "problem.status_changed", _("Problem moved in its lifecycle")
    PROBLEM_RESOLVED = "problem.resolved", _("Problem resolved")
    CHANGE_STATUS_CHANGED = "change.status_changed", _("Change moved in its lifecycle")
    COMMENT_ADDED = "comment.added", _("Reply or internal note added")
    COMMENT_EDITED = "comment.edited", _("Reply or internal note edited")
    APPROVAL_REQUESTED = "approval.requested", _("Approval requested (runbook execution, change …)")
    APPROVAL_DECIDED = "approval.decided", _("Approval decided, expired or withdrawn")


# What a new Teams/Slack channel listens to unless told otherwise.
DEFAULT_CHAT_EVENTS = [Event.TICKET_CRITICAL, Event.SLA_AT_RISK, Event.SLA_BREACHED, Event.PROBLEM_DETECTED]


@dataclass
class OutboundEvent:
    """One thing that happened, as receivers outside see it.

    ``build`` makes the JSON data lazily (only when someone subscribes), once.
    ``dedupe_key`` (optional) makes a repeated signal for the same fact queue nothing twice.
    """

    name: str
    build: Callable[[], dict[str, Any]]
    trace_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = field(default_factory=timezone.now)
    dedupe_key: str = ""

    def __post_init__(self) -> None:
        # Receivers store it in UUID columns: anything else a signal passes gets a fresh one.
        try:
            self.trace_id = str(uuid.UUID(str(self.trace_id)))
        except ValueError:
            logger.warning(
                "outbound event %s: trace id %r is not a UUID; using a new one", self.name, self.trace_id
            )
            self.trace_id = str(uuid.uuid4())

    @functools.cached_property
    def data(self) -> dict[str, Any]:
        return self.build()


# Sent with ``events`` (the OutboundEvents of one change), inside the transaction of the change.
event_raised = Signal()


def raise_events(*events: OutboundEvent) -> None:
    for receiver, result in event_raised.send_robust(sender=OutboundEvent, events=list(events)):
        if isinstance(result, Exception):
            names = ", ".join(event.name for event in events)
            logger.error("outbound events %s: receiver %r failed: %r", names, receiver, result)


def guarded(handler: Callable[..., None], *, writes: bool = True) -> Callable[..., None]:
    """Log and swallow any failure of a listener (the user's change goes on).

    A listener that ``writes`` runs in a savepoint, so a failed statement rolls back only its
    own work and leaves the caller's transaction usable. Listeners that only read (or take
    their own savepoint around their writes) pass ``writes=False`` and cost no savepoint.
    """

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            if writes:
                with transaction.atomic():
                    handler(*args, **kwargs)
            else:
                handler(*args, **kwargs)
        except Exception:
            logger.exception("outbound listener %s failed; the change itself is kept", handler.__name__)

    return run


# --- JSON shapes ---------------------------------------------------------------------------
def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def absolute_url(url_name: str, pk: int, fallback: str) -> str:
    try:
        path = reverse(url_name, args=[pk])
    except NoReverseMatch:
        path = fallback
    return settings.SITE_URL.rstrip("/") + path


def shown_title(ticket: Any) -> str:
    """Receivers outside see no text of a sensitive ticket: not its title either (empty)."""
    return "" if ticket.sensitive else ticket.title


def ticket_data(ticket: Any) -> dict[str, Any]:
    """The ticket as webhook receivers see it. Of a sensitive ticket they get its identity and
    workflow state (number, status, priority, team, people, links) but none of its text: no
    title, description, tags or comment bodies (``sensitive`` is true, the text fields empty)."""
    data = {
        "id": ticket.pk,
        "number": ticket.number,
        "title": shown_title(ticket),
        "type": ticket.type,
        "status": ticket.status,
        "priority": ticket.priority,
        "impact": ticket.impact,
        "urgency": ticket.urgency,
        "channel": ticket.channel,
        "service": ticket.service,
        "category": ticket.category.name if ticket.category_id else None,
        "team": ticket.team.name if ticket.team_id else None,
        "assignee": _person(ticket.assignee) if ticket.assignee_id else None,
        "requester": _person(ticket.requester) if ticket.requester_id else None,
        "organisation": ticket.organisation.name if ticket.organisation_id else None,
        "tier": ticket.organisation.tier if ticket.organisation_id else None,
        "tags": [] if ticket.sensitive else list(ticket.tags or []),
        "sensitive": ticket.sensitive,
        "description": "" if ticket.sensitive else (ticket.description or "")[:DESCRIPTION_EXCERPT],
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "url": absolute_url("tickets:ticket-detail", ticket.pk, f"/tickets/{ticket.pk}/"),
        "api_url": settings.SITE_URL.rstrip("/") + f"/api/tickets/{ticket.pk}/",
    }
    return data


def ticket_summary(ticket: Any) -> dict[str, Any]:
    return {
        "id": ticket.pk,
        "number": ticket.number,
        "title": shown_title(ticket),
        "status": ticket.status,
        "priority": ticket.priority,
        "url": absolute_url("tickets:ticket-detail", ticket.pk, f"/tickets/{ticket.pk}/"),
    }


def comment_data(comment: Any, ticket: Any) -> dict[str, Any]:
    """A reply or internal note (``internal`` says which); the text of sensitive tickets is left out."""
    return {
        "id": comment.pk,
        "internal": comment.internal,
        "source": comment.source,
        "author": comment.author.email if comment.author_id else (comment.author_label or "system"),
        "body": "" if ticket.sensitive else (comment.body or "")[:DESCRIPTION_EXCERPT],
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.updated_at),
        "edited": comment.updated_at > comment.created_at,
    }


def problem_data(problem: Any, incidents: list[Any]) -> dict[str, Any]:
    team = getattr(problem, "team", None)
    return {
        "id": problem.pk,
        "number": getattr(problem, "number", ""),
        "title": getattr(problem, "title", str(problem)),
        "status": getattr(problem, "status", ""),
        "description": (getattr(problem, "description", "") or "")[:DESCRIPTION_EXCERPT],
        "team": team.name if team is not None else None,
        "incident_count": len(incidents),
        "url": absolute_url("problems:problem-detail", problem.pk, f"/problems/{problem.pk}/"),
        "api_url": settings.SITE_URL.rstrip("/") + f"/api/problems/{problem.pk}/",
    }


def linked_incidents(problem: Any) -> list[Any]:
    """The problem's incidents as they are now (read only when someone subscribed)."""
    return list(problem.incidents.order_by("pk"))


def change_data(change: Any) -> dict[str, Any]:
    team = getattr(change, "team", None)
    return {
        "id": change.pk,
        "number": change.number,
        "title": change.title,
        "type": change.type,
        "status": change.status,
        "risk": change.risk,
        "planned_start": iso(change.planned_start),
        "planned_end": iso(change.planned_end),
        "team": team.name if team is not None else None,
        "outcome": change.outcome or None,
        "url": absolute_url("changes:change-detail", change.pk, f"/changes/{change.pk}/"),
        "api_url": settings.SITE_URL.rstrip("/") + f"/api/changes/{change.pk}/",
    }


def approval_data(approval: Any) -> dict[str, Any]:
    """An approval request as receivers outside see it: what is approved (the target's label
    and link, as the owning app names it), who asked and who may decide. Never its ``details``
    (a runbook's parameters may come from a sensitive ticket's text)."""
    target = registry.describe(approval)
    requester = approval.requested_by
    return {
        "id": approval.pk,
        "kind": approval.kind,
        "summary": approval.summary,
        "status": approval.status,
        "target": {
            "type": target.type,
            "id": approval.target_id,
            "label": target.label,
            "url": settings.SITE_URL.rstrip("/") + target.url if target.url.startswith("/") else target.url,
        },
        "requested_by": _person(requester) if requester is not None else None,
        "requested_by_label": approval.requested_by_label if requester is None else "",
        "approvers": [_person(link.user) for link in approval.approver_links.select_related("user")],
        "quorum": approval.quorum,
        "approvals": approval.approval_count,
        "rejections": approval.rejection_count,
        "created_at": iso(approval.created_at),
        "expires_at": iso(approval.expires_at),
        "decided_at": iso(approval.decided_at),
        "url": absolute_url("approvals:approval-detail", approval.pk, f"/approvals/{approval.pk}/"),
    }


def _person(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "email": user.email, "name": user.full_name or user.email}


def actor_name(actor: Any, actor_label: str = "") -> str:
    if actor is not None:
        return actor.email
    return actor_label or "system"


# --- translating the domain signals -----------------------------------------------------------
def _is_critical(priority: str) -> bool:
    return priority == "critical"


def on_ticket_created(
    sender: Any, ticket: Any, actor: Any = None, actor_label: str = "", **kwargs: Any
) -> None:
    trace_id = str(uuid.uuid4())
    who = actor_name(actor, actor_label)
    events = [
        OutboundEvent(
            Event.TICKET_CREATED, lambda: {"ticket": ticket_data(ticket), "actor": who}, trace_id=trace_id
        )
    ]
    if _is_critical(ticket.priority):
        events.append(
            OutboundEvent(
                Event.TICKET_CRITICAL,
                lambda: {"ticket": ticket_data(ticket), "previous_priority": None, "actor": who},
                trace_id=trace_id,
            )
        )
    raise_events(*events)


def on_ticket_priority_changed(
    sender: Any,
    ticket: Any,
    previous: str = "",
    priority: str = "",
    actor: Any = None,
    actor_label: str = "",
    **kwargs: Any,
) -> None:
    if not _is_critical(priority) or _is_critical(previous):
        return
    who = actor_name(actor, actor_label)
    raise_events(
        OutboundEvent(
            Event.TICKET_CRITICAL,
            lambda: {"ticket": ticket_data(ticket), "previous_priority": previous, "actor": who},
        )
    )


def on_ticket_updated(
    sender: Any,
    ticket: Any,
    changed: list[str] | None = None,
    actor: Any = None,
    actor_label: str = "",
    **kwargs: Any,
) -> None:
    who = actor_name(actor, actor_label)
    fields = list(changed or [])
    raise_events(
        OutboundEvent(
            Event.TICKET_UPDATED,
            lambda: {"ticket": ticket_data(ticket), "changed": fields, "actor": who},
        )
    )


def _comment_event(name: str) -> Callable[..., None]:
    def receiver(
        sender: Any, ticket: Any, comment: Any, actor: Any = None, actor_label: str = "", **kwargs: Any
    ) -> None:
        who = actor_name(actor, actor_label)
        # Once per comment, and once per edit (its time): a retried signal queues nothing new.
        moment = comment.created_at if name == Event.COMMENT_ADDED else comment.updated_at
        raise_events(
            OutboundEvent(
                name,
                lambda: {
                    "ticket": ticket_data(ticket),
                    "comment": comment_data(comment, ticket),
                    "actor": who,
                },
                dedupe_key=f"{name}:{comment.pk}:{iso(moment)}",
            )
        )

    receiver.__name__ = f"on_{name.replace('.', '_')}"
    return receiver


on_comment_added = _comment_event(Event.COMMENT_ADDED)
on_comment_edited = _comment_event(Event.COMMENT_EDITED)


def _sla_event(name: str, state: str) -> Callable[..., None]:
    def receiver(
        sender: Any,
        ticket: Any,
        clock: Any = None,
        metric: str = "",
        due_at: datetime | None = None,
        trace_id: str = "",
        **kwargs: Any,
    ) -> None:
        clock_id = getattr(clock, "pk", None)

        def build() -> dict[str, Any]:
            return {
                "ticket": ticket_data(ticket),
                "sla": {"metric": metric, "state": state, "due_at": iso(due_at), "clock_id": clock_id},
            }

        raise_events(
            OutboundEvent(
                name,
                build,
                trace_id=str(trace_id or uuid.uuid4()),
                dedupe_key=f"{name}:{ticket.pk}:{metric}:{iso(due_at)}",
            )
        )

    receiver.__name__ = f"on_{name.replace('.', '_')}"
    return receiver


on_sla_at_risk = _sla_event(Event.SLA_AT_RISK, "at_risk")
on_sla_breached = _sla_event(Event.SLA_BREACHED, "breached")


def on_problem_detected(
    sender: Any, problem: Any, incidents: list[Any] | None = None, trace_id: str = "", **kwargs: Any
) -> None:
    tickets = list(incidents or [])
    raise_events(
        OutboundEvent(
            Event.PROBLEM_DETECTED,
            lambda: {
                "problem": problem_data(problem, tickets),
                "incidents": [ticket_summary(t) for t in tickets],
            },
            trace_id=str(trace_id or uuid.uuid4()),
            dedupe_key=f"{Event.PROBLEM_DETECTED}:{problem.pk}",
        )
    )


def on_problem_created(
    sender: Any,
    problem: Any,
    incidents: list[Any] | None = None,
    actor: Any = None,
    detected: bool = False,
    **kwargs: Any,
) -> None:
    if detected:
        return  # detection's problems are announced as problem.detected
    tickets = list(incidents or [])
    who = actor_name(actor, "system:problems")
    raise_events(
        OutboundEvent(
            Event.PROBLEM_CREATED,
            lambda: {
                "problem": problem_data(problem, tickets),
                "incidents": [ticket_summary(t) for t in tickets],
                "actor": who,
            },
            dedupe_key=f"{Event.PROBLEM_CREATED}:{problem.pk}",
        )
    )


def on_incident_linked(
    sender: Any,
    problem: Any,
    ticket: Any,
    actor: Any = None,
    joined: bool = False,
    link: Any = None,
    **kwargs: Any,
) -> None:
    who = actor_name(actor, "system:problems")
    raise_events(
        OutboundEvent(
            Event.PROBLEM_INCIDENT_LINKED,
            lambda: {
                "problem": problem_data(problem, linked_incidents(problem)),
                "incident": ticket_summary(ticket),
                # Detection joined it to the open problem its cluster belongs to (not an agent).
                "joined": joined,
                "actor": who,
            },
            # One per link: unlinked and linked again is a new fact.
            dedupe_key=f"{Event.PROBLEM_INCIDENT_LINKED}:{problem.pk}:{ticket.pk}:{getattr(link, 'pk', '')}",
        )
    )


def on_problem_merged(
    sender: Any,
    problem: Any,
    into: Any,
    incidents: list[Any] | None = None,
    actor: Any = None,
    reason: str = "",
    **kwargs: Any,
) -> None:
    tickets = list(incidents or [])
    who = actor_name(actor, "system:problems")
    raise_events(
        OutboundEvent(
            Event.PROBLEM_MERGED,
            lambda: {
                "problem": problem_data(problem, []),
                "into": problem_data(into, linked_incidents(into)),
                "incidents": [ticket_summary(t) for t in tickets],
                "actor": who,
                "reason": reason,
            },
            dedupe_key=f"{Event.PROBLEM_MERGED}:{problem.pk}:{into.pk}",
        )
    )


def on_problem_status_changed(
    sender: Any, problem: Any, previous: str, status: str, actor: Any = None, **kwargs: Any
) -> None:
    who = actor_name(actor, "system:problems")
    trace_id = str(uuid.uuid4())
    moment = iso(problem.updated_at)

    def build() -> dict[str, Any]:
        return {
            "problem": {
                **problem_data(problem, linked_incidents(problem)),
                "root_cause": (problem.root_cause or "")[:DESCRIPTION_EXCERPT],
                "workaround": (problem.workaround or "")[:DESCRIPTION_EXCERPT],
                "fix": (problem.fix or "")[:DESCRIPTION_EXCERPT],
            },
            "from": previous,
            "to": status,
            "actor": who,
        }

    events = [
        OutboundEvent(
            Event.PROBLEM_STATUS_CHANGED,
            build,
            trace_id=trace_id,
            dedupe_key=f"{Event.PROBLEM_STATUS_CHANGED}:{problem.pk}:{previous}:{status}:{moment}",
        )
    ]
    if status == "resolved":
        events.append(
            OutboundEvent(
                Event.PROBLEM_RESOLVED,
                build,
                trace_id=trace_id,
                dedupe_key=f"{Event.PROBLEM_RESOLVED}:{problem.pk}:{moment}",
            )
        )
    raise_events(*events)


def on_change_status_changed(
    sender: Any, change: Any, previous: str, status: str, actor: Any = None, reason: str = "", **kwargs: Any
) -> None:
    raise_events(
        OutboundEvent(
            Event.CHANGE_STATUS_CHANGED,
            lambda: {
                "change": change_data(change),
                "from": previous,
                "to": status,
                "actor": actor_name(actor, "system:changes"),
                "reason": reason,
            },
            trace_id=str(uuid.uuid4()),
            dedupe_key=f"{Event.CHANGE_STATUS_CHANGED}:{change.pk}:{previous}:{status}:{iso(change.updated_at)}",
        )
    )


def on_approval_requested(
    sender: Any, approval: Any, target: Any = None, actor: Any = None, **kwargs: Any
) -> None:
    who = actor_name(actor, approval.requested_by_label)
    raise_events(
        OutboundEvent(
            Event.APPROVAL_REQUESTED,
            lambda: {"approval": approval_data(approval), "actor": who},
            dedupe_key=f"{Event.APPROVAL_REQUESTED}:{approval.pk}",
        )
    )


def on_approval_decided(
    sender: Any, approval: Any, target: Any = None, outcome: str = "", actor: Any = None, **kwargs: Any
) -> None:
    """Once per request: it reaches one outcome (approved, rejected, expired or cancelled)."""
    who = actor_name(actor, "system:approvals")

    def build() -> dict[str, Any]:
        decision = approval.decisions.filter(approver=actor).first() if actor is not None else None
        return {
            "approval": approval_data(approval),
            "outcome": outcome,
            "actor": who,
            "comment": decision.comment if decision is not None else approval.closed_reason,
        }

    raise_events(
        OutboundEvent(Event.APPROVAL_DECIDED, build, dedupe_key=f"{Event.APPROVAL_DECIDED}:{approval.pk}")
    )

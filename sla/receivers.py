"""The SLA engine listening to the tickets app. Each receiver runs inside the transaction of the
ticket change that sent the signal, so clocks and tickets commit (or roll back) together."""

from __future__ import annotations

from typing import Any

from itsm.signals import demo_seeded
from sla import actions, demo
from tickets import signals

RETARGET_FIELDS = {"type", "category"}


def on_ticket_created(sender: object, ticket: Any, **kwargs: Any) -> None:
    actions.do_start_clocks(ticket)


def on_ticket_status_changed(sender: object, ticket: Any, previous: str, status: str, **kwargs: Any) -> None:
    actions.do_follow_status(ticket, previous=previous, status=status)


def on_ticket_priority_changed(
    sender: object, ticket: Any, previous: str, priority: str, **kwargs: Any
) -> None:
    who = kwargs.get("actor") or kwargs.get("actor_label") or "system"
    actions.do_retarget_clocks(ticket, reason=f"priority {previous} → {priority} ({who})")


def on_comment_added(sender: object, ticket: Any, **kwargs: Any) -> None:
    # do_add_comment sets first_response_at for the desk's first reply (an agent's, or a Jira
    # agent's mirrored one) before sending this: the one place the response clock stops.
    if ticket.first_response_at is not None:
        actions.do_record_first_response(ticket)


def on_ticket_updated(sender: object, ticket: Any, changed: list[str], **kwargs: Any) -> None:
    # One edit re-targets once: when its priority changed too, ticket_priority_changed has
    # already re-targeted the clocks against the ticket as this edit left it (type and category
    # included), since the signals follow the edit's single write.
    if RETARGET_FIELDS & set(changed) and "priority" not in changed:
        names = ", ".join(sorted(RETARGET_FIELDS & set(changed)))
        actions.do_retarget_clocks(ticket, reason=f"{names} changed")


def on_ticket_merged(sender: object, ticket: Any, target: Any, **kwargs: Any) -> None:
    # Sent before the source is closed: its clocks stop as cancelled, never as met or breached.
    actions.do_cancel_clocks(ticket, reason=f"merged into {target.number}")


def connect() -> None:
    signals.ticket_created.connect(on_ticket_created, dispatch_uid="sla.ticket_created")
    signals.ticket_status_changed.connect(on_ticket_status_changed, dispatch_uid="sla.ticket_status_changed")
    signals.ticket_priority_changed.connect(
        on_ticket_priority_changed, dispatch_uid="sla.ticket_priority_changed"
    )
    signals.comment_added.connect(on_comment_added, dispatch_uid="sla.comment_added")
    signals.ticket_updated.connect(on_ticket_updated, dispatch_uid="sla.ticket_updated")
    signals.ticket_merged.connect(on_ticket_merged, dispatch_uid="sla.ticket_merged")
    # After the tickets demo (connected first, by the tickets app): its queue's clocks follow it.
    demo_seeded.connect(demo.seed_clocks, dispatch_uid="sla-demo")

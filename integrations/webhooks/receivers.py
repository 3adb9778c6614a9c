"""What the webhook app listens to: the domain signals, translated into outbound events, and
those events, each becoming one delivery per subscription."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from changes import signals as change_signals
from integrations.webhooks import events as outbound
from integrations.webhooks.actions import do_queue_deliveries
from integrations.webhooks.events import OutboundEvent, guarded
from itsm.approvals import signals as approval_signals
from problems import signals as problem_signals
from sla import signals as sla_signals
from tickets import signals as ticket_signals


@functools.partial(guarded, writes=False)  # the action takes a savepoint when it writes
def queue_webhooks(sender: Any, events: list[OutboundEvent], **kwargs: Any) -> None:
    do_queue_deliveries(events)


def _translate(translator: Callable[..., None], signal: Any, uid: str) -> None:
    # The translators only build events (no queries): no savepoint. ``weak=False``: the
    # guarded wrapper has no other reference.
    signal.connect(guarded(translator, writes=False), weak=False, dispatch_uid=f"outbound.{uid}")


def connect() -> None:
    """Called from ``WebhooksConfig.ready()``; the ``dispatch_uid``s make a second call a no-op.

    The translation feeds the chat app too (it listens to ``event_raised``).
    """
    _translate(outbound.on_ticket_created, ticket_signals.ticket_created, "ticket_created")
    _translate(
        outbound.on_ticket_priority_changed, ticket_signals.ticket_priority_changed, "ticket_priority_changed"
    )
    _translate(outbound.on_ticket_updated, ticket_signals.ticket_updated, "ticket_updated")
    _translate(outbound.on_comment_added, ticket_signals.comment_added, "comment_added")
    _translate(outbound.on_comment_edited, ticket_signals.comment_edited, "comment_edited")
    _translate(outbound.on_sla_at_risk, sla_signals.sla_at_risk, "sla_at_risk")
    _translate(outbound.on_sla_breached, sla_signals.sla_breached, "sla_breached")
    _translate(outbound.on_problem_detected, problem_signals.problem_detected, "problem_detected")
    _translate(outbound.on_problem_created, problem_signals.problem_created, "problem_created")
    _translate(outbound.on_incident_linked, problem_signals.incident_linked, "problem_incident_linked")
    _translate(outbound.on_problem_merged, problem_signals.problem_merged, "problem_merged")
    _translate(
        outbound.on_problem_status_changed, problem_signals.problem_status_changed, "problem_status_changed"
    )
    _translate(
        outbound.on_change_status_changed, change_signals.change_status_changed, "change_status_changed"
    )
    _translate(outbound.on_approval_requested, approval_signals.approval_requested, "approval_requested")
    _translate(outbound.on_approval_decided, approval_signals.approval_decided, "approval_decided")
    outbound.event_raised.connect(queue_webhooks, dispatch_uid="webhooks.queue")

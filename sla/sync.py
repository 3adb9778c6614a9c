"""Taking a ticket's SLA clocks from an external system (Jira Service Management).

``sla`` imports no integration; an integration plugs in here from its ``AppConfig.ready()``.

Contract
--------
Register::

    from sla.sync import register_sync_provider
    register_sync_provider(provider)          # idempotent: registering the same callable twice is one

A provider is a callable ``provider(ticket) -> Iterable[TicketSLA] | None`` where ``ticket`` is a
``tickets.Ticket``:

1. Return ``None`` when the ticket is not linked to your system. The next provider is asked; when
   none claims the ticket, ``sync_ticket`` raises ``NotLinked`` and
   ``POST /api/sla/ticket/{id}/sync/`` answers **409** ``{"detail": "<number> is not linked …"}``.
2. Otherwise read the remote clocks and apply each one with
   ``sla.actions.apply_remote_clock(ticket, metric="response"|"resolution", due_at=<aware datetime>,
   started_at=None, paused=False, stopped_at=None, breached=None, paused_seconds=0, source="jira")``,
   which upserts the ticket's clock for that metric with ``source="jira"`` (local pause and
   re-target rules then leave its due time alone; the sweep still raises at-risk and breach
   alerts from it) and writes an ``AutomationEvent`` (actor ``system:jira``). Return the clocks
   applied (an empty list is fine: linked, but the remote side has no SLA).
3. Raise ``SyncUnavailable("why")`` when the remote system is down, times out or refuses: the
   API answers **503** with that message and nothing is changed.
4. Providers run inside one database transaction (``sync_ticket`` is atomic): raising any
   exception rolls back every clock the provider applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from sla.models import TicketSLA
    from tickets.models import Ticket

SyncProvider = Callable[["Ticket"], "Iterable[TicketSLA] | None"]

_providers: list[SyncProvider] = []


class NotLinked(Exception):
    """No registered provider knows this ticket."""


class SyncUnavailable(Exception):
    """The remote system could not be read (down, timeout, refused)."""


def register_sync_provider(provider: SyncProvider) -> SyncProvider:
    if provider not in _providers:
        _providers.append(provider)
    return provider


def providers() -> list[SyncProvider]:
    return list(_providers)


@transaction.atomic
def sync_ticket(ticket: Ticket) -> list[TicketSLA]:
    """Ask the providers in order; the first that claims the ticket applies its clocks."""
    for provider in _providers:
        result = provider(ticket)
        if result is not None:
            return list(result)
    raise NotLinked(
        f"{ticket.number} is not linked to an external system with SLA clocks (Jira); nothing to sync."
    )

"""Merge tickets into one: the conversation, attachments, watchers and relations of each source
move to the target (authors and times kept, marked "from INC-…"), the sources are resolved
with a link and closed. There is no undo; the confirmation page says what moves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext

from tickets import signals
from tickets.actions.conversation import do_add_comment
from tickets.actions.relations import INVERSE_KINDS
from tickets.actions.tickets import check_can_change, do_edit_ticket
from tickets.models import (
    Attachment,
    Comment,
    RelationKind,
    Ticket,
    TicketRelation,
    TicketStatus,
    Watcher,
)

if TYPE_CHECKING:
    from itsm.models import User

MERGE_MAX_SOURCES = 50


@dataclass
class MergePlan:
    """What moves from one source (the confirmation page and the API's preview show it)."""

    source: Ticket
    replies: int
    notes: int
    attachments: int
    watchers: int
    relations: int


def check_merge(target: Ticket, sources: Iterable[Ticket], *, actor: User | None) -> list[Ticket]:
    """Refuse a merge that cannot happen, before anything is locked or written."""
    sources = list({source.pk: source for source in sources}.values())
    if not sources:
        raise ValidationError({"sources": gettext("Give at least one ticket to merge.")})
    if len(sources) > MERGE_MAX_SOURCES:
        raise ValidationError(
            {"sources": gettext("At most %(count)s tickets at once.") % {"count": MERGE_MAX_SOURCES}}
        )
    if actor is not None and not actor.is_agent:
        raise PermissionDenied(gettext("Only agents merge tickets."))
    check_can_change(target, actor)
    for source in sources:
        check_can_change(source, actor)
    if any(source.pk == target.pk for source in sources):
        raise ValidationError({"sources": gettext("A ticket cannot be merged into itself.")})
    if target.is_final:
        raise ValidationError(
            {
                "target": gettext("%(number)s is %(status)s: merge into an open ticket.")
                % {"number": target.number, "status": target.get_status_display().lower()}
            }
        )
    final = [source.number for source in sources if source.is_final]
    if final:
        raise ValidationError(
            {"sources": gettext("Already closed or cancelled: %(numbers)s.") % {"numbers": ", ".join(final)}}
        )
    # A Jira-linked ticket keeps its issue: two issues cannot follow one ticket.
    linked = [source.number for source in sources if source.external_key]
    if linked and (target.external_key or len(linked) > 1):
        raise ValidationError(
            {
                "sources": gettext(
                    "%(numbers)s are linked to Jira and %(target)s cannot take their link "
                    "(it has one, or several would arrive): unlink them in Jira first, or merge "
                    "into a ticket without a Jira link."
                )
                % {"numbers": ", ".join(linked), "target": target.number}
            }
        )
    return sources


def merge_plan(target: Ticket, sources: Iterable[Ticket]) -> list[MergePlan]:
    """Counts of what moves, per source, in one query."""
    sources = list(sources)
    counted = {
        row["pk"]: row
        for row in Ticket.objects.filter(pk__in=[source.pk for source in sources])
        .values("pk")
        .annotate(
            replies=Count("comments", filter=Q(comments__internal=False), distinct=True),
            notes=Count("comments", filter=Q(comments__internal=True), distinct=True),
            attachments=Count("attachments", distinct=True),
            watchers=Count("watchers", distinct=True),
            relations_out_count=Count(
                "relations_out", filter=~Q(relations_out__target=target), distinct=True
            ),
            relations_in_count=Count("relations_in", filter=~Q(relations_in__source=target), distinct=True),
        )
    }
    return [
        MergePlan(
            source=source,
            replies=counted[source.pk]["replies"],
            notes=counted[source.pk]["notes"],
            attachments=counted[source.pk]["attachments"],
            watchers=counted[source.pk]["watchers"],
            relations=counted[source.pk]["relations_out_count"] + counted[source.pk]["relations_in_count"],
        )
        for source in sources
    ]


def _move_relations(source: Ticket, target: Ticket, others: set[int]) -> None:
    """Links of the source now hold for the target; a link that would become a self-link, a
    duplicate (stated either way: "A related B" is "B related A", "A parent_of B" is "B child_of
    A"), or one between two tickets merged together is dropped."""
    existing = set(
        TicketRelation.objects.filter(Q(source=target) | Q(target=target)).values_list(
            "source", "target", "kind"
        )
    )
    for relation in TicketRelation.objects.filter(Q(source=source) | Q(target=source)).order_by("pk"):
        new_source = target.pk if relation.source_id == source.pk else relation.source_id
        new_target = target.pk if relation.target_id == source.pk else relation.target_id
        key = (new_source, new_target, relation.kind)
        inverse = (new_target, new_source, INVERSE_KINDS[relation.kind])
        if (
            new_source == new_target
            or key in existing
            or inverse in existing
            or {new_source, new_target} & others
        ):
            relation.delete()
            continue
        relation.source_id, relation.target_id = new_source, new_target
        relation.save(update_fields=["source", "target"])
        existing.add(key)


@transaction.atomic
def do_merge_tickets(target: Ticket, sources: Iterable[Ticket], *, actor: User | None) -> Ticket:
    """Merge ``sources`` into ``target`` as ``actor``; all or nothing.

    Each source: its comments and attachments move (``merged_from`` marks them), its watchers
    and requester watch the target, its relations point at the target, ``ticket_merged`` is sent
    (the SLA app cancels its clocks), then it is resolved ("Merged into INC-…", which tells its
    requester by the usual mail) and closed, with a ``duplicate_of`` link to the target. The
    target gets one internal note listing what arrived.
    """
    sources = check_merge(target, sources, actor=actor)
    # Lock every ticket in id order: two merges over the same tickets queue instead of deadlocking.
    ids = sorted({target.pk, *(source.pk for source in sources)})
    locked = {
        ticket.pk: ticket for ticket in Ticket.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    target = locked[target.pk]
    sources = [locked[source.pk] for source in sources]
    check_merge(
        target, sources, actor=actor
    )  # again, on the locked rows: a concurrent merge may have closed one
    source_ids = {source.pk for source in sources}
    now = timezone.now()
    for source in sources:
        Comment.objects.filter(ticket=source).update(ticket=target, merged_from=source)
        Attachment.objects.filter(ticket=source).update(ticket=target)
        watchers = {
            watcher for watcher in Watcher.objects.filter(ticket=source).values_list("user", flat=True)
        }
        watchers.add(source.requester_id)
        Watcher.objects.bulk_create(
            [Watcher(ticket=target, user_id=user_id, created_at=now) for user_id in sorted(watchers)],
            ignore_conflicts=True,
        )
        _move_relations(source, target, source_ids - {source.pk})
        TicketRelation.objects.create(
            source=source, target=target, kind=RelationKind.DUPLICATE_OF, created_by=actor
        )
    lines = [
        gettext("Merged into this ticket: %(number)s %(title)s (requested by %(requester)s).")
        % {"number": source.number, "title": source.title, "requester": source.requester}
        + (f"\n\n{source.description.strip()}" if source.description.strip() else "")
        for source in sources
    ]
    do_add_comment(target, actor=actor, body="\n\n---\n\n".join(lines), internal=True)
    for source in sources:
        signals.ticket_merged.send(sender=Ticket, ticket=source, target=target, actor=actor, actor_label="")
        why = f"merged into {target.number}"
        metadata = {**source.metadata, "merged_into": target.number}
        if source.status != TicketStatus.RESOLVED:
            do_edit_ticket(
                source,
                {
                    "status": TicketStatus.RESOLVED,
                    "resolution": gettext(
                        "Merged into %(number)s (%(title)s): the conversation continues there."
                    )
                    % {"number": target.number, "title": target.title},
                    "metadata": metadata,
                },
                actor=actor,
                reason=why,
            )
            do_edit_ticket(source, {"status": TicketStatus.CLOSED}, actor=actor, reason=why)
        else:
            do_edit_ticket(
                source, {"status": TicketStatus.CLOSED, "metadata": metadata}, actor=actor, reason=why
            )
    Ticket.objects.filter(pk=target.pk).update(updated_at=timezone.now())
    return target

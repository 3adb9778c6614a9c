"""Who hears about what happens to a ticket: the bell, and mail to requesters.

Listens to ``tickets.signals`` (connected by ``tickets.receivers``). Notifications are
written in the transaction of the change (a rolled-back change notifies nobody); mail is
sent by the worker after commit (``itsm.notify``). The actor never hears about their own action.

- assigned to me → me; assigned to a team without an assignee → the team's agents
- a reply or note on a ticket I watch → me (notes only to agents)
- a status change on my request → me (the requester); resolution also by mail
- a public reply by someone else on my request → me, by bell and mail
- ``@email`` or ``@Full Name`` of an agent in a comment → that agent
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from itsm.models import User
from itsm.notify import notify
from tickets.actions.csat import survey_url
from tickets.models import Comment, SatisfactionSurvey, Ticket, TicketStatus

REPLY_EMAIL = "tickets/email/reply"
RESOLVED_EMAIL = "tickets/email/resolved"

MENTION_EMAIL = re.compile(r"(?<![\w.])@([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")
MENTION_NAME = re.compile(r"(?<![\w.])@([^\W\d_][\w'’-]*(?:[ \t]+[^\W\d_][\w'’-]*){0,3})")


def ticket_path(user: User, ticket: Ticket) -> str:
    """Requesters follow their tickets in the portal; everyone else on the agent page."""
    if user.is_requester:
        return reverse("tickets:portal-ticket", args=[ticket.pk])
    return reverse("tickets:ticket-detail", args=[ticket.pk])


def _send(
    recipients: Iterable[User],
    ticket: Ticket,
    *,
    verb: str,
    title: Callable[[], str],
    body: Callable[[], str] = lambda: "",
    dedupe_key: str,
    actor: User | None,
    email_template: str = "",
    email_context: dict | None = None,
) -> list[int]:
    """One notification per recipient, its text in the recipient's language; returns who got one."""
    sent = []
    for user in recipients:
        if actor is not None and user.pk == actor.pk:
            continue  # never about your own action
        with translation.override(user.language or settings.LANGUAGE_CODE):
            text, detail = title(), body()
        path = ticket_path(user, ticket)
        context = {**(email_context or {}), "ticket_url": f"{settings.SITE_URL.rstrip('/')}{path}"}
        created = notify(
            [user],
            verb=verb,
            title=text,
            body=detail,
            url=path,
            subject_type="ticket",
            subject_id=ticket.pk,
            dedupe_key=dedupe_key,
            email=bool(email_template),
            email_template=email_template or REPLY_EMAIL,
            email_context=context,
            exclude=actor,
        )
        if created:
            sent.append(user.pk)
    return sent


def _ticket_context(ticket: Ticket) -> dict[str, Any]:
    return {"ticket_number": ticket.number, "ticket_title": ticket.title}


# --- assignment ----------------------------------------------------------------------------------------
def _notify_assignment(
    ticket: Ticket, *, actor: User | None, assignee_changed: bool, team_changed: bool
) -> None:
    if ticket.assignee_id and assignee_changed:
        _send(
            [ticket.assignee],
            ticket,
            verb="assigned",
            actor=actor,
            title=lambda: (
                gettext("%(number)s was assigned to you: %(title)s")
                % {"number": ticket.number, "title": ticket.title}
            ),
            dedupe_key=f"ticket:{ticket.pk}:assigned:{ticket.version}",
        )
    elif ticket.assignee_id is None and ticket.team_id and team_changed:
        members = User.objects.staff_roles().active().filter(teams=ticket.team_id).order_by("pk")
        team_name = ticket.team.name
        _send(
            members,
            ticket,
            verb="assigned_team",
            actor=actor,
            title=lambda: (
                gettext("%(number)s was assigned to your team %(team)s: %(title)s")
                % {"number": ticket.number, "team": team_name, "title": ticket.title}
            ),
            dedupe_key=f"ticket:{ticket.pk}:team:{ticket.team_id}:{ticket.version}",
        )


def on_ticket_created(sender: object, ticket: Ticket, actor: User | None = None, **kwargs: Any) -> None:
    if ticket.status == TicketStatus.PENDING_APPROVAL:
        return  # the desk hears of a request once it is approved (on_status_changed)
    _notify_assignment(ticket, actor=actor, assignee_changed=True, team_changed=True)


def on_ticket_assigned(
    sender: object,
    ticket: Ticket,
    actor: User | None = None,
    previous_assignee: Any = None,
    previous_team: Any = None,
    **kwargs: Any,
) -> None:
    if ticket.status == TicketStatus.PENDING_APPROVAL:
        return  # routed while it waits (triage): the desk hears of it once it is approved
    _notify_assignment(
        ticket,
        actor=actor,
        assignee_changed=ticket.assignee_id != getattr(previous_assignee, "pk", None),
        team_changed=ticket.team_id != getattr(previous_team, "pk", None),
    )


# --- status ----------------------------------------------------------------------------------------------
def on_status_changed(
    sender: object,
    ticket: Ticket,
    actor: User | None = None,
    previous: str = "",
    status: str = "",
    **kwargs: Any,
) -> None:
    if previous == TicketStatus.PENDING_APPROVAL and status == TicketStatus.NEW:
        # An approved request reaches the desk now, as a new ticket does.
        _notify_assignment(ticket, actor=actor, assignee_changed=True, team_changed=True)
    requester = ticket.requester
    labels = dict(TicketStatus.choices)
    resolved = status == TicketStatus.RESOLVED
    context = {
        **_ticket_context(ticket),
        "resolution": ticket.resolution,
        "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else "",
    }
    if resolved:
        # The survey of this resolution (created just before, by tickets.actions.csat), unanswered.
        survey = SatisfactionSurvey.objects.filter(ticket=ticket, score__isnull=True).first()
        if survey is not None:
            context["survey_url"] = survey_url(survey)
    _send(
        [requester],
        ticket,
        verb="status_changed",
        actor=actor,
        title=lambda: (
            gettext("%(number)s is now %(status)s")
            % {"number": ticket.number, "status": str(labels.get(status, status)).lower()}
        ),
        body=lambda: ticket.resolution if resolved else "",
        dedupe_key=f"ticket:{ticket.pk}:status:{ticket.version}",
        email_template=RESOLVED_EMAIL if resolved else "",
        email_context=context,
    )


# --- conversation ----------------------------------------------------------------------------------------
def mentioned_agents(text: str) -> list[User]:
    """Agents named as ``@email`` or ``@Full Name`` (up to four words) in ``text``."""
    if "@" not in text:
        return []
    emails = {email.lower().rstrip(".") for email in MENTION_EMAIL.findall(text)}
    names: set[str] = set()
    for match in MENTION_NAME.finditer(text):
        words = match.group(1).split()
        names.update(" ".join(words[:count]).lower() for count in range(1, len(words) + 1))
    if not emails and not names:
        return []
    return list(
        User.objects.staff_roles()
        .active()
        .annotate(lower_name=Lower("full_name"))
        .filter(Q(email__in=emails) | Q(lower_name__in=names))
        .order_by("pk")
    )


def on_comment_added(
    sender: object, ticket: Ticket, comment: Comment, actor: User | None = None, **kwargs: Any
) -> None:
    author = comment.author_display
    excerpt = comment.body[:300]
    done: set[int] = set()

    # Mentions: agents who may see the ticket.
    mentioned = [user for user in mentioned_agents(comment.body) if ticket.is_visible_to(user)]
    done.update(
        _send(
            mentioned,
            ticket,
            verb="mentioned",
            actor=actor,
            title=lambda: (
                gettext("%(author)s mentioned you on %(number)s")
                % {"author": author, "number": ticket.number}
            ),
            body=lambda: excerpt,
            dedupe_key=f"comment:{comment.pk}:mention",
        )
    )

    # The requester hears about public replies from the desk, by bell and mail.
    requester = ticket.requester
    if not comment.internal and (actor is None or actor.pk != requester.pk) and requester.pk not in done:
        done.update(
            _send(
                [requester],
                ticket,
                verb="replied",
                actor=actor,
                title=lambda: (
                    gettext("%(author)s replied to %(number)s") % {"author": author, "number": ticket.number}
                ),
                body=lambda: excerpt,
                dedupe_key=f"comment:{comment.pk}",
                email_template=REPLY_EMAIL if settings.TICKET_REPLY_EMAILS else "",
                email_context={**_ticket_context(ticket), "author": author, "body": comment.body},
            )
        )
        done.add(requester.pk)

    # Watchers (the requester is one): replies to all who may read them, notes to agents only.
    watchers = [
        watcher.user
        for watcher in ticket.watchers.select_related("user").order_by("pk")
        if watcher.user_id not in done
        and watcher.user.is_active
        and not (comment.internal and watcher.user.is_requester)
        and ticket.is_visible_to(watcher.user)
    ]
    _send(
        watchers,
        ticket,
        verb="note_added" if comment.internal else "comment_added",
        actor=actor,
        title=(
            lambda: (
                gettext("New internal note on %(number)s: %(title)s")
                % {"number": ticket.number, "title": ticket.title}
            )
        )
        if comment.internal
        else (
            lambda: (
                gettext("New reply on %(number)s: %(title)s")
                % {"number": ticket.number, "title": ticket.title}
            )
        ),
        body=lambda: excerpt,
        dedupe_key=f"comment:{comment.pk}",
    )

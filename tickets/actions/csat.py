"""Customer satisfaction surveys: sent when a ticket is resolved, answered once (changed within
a week) through a signed link that works without signing in."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from itsm.notify import notify
from tickets.actions.tickets import do_transition_ticket
from tickets.models import (
    LINK_MAX_AGE,
    DeskSettings,
    SatisfactionSurvey,
    Ticket,
    TicketStatus,
)

if TYPE_CHECKING:
    from itsm.models import User

SALT = "tickets.csat"
COMMENT_MAX = 2000


def survey_token(survey: SatisfactionSurvey) -> str:
    return signing.dumps(survey.pk, salt=SALT, compress=True)


def survey_for_token(token: str) -> SatisfactionSurvey | None:
    """The survey a link names, if the signature holds and it has not expired."""
    try:
        pk = signing.loads(token, salt=SALT, max_age=LINK_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(pk, int):
        return None
    return SatisfactionSurvey.objects.select_related("ticket", "ticket__team").filter(pk=pk).first()


def survey_url(survey: SatisfactionSurvey) -> str:
    path = reverse("tickets:survey", args=[survey_token(survey)])
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def is_sampled(ticket: Ticket, percent: int) -> bool:
    """Deterministic per ticket (a re-sent signal decides the same): a stable hash of its id."""
    if percent >= 100:
        return True
    return zlib.crc32(str(ticket.pk).encode()) % 100 < percent


@transaction.atomic
def do_send_survey(ticket: Ticket) -> SatisfactionSurvey | None:
    """The survey of a just-resolved ticket (one per ticket: a second resolution reuses it), or
    None when surveys are off, the ticket is not sampled, was merged, or has no active requester.
    Its link reaches the requester in the resolution mail (``tickets.notifications``)."""
    policy = DeskSettings.load()
    if not policy.survey_enabled or not is_sampled(ticket, policy.survey_sample_percent):
        return None
    if ticket.metadata.get("merged_into") or not ticket.requester.is_active or ticket.requester.is_agent:
        return None
    survey, _created = SatisfactionSurvey.objects.get_or_create(
        ticket=ticket, defaults={"requester": ticket.requester, "sent_at": timezone.now()}
    )
    return survey


def check_answer(score: Any, comment: str) -> tuple[int, str]:
    """A whole score 1–5 (a number or its digits) and a comment of bounded length."""
    value = 0
    if isinstance(score, int) and not isinstance(score, bool):
        value = score
    elif isinstance(score, str) and score.strip().isdigit():
        value = int(score.strip())
    if not 1 <= value <= 5:
        raise ValidationError({"score": gettext("Choose a score from 1 to 5.")})
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationError({"comment": gettext("At most %(max)s characters.") % {"max": COMMENT_MAX}})
    return value, comment


@transaction.atomic
def do_answer_survey(survey: SatisfactionSurvey, *, score: Any, comment: str = "") -> SatisfactionSurvey:
    """Record the requester's answer: the first one, or a changed mind within the change window.
    A low score tells the team lead and may reopen the ticket (``DeskSettings``)."""
    value, comment = check_answer(score, comment)
    # The row lock: two clicks at once record one answer, the second sees the first.
    survey = (
        SatisfactionSurvey.objects.select_for_update(of=("self",))
        .select_related("ticket", "ticket__team")
        .get(pk=survey.pk)
    )
    now = timezone.now()
    if not survey.can_change_answer(now):
        raise ValidationError(gettext("This survey was answered more than a week ago; the answer stands."))
    if survey.score == value and survey.comment == comment:
        return survey  # the same answer again (a double click, a retried post): nothing changes
    first = survey.answered_at is None
    survey.score, survey.comment, survey.updated_at = value, comment, now
    if first:
        survey.answered_at = now
    survey.save(update_fields=["score", "comment", "answered_at", "updated_at"])
    _follow_up(survey, value)
    return survey


def _follow_up(survey: SatisfactionSurvey, score: int) -> None:
    policy = DeskSettings.load()
    ticket = survey.ticket
    if policy.notify_lead_at_or_below and score <= policy.notify_lead_at_or_below:
        lead: User | None = ticket.team.lead if ticket.team_id else None
        if lead is not None:
            with translation.override(lead.language or settings.LANGUAGE_CODE):
                title = gettext("%(number)s got a satisfaction score of %(score)s/5") % {
                    "number": ticket.number,
                    "score": score,
                }
            notify(
                [lead],
                verb="csat_low",
                title=title,
                body=survey.comment[:300],
                url=reverse("tickets:ticket-detail", args=[ticket.pk]),
                subject_type="ticket",
                subject_id=ticket.pk,
                dedupe_key=f"csat:{survey.pk}:low:{score}",
            )
    if (
        policy.reopen_at_or_below
        and score <= policy.reopen_at_or_below
        and ticket.status == TicketStatus.RESOLVED
    ):
        do_transition_ticket(
            ticket,
            TicketStatus.OPEN,
            actor=survey.requester,
            reason=f"satisfaction score {score}/5",
            check_permission=False,  # the requester's own ticket, through their signed link
        )


def on_status_changed(sender: object, ticket: Ticket, status: str = "", **kwargs: Any) -> None:
    """Connected before the notifications' receiver: the resolution mail then carries the link."""
    if status == TicketStatus.RESOLVED:
        do_send_survey(ticket)

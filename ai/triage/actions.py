"""Triage workflows. The worker, the pages, the API, the admin and the commands call these.

Every change to a ticket goes through ``tickets.actions``: an agent accepting a suggestion is
the actor; an automatic application has no actor and the label ``system:ai``, and leaves an
``AutomationEvent`` with the before/after values and the reasoning.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from ai.triage import predict, sentiment, training
from ai.triage.models import (
    FieldMode,
    FieldSetting,
    MessageSentiment,
    SentimentAction,
    SuggestionStatus,
    TriageField,
    TriageModel,
    TriageResult,
    TriageSettings,
)
from itsm.models import AutomationEvent, Team, User
from tickets import actions as ticket_actions
from tickets.actions import TicketChanges
from tickets.models import Category, Comment, Priority, Ticket

if TYPE_CHECKING:
    from ai.triage.training import TrainingOutcome

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:ai"
FIELD_ORDER = (
    TriageField.CATEGORY,
    TriageField.IMPACT,
    TriageField.URGENCY,
    TriageField.TEAM,
    TriageField.ASSIGNEE,
)


class SuggestionNotPending(Exception):
    """The suggestion was already accepted, rejected or applied: nothing is done twice."""

    def __init__(self, result: TriageResult) -> None:
        self.result = result
        super().__init__(
            _("This suggestion is already %(status)s.") % {"status": result.get_status_display().lower()}
        )


# --- reading a ticket's current value of a field ------------------------------------------------
def current_value(ticket: Ticket, field: str) -> str:
    value = {
        TriageField.CATEGORY: ticket.category_id,
        TriageField.TEAM: ticket.team_id,
        TriageField.ASSIGNEE: ticket.assignee_id,
        TriageField.IMPACT: ticket.impact,
        TriageField.URGENCY: ticket.urgency,
    }[field]
    return "" if value is None else str(value)


def _is_unset(field: str, current: str, initial: str, *, priority_overridden: bool) -> bool:
    """Auto mode fills what nobody chose; it never overrides a person's choice."""
    if field in (TriageField.CATEGORY, TriageField.TEAM, TriageField.ASSIGNEE):
        return current == ""
    # Impact and urgency always have a value: auto may change them while they are still what
    # the ticket was opened with and nobody pinned the priority by hand.
    return current == initial and not priority_overridden


# --- triage --------------------------------------------------------------------------------------
def do_triage_ticket(ticket: Ticket) -> list[TriageResult]:
    """Predict, store one ``TriageResult`` per field, apply what auto mode allows.

    Idempotent: a ticket is triaged once; a redelivered job returns the stored results.
    """
    with transaction.atomic():
        # The row lock serialises two workers handed the same job.
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        existing = list(ticket.triage_results.all())
        if existing:
            return existing
        triage = predict.classify(ticket.title, ticket.description, ticket.type)
        modes = FieldSetting.all_fields()
        results = []
        for field in FIELD_ORDER:
            prediction = triage.predictions.get(field)
            if prediction is None:
                continue
            setting = modes[field]
            initial = current_value(ticket, field)
            if setting.mode == FieldMode.SHADOW:
                status = SuggestionStatus.RECORDED
            elif prediction.value == initial:
                status = SuggestionStatus.MATCHED
            else:
                status = SuggestionStatus.PENDING
            results.append(
                TriageResult(
                    ticket=ticket,
                    field=field,
                    predicted_value=prediction.value,
                    predicted_label=prediction.label[:200],
                    confidence=prediction.confidence,
                    reasoning=prediction.reasoning,
                    evidence=prediction.evidence,
                    method=prediction.method,
                    model_version=triage.model_version,
                    latency_ms=round(triage.latency_ms, 2),
                    mode=setting.mode,
                    threshold=setting.threshold,
                    initial_value=initial,
                    status=status,
                )
            )
        try:
            with transaction.atomic():
                TriageResult.objects.bulk_create(results)
        except IntegrityError:
            # Another worker stored them between our check and our insert.
            return list(TriageResult.objects.filter(ticket=ticket))
        _apply_automatically(ticket, [r for r in results if r.mode == FieldMode.AUTO], triage.objects)
    return results


def _apply_automatically(ticket: Ticket, results: list[TriageResult], objects: dict) -> None:
    """Every confident suggestion for a field nobody set, applied as one edit of the ticket
    (one version, one audit row, one ``ticket_updated``), in ``FIELD_ORDER``: a team that
    drops the assignee leaves the assignee free for its own suggestion."""
    current = {field: current_value(ticket, field) for field in FIELD_ORDER}
    assignee = ticket.assignee
    changes: TicketChanges = {}
    chosen: list[tuple[TriageResult, str]] = []
    for result in results:
        if result.status != SuggestionStatus.PENDING or not result.is_confident():
            continue
        if not _is_unset(
            result.field,
            current[result.field],
            result.initial_value,
            priority_overridden=ticket.priority_overridden,
        ):
            continue
        try:
            change = _change_for(result, _resolve_object(result, objects), assignee=assignee)
            ticket_actions.check_changes(change)
        except ValidationError as error:
            logger.warning("AI triage could not apply %s to %s: %s", result.field, ticket.number, error)
            continue
        chosen.append((result, current[result.field]))
        changes.update(change)
        current[result.field] = result.predicted_value
        if "assignee" in change:
            assignee = change["assignee"]
            current[TriageField.ASSIGNEE] = "" if assignee is None else str(assignee.pk)
    if not chosen:
        return
    try:
        ticket_actions.do_edit_ticket(
            ticket, changes, actor=None, actor_label=SYSTEM_ACTOR, reason=_reason_for(changes)
        )
    except (ValidationError, PermissionDenied) as error:
        logger.warning("AI triage could not apply its suggestions to %s: %s", ticket.number, error)
        return
    now = timezone.now()
    for result, before in chosen:
        result.status = SuggestionStatus.APPLIED
        result.applied = True
        result.decided_at = now
        result.save(update_fields=["status", "applied", "decided_at"])
        AutomationEvent.objects.record(
            actor=SYSTEM_ACTOR,
            action="ai.triage.applied",
            subject=ticket,
            before={result.field: before},
            after={
                result.field: result.predicted_value,
                "label": result.predicted_label,
                "confidence": round(result.confidence, 4),
            },
            reason=result.reasoning,
        )


def _resolve_object(result: TriageResult, objects: dict | None = None) -> object:
    """The category, team or user the suggestion names (``None`` when it no longer exists)."""
    cached = (objects or {}).get(result.field)
    if cached is not None and str(cached.pk) == result.predicted_value:
        return cached
    if result.field == TriageField.CATEGORY:
        return Category.objects.filter(pk=result.predicted_value, active=True).first()
    if result.field == TriageField.TEAM:
        return Team.objects.filter(pk=result.predicted_value).first()
    if result.field == TriageField.ASSIGNEE:
        return User.objects.filter(pk=result.predicted_value, is_active=True).first()
    return result.predicted_value


def _change_for(result: TriageResult, target: object, *, assignee: User | None) -> TicketChanges:
    """The edit that applies one suggestion (``assignee``: the ticket's assignee at that point)."""
    if target is None:
        raise ValidationError(
            _("The suggested %(field)s no longer exists.") % {"field": result.get_field_display()}
        )
    if result.field == TriageField.CATEGORY:
        return {"category": target}
    if result.field == TriageField.IMPACT:
        return {"impact": str(target)}
    if result.field == TriageField.URGENCY:
        return {"urgency": str(target)}
    if result.field == TriageField.TEAM:
        if assignee is not None and not assignee.teams.filter(pk=target.pk).exists():
            return {"team": target, "assignee": None}  # the assignee does not belong to the new team
        return {"team": target}
    # An assignee keeps the ticket's team; a ticket without one takes the assignee's.
    return {"assignee": target}


def _reason_for(changes: TicketChanges) -> str:
    return _("AI triage suggestion") if {"assignee", "team"} & set(changes) else ""


def _apply(ticket: Ticket, result: TriageResult, *, actor: User | None) -> None:
    changes = _change_for(result, _resolve_object(result), assignee=ticket.assignee)
    ticket_actions.do_edit_ticket(
        ticket,
        changes,
        actor=actor,
        actor_label="" if actor is not None else SYSTEM_ACTOR,
        reason=_reason_for(changes),
    )


@transaction.atomic
def do_accept_suggestion(result: TriageResult, *, actor: User) -> TriageResult:
    """One click: the agent applies the suggestion as themselves."""
    ticket_actions.check_can_change(result.ticket, actor)
    # Lock the suggestion: a double click or two agents accept it once.
    result = TriageResult.objects.select_for_update().select_related("ticket").get(pk=result.pk)
    if not result.is_pending:
        raise SuggestionNotPending(result)
    _apply(result.ticket, result, actor=actor)
    result.status = SuggestionStatus.ACCEPTED
    result.decided_by = actor
    result.decided_at = timezone.now()
    result.save(update_fields=["status", "decided_by", "decided_at"])
    return result


@transaction.atomic
def do_reject_suggestion(result: TriageResult, *, actor: User) -> TriageResult:
    ticket_actions.check_can_change(result.ticket, actor)
    result = TriageResult.objects.select_for_update().get(pk=result.pk)
    if not result.is_pending:
        raise SuggestionNotPending(result)
    result.status = SuggestionStatus.REJECTED
    result.decided_by = actor
    result.decided_at = timezone.now()
    result.save(update_fields=["status", "decided_by", "decided_at"])
    return result


def do_record_outcome(ticket: Ticket) -> int:
    """Compare each prediction with the value the ticket was resolved with; returns the count."""
    now = timezone.now()
    updated = 0
    for result in TriageResult.objects.filter(ticket=ticket):
        final = current_value(ticket, result.field)
        correct = final == result.predicted_value
        if result.final_value == final and result.correct is correct:
            continue
        result.final_value, result.correct, result.evaluated_at = final, correct, now
        result.save(update_fields=["final_value", "correct", "evaluated_at"])
        updated += 1
    return updated


# --- training ----------------------------------------------------------------------------------------
def do_train_models(
    *, force: bool = False, limit: int | None = None
) -> tuple[TriageModel | None, TrainingOutcome | None]:
    """Train on the resolved tickets and activate the new version.

    Without ``force`` nothing happens when no ticket was resolved since the active model.
    Returns (model, outcome); model is None when nothing was learned.
    """
    triage_settings = TriageSettings.load()
    active = TriageModel.objects.active().first()
    if (
        not force
        and active is not None
        and active.last_ticket_resolved_at is not None
        and not Ticket.objects.resolved_after(active.last_ticket_resolved_at).exists()
    ):
        return None, None
    # Training reads and computes for a while; no lock is held meanwhile.
    outcome = training.train(
        triage_settings.min_training_tickets, triage_settings.target_precision, limit=limit
    )
    if not outcome.models:
        return None, outcome
    blob = predict.dump_bundle(outcome.models)
    with transaction.atomic():
        # One writer at a time picks the next version and swaps the active model.
        TriageSettings.objects.select_for_update().get(pk=triage_settings.pk)
        version = (TriageModel.objects.aggregate(top=Max("version"))["top"] or 0) + 1
        TriageModel.objects.active().update(is_active=False)
        model = TriageModel.objects.create(
            version=version,
            blob=blob,
            size_bytes=len(blob),
            training_rows=outcome.rows,
            metrics={**outcome.metrics, "skipped": outcome.skipped, "notes": outcome.notes},
            last_ticket_resolved_at=outcome.last_resolved_at,
            seconds=round(outcome.seconds, 2),
            is_active=True,
        )
    predict.forget_cached_bundle()
    return model, outcome


@transaction.atomic
def do_activate_model(model: TriageModel) -> TriageModel:
    """Roll back (or forward) to a stored version."""
    TriageModel.objects.select_for_update().filter(pk=model.pk).get()
    TriageModel.objects.active().exclude(pk=model.pk).update(is_active=False)
    TriageModel.objects.filter(pk=model.pk).update(is_active=True)
    model.is_active = True
    predict.forget_cached_bundle()
    return model


# --- sentiment -----------------------------------------------------------------------------------
def is_requester_message(ticket: Ticket, comment: Comment | None) -> bool:
    if comment is None:
        return True
    if comment.internal:
        return False
    if comment.author_id is not None:
        return comment.author_id == ticket.requester_id
    # Mail or Jira replies without a local user: count them when they come from the requester.
    return bool(comment.author_label) and comment.author_label.lower() == ticket.requester.email.lower()


def do_score_sentiment(ticket: Ticket, comment: Comment | None = None) -> MessageSentiment | None:
    """Score a requester message once; raise the ticket for attention per the settings."""
    if not is_requester_message(ticket, comment):
        return None
    triage_settings = TriageSettings.load()
    text = f"{ticket.title}\n{ticket.description}" if comment is None else comment.body
    scored = sentiment.score_text(text, very_negative=triage_settings.sentiment_threshold)
    with transaction.atomic():
        lookup = {"ticket": ticket, "comment": comment}
        if MessageSentiment.objects.filter(**lookup).exists():
            return MessageSentiment.objects.get(**lookup)
        try:
            with transaction.atomic():
                row = MessageSentiment.objects.create(
                    ticket=ticket,
                    comment=comment,
                    score=scored.score,
                    label=scored.label,
                    terms=scored.terms,
                    language=scored.language,
                )
        except IntegrityError:
            return MessageSentiment.objects.get(**lookup)
        if _needs_attention(ticket, scored.score, triage_settings):
            _raise_attention(ticket, row, triage_settings)
    return row


def _needs_attention(ticket: Ticket, score: float, triage_settings: TriageSettings) -> bool:
    if (
        triage_settings.sentiment_action == SentimentAction.NONE
        or score > triage_settings.sentiment_threshold
    ):
        return False
    organisation = ticket.organisation
    if organisation is None or organisation.tier not in triage_settings.watched_tiers():
        return False
    if not ticket.is_open:
        return False
    # Once per ticket: a second angry message does not raise it again.
    return not MessageSentiment.objects.filter(ticket=ticket, raised_attention=True).exists()


PRIORITY_UP = {
    Priority.LOW: Priority.MEDIUM,
    Priority.MEDIUM: Priority.HIGH,
    Priority.HIGH: Priority.CRITICAL,
}


def _raise_attention(ticket: Ticket, row: MessageSentiment, triage_settings: TriageSettings) -> None:
    ticket.refresh_from_db()
    action = triage_settings.sentiment_action
    reason = _("Very negative sentiment (%(score)s) from a %(tier)s customer: %(terms)s") % {
        "score": f"{row.score:+.2f}",
        "tier": ticket.organisation.tier,
        "terms": ", ".join(row.terms[:6]),
    }
    before = {"tags": list(ticket.tags), "priority": ticket.priority}
    changes: TicketChanges = {}
    if action in (SentimentAction.TAG, SentimentAction.TAG_AND_RAISE):
        tag = triage_settings.attention_tag.strip().lower() or "attention"
        if tag not in ticket.tags:
            changes["tags"] = [*ticket.tags, tag]
    if action in (SentimentAction.RAISE_PRIORITY, SentimentAction.TAG_AND_RAISE):
        higher = PRIORITY_UP.get(ticket.priority)
        if higher is not None:
            changes.update(priority=higher, priority_reason=reason[:500])
    if changes:
        ticket_actions.do_edit_ticket(ticket, changes, actor=None, actor_label=SYSTEM_ACTOR)
    row.raised_attention = True
    row.save(update_fields=["raised_attention"])
    AutomationEvent.objects.record(
        actor=SYSTEM_ACTOR,
        action="ai.sentiment.attention",
        subject=ticket,
        before=before,
        after={"tags": list(ticket.tags), "priority": ticket.priority},
        reason=reason,
    )

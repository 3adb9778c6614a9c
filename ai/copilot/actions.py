"""Asking the copilot, accepting its proposals, replaying runs. Pages, the API and commands call these."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ai.copilot import planner as local
from ai.copilot import tools
from ai.copilot.models import (
    CopilotProposal,
    CopilotRun,
    CopilotStep,
    DecisionOutcome,
    ProposalAction,
    ProposalDecision,
    RunSource,
)
from itsm.models import User
from problems import actions as problem_actions
from problems.models import Problem
from tickets import actions as ticket_actions

if TYPE_CHECKING:
    from itsm.models import User
    from tickets.models import Ticket

MAX_QUESTION_CHARS = 2000


class AlreadyDecided(Exception):
    """The proposal was accepted or dismissed before (the API answers 409)."""


@dataclass
class StepRecord:
    tool: str
    arguments: dict[str, Any]
    result: tools.ToolResult
    latency_ms: int
    tokens: int | None = None


@dataclass
class Outcome:
    planner: str
    intent: str
    calls: list[local.Call]
    steps: list[StepRecord]
    status: str
    answer: str
    citations: list[tools.Citation]
    proposals: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    note: str = ""


def check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise ValidationError({"question": _("Ask a question.")})
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise ValidationError(
            {"question": _("A question is at most %(limit)s characters.") % {"limit": MAX_QUESTION_CHARS}}
        )
    return question


def run_tool(user: User, call: local.Call) -> StepRecord:
    """One tool call as ``user``; a bad argument or an unknown tool is a failed step, not a crash."""
    started = time.perf_counter()
    tool = tools.REGISTRY.get(call.tool)
    if tool is None:
        result = tools.ToolResult({}, error=f"Unknown tool {call.tool!r}.", digest="unknown tool")
    else:
        try:
            result = tool.run(user, call.arguments)
        except tools.ToolInputError as error:
            result = tools.ToolResult({}, error=str(error), digest="bad arguments")
    return StepRecord(call.tool, call.arguments, result, round((time.perf_counter() - started) * 1000))


def answer_locally(question: str, user: User, *, context: Ticket | None = None) -> Outcome:
    the_plan = local.plan(question, user, context_number=context.number if context else None)
    return execute_plan(the_plan, user)


def execute_plan(the_plan: local.Plan, user: User) -> Outcome:
    steps = [run_tool(user, call) for call in the_plan.calls]
    composed = local.compose(the_plan, [step.result for step in steps])
    return Outcome(
        planner="local",
        intent=the_plan.intent,
        calls=the_plan.calls,
        steps=steps,
        status=composed.status,
        answer=composed.answer,
        citations=composed.citations,
        proposals=composed.proposals,
    )


def answer(
    question: str, user: User, *, context: Ticket | None = None, planner: str | None = None
) -> Outcome:
    """The LLM planner when configured (or asked), falling back to the local one on failure."""
    from ai.copilot import llm  # noqa: PLC0415 - the LLM planner runs the tools of this module

    if planner == "local" or (planner is None and not llm.is_configured()):
        return answer_locally(question, user, context=context)
    return llm.answer(question, user, context=context)


@transaction.atomic
def record_run(
    outcome: Outcome,
    *,
    actor: User,
    question: str,
    source: str,
    ticket: Ticket | None,
    latency_ms: int,
    replay_of: CopilotRun | None = None,
    diff: dict[str, Any] | None = None,
) -> CopilotRun:
    run = CopilotRun.objects.create(
        user=actor,
        source=source,
        ticket=ticket,
        question=question,
        planner=outcome.planner,
        model=outcome.model,
        intent=outcome.intent,
        plan=[call.as_dict() for call in outcome.calls],
        status=outcome.status,
        answer=outcome.answer,
        citations=[citation.as_dict() for citation in outcome.citations],
        note=outcome.note[:500],
        latency_ms=latency_ms,
        replay_of=replay_of,
        diff=diff or {},
    )
    CopilotStep.objects.bulk_create(
        CopilotStep(
            run=run,
            position=position,
            tool=step.tool[:40],
            arguments=step.arguments,
            result_ids=step.result.result_ids,
            digest=step.result.digest[:2000],
            error=step.result.error[:500],
            latency_ms=step.latency_ms,
            tokens=step.tokens,
        )
        for position, step in enumerate(outcome.steps)
    )
    CopilotProposal.objects.bulk_create(
        CopilotProposal(
            run=run, action=item["action"], arguments=item["arguments"], label=item["label"][:300]
        )
        for item in outcome.proposals
    )
    return run


def do_ask_copilot(
    *,
    actor: User,
    question: Any,
    ticket: Ticket | None = None,
    source: str = RunSource.API,
    planner: str | None = None,
) -> CopilotRun:
    """Answer ``question`` as ``actor`` (``ticket``: the page it was asked from, already checked
    visible) and record the run with its steps and proposals."""
    question = check_question(question)
    started = time.perf_counter()
    outcome = answer(question, actor, context=ticket, planner=planner)
    latency = round((time.perf_counter() - started) * 1000)
    return record_run(
        outcome, actor=actor, question=question, source=source, ticket=ticket, latency_ms=latency
    )


# --- proposals ------------------------------------------------------------------------------------
def _ticket_for(actor: User, number: str) -> Ticket:
    ticket = tools.visible_ticket(actor, number)
    if ticket is None:
        raise ObjectDoesNotExist(_("No ticket %(number)s that you can see.") % {"number": number})
    return ticket


def _execute(proposal: CopilotProposal, actor: User) -> None:

    arguments = proposal.arguments
    ticket = _ticket_for(actor, arguments.get("number", ""))
    if proposal.action == ProposalAction.ASSIGN:
        assignee = User.objects.filter(email=arguments.get("assignee", ""), is_active=True).first()
        if assignee is None:
            raise ValidationError({"assignee": _("That agent no longer exists.")})
        ticket_actions.do_assign_ticket(ticket, actor=actor, assignee=assignee)
    elif proposal.action == ProposalAction.SET_STATUS:
        status = arguments.get("status", "")
        if status == "open" and ticket.status == "resolved":
            ticket_actions.do_reopen_ticket(ticket, actor=actor)
        else:
            ticket_actions.do_transition_ticket(
                ticket, status, actor=actor, resolution=arguments.get("resolution", "")
            )
    elif proposal.action == ProposalAction.SET_PRIORITY:
        ticket_actions.do_change_priority(
            ticket, actor=actor, priority=arguments.get("priority", ""), reason=arguments.get("reason", "")
        )
    elif proposal.action == ProposalAction.REPLY:
        ticket_actions.check_can_comment(ticket, actor, internal=False)
        ticket_actions.do_add_comment(ticket, actor=actor, body=arguments.get("body", ""))
    elif proposal.action == ProposalAction.LINK_PROBLEM:
        problem = Problem.objects.visible_to(actor).filter(number=arguments.get("problem", "")).first()
        if problem is None:
            raise ObjectDoesNotExist(_("No such problem."))
        problem_actions.do_link_incident(problem, ticket, actor=actor)
    else:  # pragma: no cover - the choices are closed
        raise ValidationError({"action": _("Unknown action.")})


@transaction.atomic
def do_decide_proposal(proposal: CopilotProposal, *, actor: User, outcome: str) -> ProposalDecision:
    """Accept (run the normal action as ``actor``, with their permissions) or dismiss a proposal
    of ``actor``'s own run, once. The action and the decision commit together: a refused action
    leaves the proposal open."""
    if proposal.run.user_id != actor.pk:
        raise PermissionDenied(_("This proposal was made to someone else."))
    # The row lock makes a double click wait for the first, which then finds the decision.
    CopilotProposal.objects.select_for_update().filter(pk=proposal.pk).first()
    if ProposalDecision.objects.filter(proposal=proposal).exists():
        raise AlreadyDecided(_("This proposal was already decided."))
    if outcome == DecisionOutcome.ACCEPTED:
        _execute(proposal, actor)
    return ProposalDecision.objects.create(proposal=proposal, user=actor, outcome=outcome)


# --- replay ---------------------------------------------------------------------------------------
def diff_outcome(before: CopilotRun, after: Outcome) -> dict[str, Any]:
    """What changed between a recorded run and a new outcome: the answer, and per step the ids
    the tool returned that were added or removed."""
    old_steps = list(before.steps.all())
    steps = []
    for position in range(max(len(old_steps), len(after.steps))):
        old = old_steps[position] if position < len(old_steps) else None
        new = after.steps[position] if position < len(after.steps) else None
        old_ids = {f"{r['type']}:{r['id']}" for r in (old.result_ids if old else [])}
        new_ids = {f"{r['type']}:{r['id']}" for r in (new.result.result_ids if new else [])}
        steps.append(
            {
                "position": position,
                "tool_before": old.tool if old else None,
                "tool_after": new.tool if new else None,
                "added": sorted(new_ids - old_ids),
                "removed": sorted(old_ids - new_ids),
                "digest_before": old.digest if old else "",
                "digest_after": new.result.digest if new else "",
            }
        )
    return {
        "answer_changed": before.answer != after.answer,
        "status_changed": before.status != after.status,
        "answer_before": before.answer,
        "answer_after": after.answer,
        "steps": steps,
    }


def do_replay_run(run: CopilotRun, *, actor: User, planner: str | None = None) -> CopilotRun:
    """Re-run ``run`` against today's data, as its asker (the same visibility): its recorded plan
    (``planner`` None, a local run) or its question through ``planner``. The new run keeps
    ``replay_of`` and the diff; the original is never changed."""
    if not (actor.is_admin or run.user_id == actor.pk):
        raise PermissionDenied(_("You may only replay your own runs."))
    asker = run.user
    started = time.perf_counter()
    if planner is None and run.planner == "local":
        the_plan = local.plan(
            run.question, asker, context_number=run.ticket.number if run.ticket_id else None
        )
        the_plan.calls = [local.Call(item["tool"], item["arguments"]) for item in run.plan]
        outcome = execute_plan(the_plan, asker)
    else:
        outcome = answer(run.question, asker, context=run.ticket, planner=planner or run.planner)
    latency = round((time.perf_counter() - started) * 1000)
    return record_run(
        outcome,
        actor=asker,
        question=run.question,
        source=RunSource.REPLAY,
        ticket=run.ticket,
        latency_ms=latency,
        replay_of=run,
        diff=diff_outcome(run, outcome),
    )

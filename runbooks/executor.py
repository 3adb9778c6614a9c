"""Running an execution in the worker, step by step, with rollback in reverse order.

Concurrency and crashes:

- **lease**: a job first takes the execution's lease by conditional update (runnable, and no
  lease or a lapsed one). A second job for the same execution finds it held and does nothing.
  The lease lasts the current step's timeout plus a grace; ``resume_executions`` (periodic)
  re-defers runnable executions whose lease lapsed: their worker died.
- **claim**: each step moves ``pending → running`` by conditional update, committed before the
  step runs; its result is written ``running → succeeded|failed``. A step found ``running``
  when a job takes the lease was interrupted mid-way by a dead worker: nobody knows whether it
  ran, so it becomes ``unknown`` and the execution stops for a human (``needs_attention``);
  nothing is rerun or rolled back automatically. A worker that died *between* steps left no
  step running: the next job goes on with the next pending step, never rerunning a finished one.
- **rollback**: a failed step (or a cancel) rolls back every completed step, and the failed
  step's partial work when it declares a rollback, newest first; each rollback is claimed the
  same way. A failed rollback ends the execution ``rollback_failed`` and alerts the owning team.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from itsm.models import AutomationEvent
from itsm.notify import notify
from runbooks import crypto, signals, transports
from runbooks.models import (
    ExecutionStatus,
    ExecutionStep,
    RollbackStatus,
    RunbookExecution,
    StepStatus,
)
from runbooks.structures import Action, Step, render_body, render_command, render_path
from tickets.actions import do_add_comment, do_transition_ticket
from tickets.models.ticket import IllegalTransition

logger = logging.getLogger(__name__)
LEASE_GRACE = timedelta(seconds=60)
ACTOR = "system:runbooks"


def _event(execution: RunbookExecution, action: str, **after: Any) -> None:
    AutomationEvent.objects.record(
        actor=ACTOR,
        action=f"runbooks.{action}",
        subject=("runbook_execution", execution.pk),
        after={"ticket": execution.ticket_id, **after},
        trace_id=execution.trace_id,
    )


class Runner:
    def __init__(self, execution_id: int) -> None:
        self.execution_id = execution_id
        self.token = uuid.uuid4()

    # --- lease ------------------------------------------------------------------------------
    def take_lease(self) -> bool:
        now = timezone.now()
        taken = (
            RunbookExecution.objects.filter(pk=self.execution_id)
            .lease_lapsed(now)
            .update(lease_until=now + LEASE_GRACE, runner=self.token)
        )
        return bool(taken)

    def extend_lease(self, seconds: int) -> None:
        RunbookExecution.objects.filter(pk=self.execution_id, runner=self.token).update(
            lease_until=timezone.now() + timedelta(seconds=seconds) + LEASE_GRACE
        )

    def set_status(self, status: str, **fields: Any) -> bool:
        """Compare-and-set on our lease: a job that lost it writes nothing."""
        return bool(
            RunbookExecution.objects.filter(pk=self.execution_id, runner=self.token).update(
                status=status, **fields
            )
        )

    def release(self, status: str | None = None, **fields: Any) -> None:
        if status is not None:
            fields["status"] = status
        RunbookExecution.objects.filter(pk=self.execution_id, runner=self.token).update(
            lease_until=None, runner=None, **fields
        )

    # --- the loop -----------------------------------------------------------------------------
    def run(self) -> str:
        if not self.take_lease():
            return "held by another worker, or nothing to run"
        execution = RunbookExecution.objects.select_related("version", "ticket", "item", "runbook").get(
            pk=self.execution_id
        )
        if execution.status == ExecutionStatus.QUEUED:
            self.set_status(ExecutionStatus.RUNNING, started_at=timezone.now())
            execution.status = ExecutionStatus.RUNNING
            _event(execution, "execution_started", runbook=execution.runbook.name)
        steps = execution.version.step_list
        while True:
            execution.refresh_from_db(fields=["status", "cancel_requested_at"])
            if execution.status == ExecutionStatus.ROLLING_BACK:
                return self.roll_back(execution, steps)
            if execution.status != ExecutionStatus.RUNNING:
                self.release()
                return f"stopped: {execution.status}"
            row = (
                ExecutionStep.objects.filter(execution_id=self.execution_id)
                .exclude(status__in=[StepStatus.SUCCEEDED, StepStatus.SKIPPED])
                .order_by("position")
                .first()
            )
            if row is None:
                return self.succeed(execution)
            if row.status in (StepStatus.RUNNING, StepStatus.UNKNOWN):
                return self.interrupted(execution, row)
            if row.status == StepStatus.FAILED:
                self.set_status(ExecutionStatus.ROLLING_BACK)
                continue
            if row.status == StepStatus.WAITING:
                self.release()
                return "waiting for a person"
            if execution.cancel_requested_at is not None:
                self.set_status(ExecutionStatus.ROLLING_BACK)
                continue
            self.run_step(execution, row, steps[row.position])

    def claim(self, row: ExecutionStep, **fields: Any) -> bool:
        return bool(
            ExecutionStep.objects.filter(pk=row.pk, status=StepStatus.PENDING).update(
                status=StepStatus.RUNNING, started_at=timezone.now(), **fields
            )
        )

    def run_step(self, execution: RunbookExecution, row: ExecutionStep, step: Step) -> None:
        if step.type == "manual":
            if ExecutionStep.objects.filter(pk=row.pk, status=StepStatus.PENDING).update(
                status=StepStatus.WAITING, started_at=timezone.now(), rendered=step.instructions
            ):
                self.release(ExecutionStatus.WAITING_MANUAL)
                _event(execution, "manual_step_waiting", step=row.number)
            return
        self.extend_lease(step.timeout)
        rendered = masked(describe(step.type, step.action, execution), row)
        if not self.claim(row, rendered=rendered):
            return  # another job claimed it: the loop reads its state again
        signals.step_started.send(sender=Runner, execution=execution, step=row)
        outcome = perform(step.type, step.action, row, execution, step.timeout)
        failure = outcome.error or step.check.failure(
            exit_code=outcome.exit_code, status=outcome.http_status, output=outcome.output
        )
        never_reached = (
            {"rollback_status": RollbackStatus.NOT_NEEDED} if failure and not outcome.started else {}
        )
        ExecutionStep.objects.filter(pk=row.pk, status=StepStatus.RUNNING).update(
            **never_reached,
            status=StepStatus.FAILED if failure else StepStatus.SUCCEEDED,
            finished_at=timezone.now(),
            exit_code=outcome.exit_code,
            http_status=outcome.http_status,
            output=outcome.output,
            error=failure,
        )
        _event(execution, "step_failed" if failure else "step_succeeded", step=row.number, name=row.name)
        signals.step_finished.send(sender=Runner, execution=execution, step=row, failed=bool(failure))
        if failure:
            self.set_status(
                ExecutionStatus.ROLLING_BACK, summary=f"Step {row.number} ({row.name}) failed: {failure}"
            )

    def interrupted(self, execution: RunbookExecution, row: ExecutionStep) -> str:
        ExecutionStep.objects.filter(pk=row.pk, status=StepStatus.RUNNING).update(
            status=StepStatus.UNKNOWN,
            finished_at=timezone.now(),
            error=_("The worker stopped while this step ran: whether it took effect is unknown."),
        )
        summary = _("Step %(number)s (%(name)s) was interrupted; check the target and decide by hand.") % {
            "number": row.number,
            "name": row.name,
        }
        self.release(ExecutionStatus.NEEDS_ATTENTION, finished_at=timezone.now(), summary=summary)
        _event(execution, "step_unknown", step=row.number)
        alert_team(execution, summary)
        return "needs attention"

    # --- rollback ----------------------------------------------------------------------------
    def roll_back(self, execution: RunbookExecution, steps: list[Step]) -> str:
        ExecutionStep.objects.filter(execution_id=self.execution_id, status=StepStatus.PENDING).update(
            status=StepStatus.SKIPPED
        )
        ExecutionStep.objects.filter(
            execution_id=self.execution_id, status=StepStatus.SKIPPED, rollback_status=RollbackStatus.PENDING
        ).update(rollback_status=RollbackStatus.NOT_NEEDED)
        # A rollback a dead worker left running: unknown whether it undid anything.
        ExecutionStep.objects.filter(
            execution_id=self.execution_id, rollback_status=RollbackStatus.RUNNING
        ).update(
            rollback_status=RollbackStatus.FAILED,
            rollback_finished_at=timezone.now(),
            rollback_error=_("The worker stopped while this rollback ran."),
        )
        to_undo = ExecutionStep.objects.filter(
            execution_id=self.execution_id,
            rollback_status=RollbackStatus.PENDING,
            status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED],
        ).order_by("-position")
        for row in to_undo:
            step = steps[row.position]
            assert step.rollback is not None
            self.extend_lease(step.timeout)
            claimed = ExecutionStep.objects.filter(pk=row.pk, rollback_status=RollbackStatus.PENDING).update(
                rollback_status=RollbackStatus.RUNNING,
                rollback_started_at=timezone.now(),
                rollback_rendered=masked(describe(step.type, step.rollback, execution), row),
            )
            if not claimed:
                continue
            outcome = perform(step.type, step.rollback, row, execution, step.timeout)
            failure = outcome.error or step.check.failure(
                exit_code=outcome.exit_code, status=outcome.http_status, output=""
            )
            ExecutionStep.objects.filter(pk=row.pk, rollback_status=RollbackStatus.RUNNING).update(
                rollback_status=RollbackStatus.FAILED if failure else RollbackStatus.SUCCEEDED,
                rollback_finished_at=timezone.now(),
                rollback_exit_code=outcome.exit_code,
                rollback_http_status=outcome.http_status,
                rollback_output=outcome.output,
                rollback_error=failure,
            )
            _event(execution, "rollback_failed" if failure else "rollback_succeeded", step=row.number)
        failed = ExecutionStep.objects.filter(
            execution_id=self.execution_id, rollback_status=RollbackStatus.FAILED
        ).exists()
        execution.refresh_from_db(fields=["cancel_requested_at", "summary"])
        now = timezone.now()
        if failed:
            summary = (execution.summary + "\n" if execution.summary else "") + _(
                "A rollback failed: the target may be half changed."
            )
            self.release(ExecutionStatus.ROLLBACK_FAILED, finished_at=now, summary=summary)
            alert_team(execution, summary)
            final = ExecutionStatus.ROLLBACK_FAILED
        elif execution.cancel_requested_at is not None and not execution.summary:
            self.release(
                ExecutionStatus.CANCELLED,
                finished_at=now,
                summary=_("Cancelled; completed steps rolled back."),
            )
            final = ExecutionStatus.CANCELLED
        else:
            self.release(ExecutionStatus.FAILED, finished_at=now)
            final = ExecutionStatus.FAILED
        _event(execution, f"execution_{final}")
        note_on_ticket(execution.pk)
        return final

    def succeed(self, execution: RunbookExecution) -> str:
        ExecutionStep.objects.filter(
            execution_id=self.execution_id, rollback_status=RollbackStatus.PENDING
        ).update(rollback_status=RollbackStatus.NOT_NEEDED)
        count = execution.step_runs.count()
        summary = _("All %(count)s steps of “%(name)s” succeeded.") % {
            "count": count,
            "name": execution.runbook.name,
        }
        self.release(ExecutionStatus.SUCCEEDED, finished_at=timezone.now(), summary=summary)
        _event(execution, "execution_succeeded")
        note_on_ticket(execution.pk)
        if execution.version.resolve_on_success:
            resolve_ticket(execution, summary)
        return ExecutionStatus.SUCCEEDED


# --- rendering and performing -------------------------------------------------------------------------
def describe(step_type: str, action: Action, execution: RunbookExecution) -> str:
    values = execution.parameters
    if step_type == "ssh":
        return render_command(action.command, values)
    if step_type == "http":
        return f"{action.method} {render_path(action.path, values)}"
    if step_type == "webhook":
        return f"webhook {action.event}"
    return ""


def masked(text: str, row: ExecutionStep) -> str:
    """``text`` without the step's connection secret (a runbook may quote it by mistake)."""
    if row.connection is None:
        return text
    try:
        return crypto.mask(text, [row.connection.reveal_secret()])
    except crypto.SecretUnreadable:
        return text


def perform(
    step_type: str, action: Action, row: ExecutionStep, execution: RunbookExecution, timeout: int
) -> transports.Outcome:
    connection = row.connection
    if connection is None or not connection.enabled:
        return transports.Outcome(error=_("The step's connection is missing or disabled."))
    values = execution.parameters
    if step_type == "ssh":
        return transports.run_ssh(connection, render_command(action.command, values), timeout)
    if step_type == "http":
        body = render_body(action.body, values) if action.body is not None else None
        return transports.run_http(connection, action.method, render_path(action.path, values), body, timeout)
    payload = {
        "event": action.event,
        "execution": execution.pk,
        "ticket": execution.ticket.number,
        "item": execution.item.name if execution.item_id else None,
        "step": row.name,
        "data": render_body(action.body, values) if action.body is not None else {},
    }
    return transports.run_webhook(connection, payload, timeout)


# --- what people see ---------------------------------------------------------------------------------
def alert_team(execution: RunbookExecution, summary: str) -> None:
    """The owning team (the item's, else the runbook's, else the ticket's) and the requester."""

    team = None
    if execution.item_id and execution.item.owner_team_id:
        team = execution.item.owner_team
    team = team or execution.runbook.owner_team or execution.ticket.team
    people = list(team.members.all()) if team else []
    if team is not None and team.lead_id:
        people.append(team.lead)
    if execution.requested_by_id:
        people.append(execution.requested_by)
    notify(
        people,
        verb="runbook_alert",
        title=_("Runbook “%(name)s” on %(ticket)s: %(status)s")
        % {
            "name": execution.runbook.name,
            "ticket": execution.ticket.number,
            "status": RunbookExecution.objects.get(pk=execution.pk).get_status_display(),
        },
        body=summary,
        url=reverse("runbooks:execution-detail", args=[execution.pk]),
        subject_type="runbook_execution",
        subject_id=execution.pk,
        dedupe_key=f"runbook-alert:{execution.pk}",
        email=True,
    )


def note_on_ticket(execution_id: int) -> None:
    """An internal note with the outcome, on the ticket's timeline."""

    execution = RunbookExecution.objects.select_related("ticket", "runbook").get(pk=execution_id)
    lines = [f"Runbook “{execution.runbook.name}”: {execution.get_status_display()}."]
    if execution.summary:
        lines.append(execution.summary)
    for row in execution.step_runs.order_by("position"):
        rollback = (
            f", rollback {row.get_rollback_status_display().lower()}"
            if row.rollback_status not in ("none", "not_needed")
            else ""
        )
        lines.append(f"{row.number}. {row.name}: {row.get_status_display().lower()}{rollback}")
    try:
        with transaction.atomic():
            do_add_comment(
                execution.ticket, actor=None, body="\n".join(lines), internal=True, author_label=ACTOR
            )
    except Exception:  # a closed ticket refuses notes; the execution's own record stands
        logger.warning("no note on %s for execution %s", execution.ticket.number, execution.pk, exc_info=True)


def resolve_ticket(execution: RunbookExecution, summary: str) -> None:

    try:
        with transaction.atomic():
            do_transition_ticket(
                execution.ticket,
                "resolved",
                actor=None,
                resolution=summary,
                actor_label=ACTOR,
                check_permission=False,
            )
    except IllegalTransition:
        logger.info("execution %s: %s cannot move to resolved", execution.pk, execution.ticket.number)


def run_execution(execution_id: int) -> str:
    return Runner(execution_id).run()


def runnable_without_worker(now=None) -> list[int]:  # type: ignore[no-untyped-def]
    """Executions a job should be running but none holds: queued or running with a lapsed lease."""
    now = now or timezone.now()
    return list(
        RunbookExecution.objects.lease_lapsed(now)
        .filter(Q(lease_until__isnull=False) | Q(created_at__lt=now - LEASE_GRACE))
        .values_list("pk", flat=True)[:500]
    )

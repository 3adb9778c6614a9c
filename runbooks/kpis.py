"""The runbooks app's KPIs (see ``itsm.kpis``): executions, their success, how many ran without a
human, rollbacks, and how long approvals took. Grouped and filtered by the execution's ticket
(``tickets.kpis.scope``: team, priority, category … of the ticket the runbook ran on).

Each function is one query over ``runbooks_runbookexecution`` (alias ``e``) joined to its ticket
``t``:

- requested in the range (``created_at``): ``runbook_executions``, ``runbook_auto_run_share``;
- finished in the range (``finished_at``): ``runbook_success_rate``, ``runbook_rollbacks``,
  ``runbook_rollback_failed``;
- approved in the range (the approval's ``decided_at``): ``runbook_approval_minutes``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _

from itsm import kpis
from itsm.approvals.models import ApprovalRequest, ApprovalStatus
from itsm.kpis import KPI, Computed, Unit, Window
from runbooks.actions import APPROVAL_KIND
from runbooks.models import (
    ExecutionStatus,
    ExecutionStep,
    RollbackStatus,
    RunbookExecution,
)
from tickets.kpis import minutes, run, scope, stats_sql

EXECUTIONS = RunbookExecution._meta.db_table
STEPS = ExecutionStep._meta.db_table
APPROVALS = ApprovalRequest._meta.db_table
# Executions that ran and came to an end of their own: the denominator of the success rate
# (rejected and cancelled ones were stopped by people, not by their steps).
RAN = (
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.FAILED,
    ExecutionStatus.ROLLBACK_FAILED,
    ExecutionStatus.NEEDS_ATTENTION,
)
ROLLED_BACK = (RollbackStatus.SUCCEEDED, RollbackStatus.FAILED)


# The runbook-execution approval requests of the execution ``e``.
APPROVALS_OF_E = (
    f"SELECT 1 FROM {APPROVALS} a WHERE a.target_type_id = %(execution_type)s"  # noqa: S608 - table names
    " AND a.target_id = e.id AND a.kind = %(kind)s"
)


def _params(window: Window) -> dict:
    return {
        **window.params,
        "execution_type": ContentType.objects.get_for_model(RunbookExecution).pk,
        "kind": APPROVAL_KIND,
        "ran": list(RAN),
        "rolled_back": list(ROLLED_BACK),
        "succeeded": ExecutionStatus.SUCCEEDED,
        "rollback_failed": ExecutionStatus.ROLLBACK_FAILED,
        "approved": ApprovalStatus.APPROVED,
    }


def compute_requested(window: Window, names: Sequence[str]) -> Computed:
    """Executions requested in the range; the share that ran with no approval asked (``auto``)."""
    joins, group, conditions = scope(window)
    sql = (
        f"SELECT {window.bucket('e.created_at')} AS b, {group} AS g, count(*),"  # noqa: S608
        f" count(*) FILTER (WHERE NOT EXISTS ({APPROVALS_OF_E}))"
        f" FROM {EXECUTIONS} e JOIN tickets_ticket t ON t.id = e.ticket_id {joins}"
        f" WHERE e.created_at >= %(start)s AND e.created_at < %(end)s{conditions}"
        " GROUP BY 1, 2"
    )
    return {
        (bucket, key): {
            "runbook_executions": requested,
            "runbook_auto_run_share": kpis.ratio(unattended, requested),
        }
        for bucket, key, requested, unattended in run(sql, _params(window))
    }


def compute_finished(window: Window, names: Sequence[str]) -> Computed:
    """Executions finished in the range: the success rate of those that ran, rollbacks, failed rollbacks."""
    joins, group, conditions = scope(window)
    sql = (
        f"SELECT {window.bucket('e.finished_at')} AS b, {group} AS g,"  # noqa: S608
        " count(*) FILTER (WHERE e.status = ANY(%(ran)s)),"
        " count(*) FILTER (WHERE e.status = %(succeeded)s),"
        f" count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {STEPS} s WHERE s.execution_id = e.id"
        " AND s.rollback_status = ANY(%(rolled_back)s))),"
        " count(*) FILTER (WHERE e.status = %(rollback_failed)s)"
        f" FROM {EXECUTIONS} e JOIN tickets_ticket t ON t.id = e.ticket_id {joins}"
        f" WHERE e.finished_at >= %(start)s AND e.finished_at < %(end)s{conditions}"
        " GROUP BY 1, 2"
    )
    return {
        (bucket, key): {
            "runbook_success_rate": kpis.ratio(succeeded, ran),
            "runbook_rollbacks": rollbacks,
            "runbook_rollback_failed": rollback_failed,
        }
        for bucket, key, ran, succeeded, rollbacks, rollback_failed in run(sql, _params(window))
    }


def compute_approval_time(window: Window, names: Sequence[str]) -> Computed:
    """Approved runbook executions: minutes from the request to the approval, by its decided_at."""
    joins, group, conditions = scope(window)
    sql = (
        f"SELECT {window.bucket('a.decided_at')} AS b, {group} AS g,"  # noqa: S608
        f" {stats_sql(minutes('a.decided_at - a.created_at'))}"
        f" FROM {APPROVALS} a JOIN {EXECUTIONS} e ON e.id = a.target_id"
        f" JOIN tickets_ticket t ON t.id = e.ticket_id {joins}"
        " WHERE a.target_type_id = %(execution_type)s AND a.kind = %(kind)s AND a.status = %(approved)s"
        f" AND a.decided_at >= %(start)s AND a.decided_at < %(end)s{conditions}"
        " GROUP BY 1, 2"
    )
    return {
        (bucket, key): {"runbook_approval_minutes": kpis.distribution(mean, median, p90)}
        for bucket, key, mean, median, p90 in run(sql, _params(window))
    }


def register() -> None:
    for kpi in (
        KPI(
            "runbook_executions",
            _("Runbook executions"),
            Unit.COUNT,
            "Runbook executions requested in the range (created_at), whatever became of them: run, "
            "rejected, cancelled. Grouped by the execution's ticket.",
            compute_requested,
        ),
        KPI(
            "runbook_auto_run_share",
            _("Runbooks run without a human"),
            Unit.RATE,
            "Of the runbook executions requested in the range, the share queued at once with no "
            "approval asked (auto mode, a confident runbook safe to run alone).",
            compute_requested,
        ),
        KPI(
            "runbook_success_rate",
            _("Runbook success rate"),
            Unit.RATE,
            "Of the runbook executions that ran and ended in the range (finished_at: succeeded, "
            "failed, rollback failed, interrupted), the share that succeeded. Rejected and cancelled "
            "ones are left out.",
            compute_finished,
            better="up",
        ),
        KPI(
            "runbook_rollbacks",
            _("Runbook rollbacks"),
            Unit.COUNT,
            "Runbook executions finished in the range with at least one step rolled back (whether "
            "the rollback succeeded or failed).",
            compute_finished,
            better="down",
        ),
        KPI(
            "runbook_rollback_failed",
            _("Failed runbook rollbacks"),
            Unit.COUNT,
            "Runbook executions finished in the range as rollback_failed: a step failed and undoing "
            "the steps before it failed too (the owning team was alerted).",
            compute_finished,
            better="down",
        ),
        KPI(
            "runbook_approval_minutes",
            _("Time to approve a runbook"),
            Unit.MINUTES,
            "Runbook executions approved in the range (the approval's decided_at): minutes from the "
            "request to the approving decision. Mean, median, p90.",
            compute_approval_time,
            distribution=True,
            better="down",
        ),
    ):
        kpis.register(KPI(**{**kpi.__dict__, "app": "runbooks"}))

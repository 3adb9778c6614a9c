"""Runbook workflows: the pages, the API, the admin, the tasks and the commands call these.

connection = do_save_connection(None, actor=admin, values={...}, secret="-----BEGIN OPENSSH…")
runbook = do_create_runbook(actor=admin, name="Restart nginx", version={...})
do_publish_runbook(runbook, actor=admin)
execution = do_request_execution(ticket, runbook, actor=agent, parameters={"service": "nginx"})
do_decide_execution(execution, actor=lead, approve=True, comment="go")   # → queued, worker runs it
do_cancel_execution(execution, actor=agent)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cmdb.models import ConfigurationItem, Environment
from itsm.approvals import actions as approval_actions
from itsm.approvals.approvers import resolve_approvers
from itsm.approvals.models import ApprovalError, ApprovalRequest
from itsm.lib.tasks import defer_once
from itsm.models import AutomationEvent, Team, User
from itsm.notify import notify
from runbooks import matching
from runbooks.models import (
    APPROVER_ROLES,
    KIND_OF_STEP,
    ApproverLead,
    ConnectionKind,
    ExecutionMode,
    ExecutionStatus,
    ExecutionStep,
    InfrastructureConnection,
    RollbackStatus,
    Runbook,
    RunbookExecution,
    RunbookSettings,
    RunbookVersion,
    SshAuth,
    StepStatus,
    VersionStatus,
)
from runbooks.structures import Parameter, parse_criteria, parse_parameters, parse_steps

if TYPE_CHECKING:
    from tickets.models import Ticket

SYSTEM_ACTOR = "system:runbooks"
APPROVAL_KIND = "runbook-execution"
FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")

# Named, not imported: the task module imports this one.
RUN_EXECUTION = "runbooks.tasks.run_execution"


class ExecutionConflict(Exception):
    """The execution is not in a state that allows this (409)."""

    status_code = 409

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _actor_label(actor: User | None) -> str | User:
    return actor if actor is not None else SYSTEM_ACTOR


def check_is_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only admins manage connections, runbooks and their settings."))


def check_is_agent(actor: User | None) -> None:
    if actor is not None and not actor.is_agent:
        raise PermissionDenied(_("Only agents run runbooks."))


# --- settings ------------------------------------------------------------------------------------
def do_update_settings(*, actor: User, mode: str, threshold: float) -> RunbookSettings:
    check_is_admin(actor)
    errors = {}
    if mode not in ExecutionMode.values:
        errors["mode"] = f"Use one of: {', '.join(ExecutionMode.values)}."
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        errors["threshold"] = "A number from 0 to 1."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row = RunbookSettings.objects.select_for_update().get(pk=RunbookSettings.load().pk)
        before = {"mode": row.mode, "threshold": row.threshold}
        row.mode, row.threshold, row.updated_by = mode, float(threshold), actor
        row.save(update_fields=["mode", "threshold", "updated_by", "updated_at"])
        if before != {"mode": row.mode, "threshold": row.threshold}:
            AutomationEvent.objects.record(
                actor=actor,
                action="runbooks.settings_changed",
                subject=("runbook_settings", row.pk),
                before=before,
                after={"mode": row.mode, "threshold": row.threshold},
            )
    return row


# --- connections ---------------------------------------------------------------------------------
CONNECTION_FIELDS = (
    "name",
    "kind",
    "enabled",
    "description",
    "host",
    "port",
    "username",
    "ssh_auth",
    "host_key_fingerprint",
    "base_url",
    "auth_header",
    "default_for_environments",
)


def clean_connection(connection: InfrastructureConnection, *, will_have_secret: bool) -> None:
    """The rules of each kind (raises ValidationError naming the fields)."""
    errors: dict[str, str] = {}
    connection.name = (connection.name or "").strip()
    if not connection.name:
        errors["name"] = "A name is required."
    elif (
        InfrastructureConnection.objects.filter(name__iexact=connection.name)
        .exclude(pk=connection.pk)
        .exists()
    ):
        errors["name"] = "A connection of this name exists already."
    if connection.kind not in ConnectionKind.values:
        errors["kind"] = f"Use one of: {', '.join(ConnectionKind.values)}."
    if not isinstance(connection.port, int) or not 1 <= connection.port <= 65535:
        errors["port"] = "A port from 1 to 65535."
    unknown = set(connection.default_for_environments or []) - set(Environment.values)
    if unknown:
        errors["default_for_environments"] = f"Use environments among: {', '.join(Environment.values)}."
    if connection.kind == ConnectionKind.SSH:
        if not connection.host.strip():
            errors["host"] = "An SSH connection needs a host."
        if not connection.username.strip():
            errors["username"] = "An SSH connection needs a user."
        if connection.ssh_auth not in SshAuth.values:
            errors["ssh_auth"] = f"Use one of: {', '.join(SshAuth.values)}."
        if not FINGERPRINT.match(connection.host_key_fingerprint.strip()):
            errors["host_key_fingerprint"] = (
                "The server's host key fingerprint, SHA256:… as `ssh-keygen -lf` prints it "
                "(unknown host keys are refused)."
            )
        if not will_have_secret:
            errors["secret"] = "An SSH connection needs its private key or password."  # noqa: S105 - a message
    elif connection.kind in (ConnectionKind.HTTP, ConnectionKind.WEBHOOK):
        if not re.match(r"^https?://[^\s/]+", connection.base_url or ""):
            errors["base_url"] = "An http:// or https:// address."
        if connection.auth_header and not re.match(r"^[A-Za-z0-9-]{1,100}$", connection.auth_header):
            errors["auth_header"] = "A header name (letters, digits, -)."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def do_save_connection(
    connection: InfrastructureConnection | None,
    *,
    actor: User | None,
    values: dict[str, Any],
    secret: str | None = None,
    items: list[ConfigurationItem] | None = None,
) -> InfrastructureConnection:
    """Create or change a connection. ``secret`` None keeps the stored one; "" clears it.

    The secret is encrypted before the row is written and never returned; the audit event
    says only that it changed.
    """
    check_is_admin(actor)
    unknown = set(values) - set(CONNECTION_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    created = connection is None
    connection = connection or InfrastructureConnection()
    before = {name: getattr(connection, name) for name in CONNECTION_FIELDS} if not created else {}
    for name, value in values.items():
        setattr(connection, name, value.strip() if isinstance(value, str) else value)
    if secret is not None and len(secret) > 20000:
        raise ValidationError({"secret": "At most 20000 characters."})
    clean_connection(
        connection, will_have_secret=bool(secret) if secret is not None else connection.has_secret
    )
    secret_changed = secret is not None and (bool(secret) or connection.has_secret)
    if secret is not None:
        connection.set_secret(secret)
    connection.updated_at = timezone.now()
    connection.save()
    if items is not None:
        connection.items.set(items)
    after = {name: getattr(connection, name) for name in CONNECTION_FIELDS}
    changed = {name: value for name, value in after.items() if before.get(name) != value}
    if secret_changed:
        changed["secret"] = "changed"  # noqa: S105 - the audit says it changed, never what to
    AutomationEvent.objects.record(
        actor=_actor_label(actor),
        action="runbooks.connection_created" if created else "runbooks.connection_changed",
        subject=connection,
        before={name: before[name] for name in changed if name in before},
        after=changed,
    )
    return connection


def connection_for(
    step_type: str, target: str, item: ConfigurationItem | None
) -> InfrastructureConnection | None:
    """The enabled connection a step runs over: the named one, the item's own, or the default
    of the item's environment."""
    kind = KIND_OF_STEP.get(step_type)
    if kind is None:
        return None
    connections = InfrastructureConnection.objects.enabled().filter(kind=kind)
    if target:
        return connections.filter(name=target).first()
    if item is None:
        return None
    return connections.filter(items=item).order_by("name").first() or (
        InfrastructureConnection.objects.default_for(item.environment, kind).order_by("name").first()
    )


# --- runbooks -----------------------------------------------------------------------------------
VERSION_FIELDS = (
    "match",
    "parameters",
    "steps",
    "needs_approval",
    "safe_for_auto",
    "allowed_environments",
    "allow_self_approval",
    "resolve_on_success",
)


def clean_version(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(VERSION_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    parse_criteria(values.get("match"))
    parameters = parse_parameters(values.get("parameters"))
    if "steps" in values:
        parse_steps(values["steps"], parameters)
    for name in ("needs_approval", "safe_for_auto", "allow_self_approval", "resolve_on_success"):
        if name in values and not isinstance(values[name], bool):
            raise ValidationError({name: "Expected true or false."})
    environments = values.get("allowed_environments", [])
    if not isinstance(environments, list) or set(environments) - set(Environment.values):
        raise ValidationError({"allowed_environments": f"A list among: {', '.join(Environment.values)}."})
    return values


@transaction.atomic
def do_create_runbook(
    *,
    actor: User | None,
    name: str,
    description: str = "",
    owner_team: Team | None = None,
    version: dict[str, Any],
    approvers: Approvers | None = None,
) -> Runbook:
    """A runbook and its first draft; ``approvers`` None keeps the defaults (admins and the
    leads of the runbook's, the ticket's and the item's teams)."""
    check_is_admin(actor)
    name = (name or "").strip()
    if not name or len(name) > 150:
        raise ValidationError({"name": "A name of at most 150 characters is required."})
    if Runbook.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "A runbook of this name exists already."})
    if "steps" not in version:
        raise ValidationError({"steps": "A runbook has at least one step."})
    values = clean_version(version)
    runbook = Runbook.objects.create(name=name, description=description or "", owner_team=owner_team)
    if approvers is not None:
        runbook.approver_roles, runbook.approver_leads = approvers.roles, approvers.leads
        runbook.save(update_fields=["approver_roles", "approver_leads"])
        runbook.approver_users.set(approvers.users)
    RunbookVersion.objects.create(runbook=runbook, number=1, created_by=actor, **values)
    AutomationEvent.objects.record(
        actor=_actor_label(actor), action="runbooks.runbook_created", subject=runbook, after={"name": name}
    )
    return runbook


@transaction.atomic
def do_edit_draft(runbook: Runbook, *, actor: User | None, values: dict[str, Any]) -> RunbookVersion:
    """Change the runbook's draft; without one, a new draft copies the published version first.
    A published version is never changed."""
    check_is_admin(actor)
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    draft = runbook.draft()
    if draft is None:
        published = runbook.published_version()
        base = {name: getattr(published, name) for name in VERSION_FIELDS} if published else {}
        number = (runbook.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        draft = RunbookVersion(runbook=runbook, number=number, created_by=actor, **base)
    merged = {name: getattr(draft, name) for name in VERSION_FIELDS} | dict(values)
    clean_version(merged)
    for name, value in values.items():
        setattr(draft, name, value)
    draft.save()
    return draft


@transaction.atomic
def do_publish_runbook(runbook: Runbook, *, actor: User | None) -> RunbookVersion:
    check_is_admin(actor)
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    draft = runbook.draft()
    if draft is None:
        raise ExecutionConflict(_("There is no draft to publish: edit the runbook first."))
    clean_version({name: getattr(draft, name) for name in VERSION_FIELDS})
    draft.status = VersionStatus.PUBLISHED
    draft.published_at = timezone.now()
    draft.published_by = actor
    draft.save(update_fields=["status", "published_at", "published_by"])
    AutomationEvent.objects.record(
        actor=_actor_label(actor),
        action="runbooks.version_published",
        subject=runbook,
        after={"version": draft.number},
    )
    return draft


@dataclass
class Approvers:
    """Who approves a runbook's executions, checked (``check_approvers``)."""

    roles: list[str]
    leads: list[str]
    users: list[User]


def check_approvers(roles: Any, leads: Any, users: Any) -> Approvers:
    """Roles among admin/agent, leads among ``ApproverLead``, users by email (active agents or
    admins); at least one source. Raises ValidationError naming ``approvers.<part>``."""
    errors: dict[str, str] = {}
    allowed_roles = [str(role) for role in APPROVER_ROLES]
    if (
        not isinstance(roles, list)
        or not all(isinstance(role, str) for role in roles)
        or (set(roles) - set(allowed_roles))
    ):
        errors["approvers.roles"] = _("A list among: %(values)s.") % {"values": ", ".join(allowed_roles)}
    if (
        not isinstance(leads, list)
        or not all(isinstance(lead, str) for lead in leads)
        or (set(leads) - set(ApproverLead.values))
    ):
        errors["approvers.team_leads"] = _("A list among: %(values)s.") % {
            "values": ", ".join(ApproverLead.values)
        }
    found: list[User] = []
    if not isinstance(users, list) or not all(isinstance(user, str | User) for user in users):
        errors["approvers.users"] = _("A list of email addresses.")
    else:
        emails = {user.email.lower() if isinstance(user, User) else user.strip().lower() for user in users}
        found = list(User.objects.filter(email__in=emails).order_by("email"))
        staff = [user for user in found if user.is_agent]
        missing = sorted(emails - {user.email.lower() for user in staff})
        if missing:
            errors["approvers.users"] = _("Not an active agent or admin: %(emails)s.") % {
                "emails": ", ".join(missing)
            }
        found = staff
    if not errors and not (roles or leads or found):
        errors["approvers"] = _("Name at least one approver: a role, a team lead or a person.")
    if errors:
        raise ValidationError(errors)
    return Approvers(roles=list(dict.fromkeys(roles)), leads=list(dict.fromkeys(leads)), users=found)


def approvers_of(runbook: Runbook) -> dict[str, Any]:
    return {
        "roles": list(runbook.approver_roles),
        "team_leads": list(runbook.approver_leads),
        "users": sorted(user.email for user in runbook.approver_users.all()),
    }


@transaction.atomic
def do_set_approvers(runbook: Runbook, *, actor: User | None, approvers: Approvers) -> Runbook:
    """Who approves the runbook's executions from now on (requests already made keep theirs)."""
    check_is_admin(actor)
    caller, runbook = runbook, Runbook.objects.select_for_update().get(pk=runbook.pk)
    before = approvers_of(runbook)
    runbook.approver_roles, runbook.approver_leads = approvers.roles, approvers.leads
    runbook.save(update_fields=["approver_roles", "approver_leads"])
    runbook.approver_users.set(approvers.users)
    caller.approver_roles, caller.approver_leads = runbook.approver_roles, runbook.approver_leads
    after = approvers_of(runbook)
    if before != after:
        AutomationEvent.objects.record(
            actor=_actor_label(actor),
            action="runbooks.approvers_changed",
            subject=runbook,
            before=before,
            after=after,
        )
    return runbook


# --- executions: request --------------------------------------------------------------------------
def source_values(ticket: Ticket, item: ConfigurationItem | None) -> dict[str, str]:
    """What ``Parameter.source`` can name."""
    values = {
        "ticket.number": ticket.number,
        "ticket.title": ticket.title,
        "ticket.service": ticket.service or "",
        "ticket.category": ticket.category.name if ticket.category_id else "",
    }
    if item is not None:
        host = (item.hostnames or [None])[0] or (item.ip_addresses or [None])[0] or item.name
        values |= {
            "ci.name": item.name,
            "ci.host": str(host),
            "ci.environment": item.environment,
            "ci.type": item.type,
        }
    return values


def check_parameters(
    parameters: list[Parameter], given: Any, ticket: Ticket, item: ConfigurationItem | None
) -> dict[str, Any]:
    """The execution's values: given, else from the ticket or item, else the default; each
    validated by its type (ValidationError naming ``parameters.<name>``)."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ValidationError({"parameters": "Expected an object of name: value."})
    known = {parameter.name for parameter in parameters}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValidationError({"parameters": f"Unknown parameters: {', '.join(unknown)}."})
    sources = source_values(ticket, item)
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.name in given:
            value = given[parameter.name]
        elif parameter.source and sources.get(parameter.source):
            value = sources[parameter.source]
        elif parameter.default is not None:
            value = parameter.default
        elif not parameter.required:
            value = ""
        else:
            errors[f"parameters.{parameter.name}"] = "This parameter is required."
            continue
        try:
            values[parameter.name] = parameter.clean(value)
        except ValidationError as error:
            errors |= error.message_dict
    if errors:
        raise ValidationError(errors)
    return values


def approvers_for(execution: RunbookExecution) -> list[User]:
    """Who the runbook says approves this execution (its roles, the leads it names, its users)."""
    runbook = execution.runbook
    teams = {
        ApproverLead.RUNBOOK_TEAM: runbook.owner_team_id,
        ApproverLead.TICKET_TEAM: execution.ticket.team_id,
        ApproverLead.ITEM_TEAM: execution.item.owner_team_id if execution.item_id else None,
    }
    return resolve_approvers(
        users=runbook.approver_users.all(),
        roles=runbook.approver_roles,
        leads_of=[teams[lead] for lead in runbook.approver_leads if lead in teams],
    )


def needs_human(version: RunbookVersion, mode: RunbookSettings, confidence: float | None) -> bool:
    """Approval unless the organisation runs in ``auto``, the runbook is safe for it and needs
    no approval, and the match is confident enough."""
    return (
        mode.mode != ExecutionMode.AUTO
        or version.needs_approval
        or not version.safe_for_auto
        or confidence is None
        or confidence < mode.threshold
    )


@transaction.atomic
def do_request_execution(
    ticket: Ticket,
    runbook: Runbook,
    *,
    actor: User | None,
    parameters: Any = None,
    item: ConfigurationItem | None = None,
) -> RunbookExecution:
    """Check everything, then write the execution and its steps: waiting for approval, or
    queued for the worker (``auto`` rules). Any refusal raises before a row is written."""
    check_is_agent(actor)
    version = runbook.published_version() if runbook.active else None
    if version is None:
        raise ValidationError({"runbook": _("This runbook has no published version to run.")})
    match = next((m for m in matching.match_ticket(ticket, versions=[version])), None)
    confidence = match.confidence if match else 0.0
    if item is None:
        item = matching.item_for(version, matching.affected_items(ticket))
    if not version.is_allowed_in(item.environment if item else None):
        where = item.get_environment_display() if item else _("no affected item")
        raise ValidationError(
            {"runbook": _("This runbook is not allowed here (%(where)s).") % {"where": where}}
        )
    values = check_parameters(version.parameter_list, parameters, ticket, item)
    steps = []
    for position, step in enumerate(version.step_list):
        connection = None
        if step.type != "manual":
            connection = connection_for(step.type, step.target, item)
            if connection is None:
                raise ValidationError(
                    {
                        "runbook": _(
                            "Step %(number)s (%(name)s) has no enabled %(kind)s connection for this item."
                        )
                        % {"number": position + 1, "name": step.name, "kind": step.type}
                    }
                )
        steps.append(
            ExecutionStep(
                position=position,
                name=step.name,
                type=step.type,
                connection=connection,
                rollback_status=RollbackStatus.PENDING if step.has_rollback else RollbackStatus.NONE,
            )
        )
    mode = RunbookSettings.load()
    human = needs_human(version, mode, confidence)
    if RunbookExecution.objects.active().filter(ticket=ticket, runbook=runbook).exists():
        raise ExecutionConflict(
            _("“%(name)s” is already waiting or running on this ticket; nothing was started.")
            % {"name": runbook.name}
        )
    execution = RunbookExecution(
        runbook=runbook,
        version=version,
        ticket=ticket,
        item=item,
        parameters=values,
        label=f"{runbook.name} v{version.number} on {ticket.number}"[:300],
        confidence=confidence,
        mode=mode.mode,
        requested_by=actor,
        requested_by_label="" if actor else SYSTEM_ACTOR,
        status=ExecutionStatus.PENDING_APPROVAL if human else ExecutionStatus.QUEUED,
    )
    try:
        # The partial unique index settles two requests racing past the check above.
        with transaction.atomic():
            execution.save()
    except IntegrityError as error:
        raise ExecutionConflict(
            _("“%(name)s” is already waiting or running on this ticket; nothing was started.")
            % {"name": runbook.name}
        ) from error
    for step in steps:
        step.execution = execution
    ExecutionStep.objects.bulk_create(steps)
    AutomationEvent.objects.record(
        actor=_actor_label(actor),
        action="runbooks.execution_requested",
        subject=ticket,
        after={
            "execution": execution.pk,
            "runbook": runbook.name,
            "version": version.number,
            "status": execution.status,
        },
        reason=f"confidence {confidence:.2f}" + (f" ({'; '.join(match.reasons)})" if match else ""),
        trace_id=execution.trace_id,
    )
    if human:
        approval_actions.do_request_approval(
            execution,
            requested_by=actor,
            requested_by_label=SYSTEM_ACTOR if actor is None else "",
            approvers=approvers_for(execution),
            summary=f"Run “{runbook.name}” v{version.number} on {ticket.number}"[:300],
            details=describe_plan(execution, version),
            kind=APPROVAL_KIND,
            allow_self_approval=version.allow_self_approval,
        )
    else:
        defer_run(execution)
    return execution


def describe_plan(execution: RunbookExecution, version: RunbookVersion) -> str:
    lines = [f"Item: {execution.item.name if execution.item_id else '—'}"]
    lines += [f"{name} = {value}" for name, value in execution.parameters.items()]
    lines += [f"{index + 1}. {step.name} ({step.type})" for index, step in enumerate(version.step_list)]
    return "\n".join(lines)


def defer_run(execution: RunbookExecution) -> None:

    # In the transaction that queues it: the job and the state commit (or roll back) together.
    defer_once(RUN_EXECUTION, lock=f"runbook-execution:{execution.pk}", execution_id=execution.pk)


# --- executions: approve, reject, cancel, confirm ---------------------------------------------------
def pending_approval_of(execution: RunbookExecution) -> ApprovalRequest | None:
    return ApprovalRequest.objects.for_target(execution).filter(kind=APPROVAL_KIND).pending().first()


def do_decide_execution(
    execution: RunbookExecution, *, actor: User, approve: bool, comment: str = ""
) -> RunbookExecution:
    """Approve or reject through the approvals core; ``on_approval_decided`` moves the execution."""
    approval = pending_approval_of(execution)
    if approval is None or execution.status != ExecutionStatus.PENDING_APPROVAL:
        raise ExecutionConflict(_("This execution does not wait for an approval; nothing was changed."))
    approval_actions.do_decide_approval(approval, actor=actor, approve=approve, comment=comment)
    execution.refresh_from_db()
    return execution


def on_approval_decided(approval: ApprovalRequest, target: Any, outcome: str, actor: User | None) -> None:
    """Approved → queued (and the job deferred); rejected, expired, withdrawn → rejected."""
    if not isinstance(target, RunbookExecution) or approval.kind != APPROVAL_KIND:
        return
    new = ExecutionStatus.QUEUED if outcome == "approved" else ExecutionStatus.REJECTED
    fields: dict[str, Any] = {"status": new}
    if new == ExecutionStatus.REJECTED:
        fields |= {"finished_at": timezone.now(), "summary": f"Not run: approval {outcome}."}
    changed = RunbookExecution.objects.filter(pk=target.pk, status=ExecutionStatus.PENDING_APPROVAL).update(
        **fields
    )
    if not changed:
        return
    if new == ExecutionStatus.REJECTED:
        ExecutionStep.objects.filter(execution=target).update(
            status=StepStatus.SKIPPED, rollback_status=RollbackStatus.NONE
        )
    target.refresh_from_db()
    AutomationEvent.objects.record(
        actor=_actor_label(actor),
        action=f"runbooks.execution_{outcome}",
        subject=target.ticket,
        before={"execution": target.pk, "status": ExecutionStatus.PENDING_APPROVAL},
        after={"execution": target.pk, "status": new},
        trace_id=target.trace_id,
    )
    if approval.requested_by_id is None:
        tell_assignee_settled(target, approval, outcome)
    if new == ExecutionStatus.QUEUED:
        defer_run(target)


SETTLED_TITLES = {
    "approved": lambda name, number: (
        _("Runbook “%(name)s” on %(ticket)s was approved: it runs now.") % {"name": name, "ticket": number}
    ),
    "rejected": lambda name, number: (
        _("Runbook “%(name)s” on %(ticket)s was rejected: nothing runs.") % {"name": name, "ticket": number}
    ),
    "expired": lambda name, number: (
        _("Runbook “%(name)s” on %(ticket)s expired without a decision.") % {"name": name, "ticket": number}
    ),
    "cancelled": lambda name, number: (
        _("Runbook “%(name)s” on %(ticket)s was withdrawn.") % {"name": name, "ticket": number}
    ),
}


def tell_assignee_settled(execution: RunbookExecution, approval: ApprovalRequest, outcome: str) -> None:
    """Automation asked (``auto`` mode), so the approvals core has no requester to tell: the
    ticket's assignee hears the outcome instead (bell and mail, once per approval)."""
    assignee = execution.ticket.assignee
    title = SETTLED_TITLES.get(outcome)
    if assignee is None or title is None:
        return
    with translation.override(assignee.language or settings.LANGUAGE_CODE):
        text = title(execution.runbook.name, execution.ticket.number)
    decision = approval.decisions.order_by("-decided_at", "-id").first()
    notify(
        [assignee],
        verb=f"runbook_approval_{outcome}",
        title=text,
        body=decision.comment if decision is not None else approval.closed_reason,
        url=reverse("runbooks:execution-detail", args=[execution.pk]),
        subject_type="runbook_execution",
        subject_id=execution.pk,
        dedupe_key=f"runbook-approval-settled:{approval.pk}",
        email=settings.APPROVAL_EMAILS,
    )


@transaction.atomic
def do_cancel_execution(execution: RunbookExecution, *, actor: User) -> RunbookExecution:
    """Not started: cancelled at once. Running: the worker stops after the current step and
    rolls back what was done. Finished: 409."""
    check_is_agent(actor)
    execution = RunbookExecution.objects.select_for_update().get(pk=execution.pk)
    if execution.is_finished:
        raise ExecutionConflict(
            _("This execution is already %(status)s; nothing was changed.")
            % {"status": execution.get_status_display().lower()}
        )
    if execution.cancel_requested_at is not None:
        raise ExecutionConflict(_("Cancelling was already asked for; the execution is stopping."))
    now = timezone.now()
    execution.cancel_requested_at, execution.cancel_requested_by = now, actor
    fields = ["cancel_requested_at", "cancel_requested_by"]
    if execution.status in (ExecutionStatus.PENDING_APPROVAL, ExecutionStatus.QUEUED):
        previous = execution.status
        execution.status, execution.finished_at = ExecutionStatus.CANCELLED, now
        execution.summary = _("Cancelled before it started.")
        fields += ["status", "finished_at", "summary"]
        execution.save(update_fields=fields)
        ExecutionStep.objects.filter(execution=execution).update(
            status=StepStatus.SKIPPED, rollback_status=RollbackStatus.NONE
        )
        if previous == ExecutionStatus.PENDING_APPROVAL and (approval := pending_approval_of(execution)):
            approval_actions.do_cancel_approval(
                approval, actor=None, actor_label=SYSTEM_ACTOR, reason="execution cancelled"
            )
    else:
        execution.save(update_fields=fields)
        if execution.status == ExecutionStatus.WAITING_MANUAL:
            # No job runs while a person is awaited: one picks the rollback up.
            RunbookExecution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.RUNNING)
            ExecutionStep.objects.filter(execution=execution, status=StepStatus.WAITING).update(
                status=StepStatus.SKIPPED, finished_at=now
            )
            defer_run(execution)
    AutomationEvent.objects.record(
        actor=actor,
        action="runbooks.execution_cancel_requested",
        subject=execution.ticket,
        after={"execution": execution.pk, "status": execution.status},
        trace_id=execution.trace_id,
    )
    execution.refresh_from_db()
    return execution


@transaction.atomic
def do_confirm_manual_step(
    execution: RunbookExecution, *, actor: User, done: bool = True, note: str = ""
) -> RunbookExecution:
    """A person did (or could not do) the manual step the execution waits for."""
    check_is_agent(actor)
    execution = RunbookExecution.objects.select_for_update().get(pk=execution.pk)
    step = execution.step_runs.filter(status=StepStatus.WAITING).first()
    if execution.status != ExecutionStatus.WAITING_MANUAL or step is None:
        raise ExecutionConflict(_("This execution does not wait for a manual step; nothing was changed."))
    now = timezone.now()
    updated = ExecutionStep.objects.filter(pk=step.pk, status=StepStatus.WAITING).update(
        status=StepStatus.SUCCEEDED if done else StepStatus.FAILED,
        finished_at=now,
        confirmed_by=actor,
        output=(note or "")[:2000],
        error="" if done else _("Not done: %(note)s") % {"note": note or "—"},
    )
    if not updated:
        raise ExecutionConflict(_("This step was decided already; nothing was changed."))
    RunbookExecution.objects.filter(pk=execution.pk).update(
        status=ExecutionStatus.RUNNING if done else ExecutionStatus.ROLLING_BACK
    )
    AutomationEvent.objects.record(
        actor=actor,
        action="runbooks.manual_step_confirmed" if done else "runbooks.manual_step_refused",
        subject=execution.ticket,
        after={"execution": execution.pk, "step": step.number},
        trace_id=execution.trace_id,
    )
    defer_run(execution)
    execution.refresh_from_db()
    return execution


@dataclass
class AutoOutcome:
    execution: RunbookExecution | None
    reason: str


def do_match_new_ticket(ticket: Ticket) -> AutoOutcome:
    """``auto`` mode: a confident best match gets an execution (run at once, or waiting for
    approval when the runbook is not safe for it). Once per ticket."""
    mode = RunbookSettings.load()
    if mode.mode != ExecutionMode.AUTO:
        return AutoOutcome(None, "mode is hil")
    if RunbookExecution.objects.filter(ticket=ticket, requested_by__isnull=True).exists():
        return AutoOutcome(None, "already matched")
    matches = [match for match in matching.match_ticket(ticket) if not match.blocked]
    if not matches or matches[0].confidence < mode.threshold:
        return AutoOutcome(None, "no runbook reaches the threshold")
    best = matches[0]
    try:
        execution = do_request_execution(ticket, best.runbook, actor=None, item=best.item)
    except (ValidationError, ApprovalError, ExecutionConflict) as error:
        return AutoOutcome(None, f"not started: {error}")
    return AutoOutcome(execution, execution.status)

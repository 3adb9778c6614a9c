"""Infrastructure connections, runbooks (versions immutable once published), executions and
their steps (append-only), and the organisation's execution mode."""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import TYPE_CHECKING

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm.models import Role
from runbooks import crypto
from runbooks.structures import Criteria, Parameter, Step, parse_criteria, parse_parameters, parse_steps
from tickets.models import Ticket

if TYPE_CHECKING:
    from itsm.models import User


# --- settings --------------------------------------------------------------------------------------
class ExecutionMode(models.TextChoices):
    HIL = "hil", _("Human in the loop: every execution waits for approval")
    AUTO = "auto", _("Automatic when confident, safe and allowed; otherwise approval")


class RunbookSettings(models.Model):
    """The organisation's runbook settings: one row (``RunbookSettings.load()``)."""

    mode = models.CharField(
        _("execution mode"), max_length=4, choices=ExecutionMode.choices, default=ExecutionMode.HIL
    )
    threshold = models.FloatField(
        _("confidence threshold"),
        default=0.8,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_(
            "In automatic mode, a new ticket's best runbook runs without a human from this confidence."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("runbook settings")
        verbose_name_plural = _("runbook settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__gte=0, threshold__lte=1), name="runbook_threshold_range"
            )
        ]

    def __str__(self) -> str:
        return str(_("Runbook settings"))

    @classmethod
    def load(cls) -> RunbookSettings:
        row, _created = cls.objects.get_or_create(pk=1)
        return row


# --- connections ----------------------------------------------------------------------------------
class ConnectionKind(models.TextChoices):
    SSH = "ssh", _("SSH")
    HTTP = "http", _("HTTP")
    WEBHOOK = "webhook", _("Webhook (n8n …)")


class SshAuth(models.TextChoices):
    KEY = "key", _("Private key")
    PASSWORD = "password", _("Password")


# The connection kind each step type runs over.
KIND_OF_STEP = {"ssh": ConnectionKind.SSH, "http": ConnectionKind.HTTP, "webhook": ConnectionKind.WEBHOOK}


class ConnectionQuerySet(models.QuerySet):
    def enabled(self) -> ConnectionQuerySet:
        return self.filter(enabled=True)

    def default_for(self, environment: str, kind: str) -> ConnectionQuerySet:
        return self.enabled().filter(kind=kind, default_for_environments__contains=[environment])


class InfrastructureConnection(models.Model):
    """How to reach a target: SSH (host key pinned), HTTP (base URL + auth header) or a signed
    webhook. The credential is stored encrypted (``crypto``) and is never shown again."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=ConnectionKind.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    description = models.TextField(_("description"), blank=True)
    # SSH
    host = models.CharField(_("host"), max_length=253, blank=True)
    port = models.PositiveIntegerField(
        _("port"), default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    username = models.CharField(_("user"), max_length=100, blank=True)
    ssh_auth = models.CharField(
        _("SSH authentication"), max_length=8, choices=SshAuth.choices, default=SshAuth.KEY
    )
    host_key_fingerprint = models.CharField(
        _("host key fingerprint"),
        max_length=100,
        blank=True,
        help_text=_("SHA256:… as `ssh-keygen -lf` prints it; any other host key is refused."),
    )
    # HTTP and webhook
    base_url = models.URLField(_("base URL"), max_length=500, blank=True)
    auth_header = models.CharField(
        _("auth header name"),
        max_length=100,
        blank=True,
        help_text=_("Authorization, X-Api-Key …; its value is the secret."),
    )
    # The credential: SSH private key or password, HTTP auth header value, webhook signing secret.
    secret_ciphertext = models.TextField(blank=True, editable=False)
    secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    items = models.ManyToManyField(
        "cmdb.ConfigurationItem",
        blank=True,
        related_name="runbook_connections",
        verbose_name=_("configuration items"),
    )
    default_for_environments = ArrayField(
        models.CharField(max_length=10),
        default=list,
        blank=True,
        verbose_name=_("default for environments"),
        help_text=_("Used for items of these environments that have no connection of their own."),
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("infrastructure connection")

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:  # never the secret
        return f"<InfrastructureConnection {self.pk} {self.name} ({self.kind})>"

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_ciphertext)

    def set_secret(self, plain: str) -> None:
        """Encrypt ``plain`` into the row (saved by the caller); an empty value clears it."""
        self.secret_ciphertext = crypto.encrypt(plain) if plain else ""
        self.secret_set_at = timezone.now() if plain else None

    def reveal_secret(self) -> str:
        """The plain credential, for a transport only (raises crypto.SecretUnreadable)."""
        return crypto.decrypt(self.secret_ciphertext) if self.secret_ciphertext else ""

    @property
    def endpoint(self) -> str:
        if self.kind == ConnectionKind.SSH:
            return f"{self.username}@{self.host}:{self.port}"
        return self.base_url


# --- runbooks -------------------------------------------------------------------------------------
class ApproverLead(models.TextChoices):
    """Whose team lead approves an execution of the runbook."""

    RUNBOOK_TEAM = "runbook_team", _("Lead of the runbook's owner team")
    TICKET_TEAM = "ticket_team", _("Lead of the ticket's team")
    ITEM_TEAM = "item_team", _("Lead of the affected item's owner team")


# Roles whose every member may be asked to approve (requesters and viewers decide nothing).
APPROVER_ROLES = (Role.ADMIN, Role.AGENT)


def default_approver_roles() -> list[str]:
    return [Role.ADMIN]


def default_approver_leads() -> list[str]:
    return list(ApproverLead.values)


class Runbook(models.Model):
    """A remedy the desk runs: its versions hold the content (``RunbookVersion``).

    Who approves its executions is the runbook's (not a version's): every member of
    ``approver_roles``, the leads of the teams ``approver_leads`` names, and ``approver_users``
    (``runbooks.actions.approvers_for``). Changing them needs no new version.
    """

    name = models.CharField(_("name"), max_length=150, unique=True)
    description = models.TextField(_("description"), blank=True)
    owner_team = models.ForeignKey(
        "itsm.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runbooks",
        verbose_name=_("owner team"),
    )
    active = models.BooleanField(_("active"), default=True)
    approver_roles = ArrayField(
        models.CharField(max_length=10, choices=[(role.value, role.label) for role in APPROVER_ROLES]),
        default=default_approver_roles,
        blank=True,
        verbose_name=_("approver roles"),
        help_text=_("Every active user of these roles may approve an execution."),
    )
    approver_leads = ArrayField(
        models.CharField(max_length=12, choices=ApproverLead.choices),
        default=default_approver_leads,
        blank=True,
        verbose_name=_("team leads who approve"),
    )
    approver_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="runbooks_to_approve",
        verbose_name=_("named approvers"),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("runbook")

    def __str__(self) -> str:
        return self.name

    def published_version(self) -> RunbookVersion | None:
        return self.versions.filter(status=VersionStatus.PUBLISHED).order_by("-number").first()

    def draft(self) -> RunbookVersion | None:
        return self.versions.filter(status=VersionStatus.DRAFT).first()


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")


class RunbookVersionQuerySet(models.QuerySet):
    def published(self) -> RunbookVersionQuerySet:
        return self.filter(status=VersionStatus.PUBLISHED)

    def current(self) -> RunbookVersionQuerySet:
        """The newest published version of each active runbook."""
        return (
            self.published()
            .filter(runbook__active=True)
            .order_by("runbook_id", "-number")
            .distinct("runbook_id")
        )


class RunbookVersion(models.Model):
    """One version of a runbook. A published version never changes (a trigger refuses UPDATE
    and DELETE): editing works on the runbook's one draft, published as the next number."""

    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    status = models.CharField(
        _("status"), max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    match = models.JSONField(_("match criteria"), default=dict, blank=True)
    parameters = models.JSONField(_("parameters"), default=list, blank=True)
    steps = models.JSONField(_("steps"), default=list)
    needs_approval = models.BooleanField(_("needs approval"), default=True)
    safe_for_auto = models.BooleanField(_("safe to run without a human"), default=False)
    allowed_environments = ArrayField(
        models.CharField(max_length=10), default=list, blank=True, verbose_name=_("environments allowed")
    )
    allow_self_approval = models.BooleanField(_("the requester may approve"), default=False)
    resolve_on_success = models.BooleanField(_("resolve the ticket on success"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = RunbookVersionQuerySet.as_manager()

    class Meta:
        ordering = ["runbook", "-number"]
        verbose_name = _("runbook version")
        constraints = [
            models.UniqueConstraint(fields=["runbook", "number"], name="runbook_version_number_unique"),
            models.UniqueConstraint(
                fields=["runbook"], condition=Q(status="draft"), name="runbook_one_draft"
            ),
        ]
        indexes = [models.Index(fields=["runbook", "status", "-number"], name="runbook_version_idx")]
        triggers = [
            pgtrigger.Protect(
                name="published_immutable",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__status="published"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.runbook} v{self.number}"

    @property
    def is_published(self) -> bool:
        return self.status == VersionStatus.PUBLISHED

    # --- typed views of the JSON ---------------------------------------------------------------
    @cached_property
    def criteria(self) -> Criteria:
        return parse_criteria(self.match)

    @cached_property
    def parameter_list(self) -> list[Parameter]:
        return parse_parameters(self.parameters)

    @cached_property
    def step_list(self) -> list[Step]:
        return parse_steps(self.steps, self.parameter_list)

    def is_allowed_in(self, environment: str | None) -> bool:
        """No list allows every environment; a list allows those it names."""
        return not self.allowed_environments or (environment or "") in self.allowed_environments


# --- executions -----------------------------------------------------------------------------------
class ExecutionStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", _("Waiting for approval")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    WAITING_MANUAL = "waiting_manual", _("Waiting for a manual step")
    ROLLING_BACK = "rolling_back", _("Rolling back")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed, rolled back")
    ROLLBACK_FAILED = "rollback_failed", _("Rollback failed")
    CANCELLED = "cancelled", _("Cancelled")
    REJECTED = "rejected", _("Not approved")
    NEEDS_ATTENTION = "needs_attention", _("Interrupted: needs a human")


ACTIVE_STATUSES = (
    ExecutionStatus.PENDING_APPROVAL,
    ExecutionStatus.QUEUED,
    ExecutionStatus.RUNNING,
    ExecutionStatus.WAITING_MANUAL,
    ExecutionStatus.ROLLING_BACK,
)
# What the worker picks up (a job, or the sweep after a lost job).
RUNNABLE_STATUSES = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.ROLLING_BACK)


class ExecutionQuerySet(models.QuerySet):
    def active(self) -> ExecutionQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)

    def visible_to(self, user: User) -> ExecutionQuerySet:
        """Staff see executions of the tickets they may see; requesters see none."""

        if not user.is_authenticated or not user.is_active or user.is_requester:
            return self.none()
        return self.filter(ticket__in=Ticket.objects.visible_to(user))

    def lease_lapsed(self, now) -> ExecutionQuerySet:  # type: ignore[no-untyped-def]
        """Runnable, and no worker holds it (its lease ran out, or none was taken)."""
        return self.filter(status__in=RUNNABLE_STATUSES).filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        )


class RunbookExecution(models.Model):
    """One run of a runbook version on a ticket (and its matched item). Never deleted."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="executions")
    version = models.ForeignKey(RunbookVersion, on_delete=models.PROTECT, related_name="executions")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.PROTECT, related_name="runbook_executions")
    item = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runbook_executions",
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING_APPROVAL
    )
    parameters = models.JSONField(_("parameters"), default=dict)
    # "Restart nginx v2 on INC-000042": how approvals name it, without reading two more rows.
    label = models.CharField(max_length=300, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    mode = models.CharField(max_length=4, choices=ExecutionMode.choices, default=ExecutionMode.HIL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runbook_executions",
    )
    requested_by_label = models.CharField(max_length=60, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The worker that runs it holds a lease; another job finds it held and leaves it alone.
    lease_until = models.DateTimeField(null=True, blank=True)
    runner = models.UUIDField(null=True, blank=True)
    summary = models.TextField(_("summary"), blank=True)
    trace_id = models.UUIDField(default=uuid.uuid4)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ExecutionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("runbook execution")
        indexes = [
            models.Index(fields=["ticket", "-created_at"], name="runbook_exec_ticket_idx"),
            models.Index(fields=["runbook", "-created_at"], name="runbook_exec_runbook_idx"),
            models.Index(fields=["item", "-created_at"], name="runbook_exec_item_idx"),
            models.Index(
                fields=["lease_until"],
                name="runbook_exec_runnable_idx",
                condition=Q(status__in=["queued", "running", "rolling_back"]),
            ),
        ]
        constraints = [
            # A retried or doubled request does not run a remedy twice on the same ticket.
            models.UniqueConstraint(
                fields=["ticket", "runbook"],
                condition=Q(
                    status__in=["pending_approval", "queued", "running", "waiting_manual", "rolling_back"]
                ),
                name="runbook_one_active_per_ticket",
            )
        ]
        triggers = [pgtrigger.Protect(name="never_deleted", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"#{self.pk} {self.runbook} on {self.ticket_id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return not self.is_active

    @property
    def requester_label(self) -> str:
        return str(self.requested_by) if self.requested_by_id else self.requested_by_label


class StepStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    WAITING = "waiting", _("Waiting for a person")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    UNKNOWN = "unknown", _("Unknown (interrupted)")
    SKIPPED = "skipped", _("Not run")


class RollbackStatus(models.TextChoices):
    NONE = "none", _("No rollback")
    NOT_NEEDED = "not_needed", _("Not needed")
    PENDING = "pending", _("To roll back")
    RUNNING = "running", _("Rolling back")
    SUCCEEDED = "succeeded", _("Rolled back")
    FAILED = "failed", _("Rollback failed")


class ExecutionStep(models.Model):
    """One step of an execution: claimed once (pending → running by conditional update), then
    its result. The rollback has its own claim and result."""

    execution = models.ForeignKey(RunbookExecution, on_delete=models.PROTECT, related_name="step_runs")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=120)
    type = models.CharField(max_length=8)
    connection = models.ForeignKey(
        InfrastructureConnection, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    rendered = models.TextField(blank=True)  # the command or request as run (secrets masked)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rollback_status = models.CharField(
        max_length=10, choices=RollbackStatus.choices, default=RollbackStatus.NONE
    )
    rollback_rendered = models.TextField(blank=True)
    rollback_started_at = models.DateTimeField(null=True, blank=True)
    rollback_finished_at = models.DateTimeField(null=True, blank=True)
    rollback_exit_code = models.IntegerField(null=True, blank=True)
    rollback_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    rollback_output = models.TextField(blank=True)
    rollback_error = models.TextField(blank=True)

    class Meta:
        ordering = ["execution", "position"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "position"], name="runbook_step_position_unique")
        ]
        triggers = [pgtrigger.Protect(name="never_deleted", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.execution_id}#{self.position} {self.name} ({self.status})"

    @property
    def number(self) -> int:
        return self.position + 1

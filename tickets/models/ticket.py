"""The ticket: lifecycle, priority, assignment, visibility. Its status machine lives here only."""

from __future__ import annotations

import contextlib
import functools
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pghistory
import pgtrigger
from django.apps import apps
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector, SearchVectorField
from django.core.exceptions import EmptyResultSet
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm.lib.choices import ChoiceLabels
from itsm.lib.prepared import Prepared
from tickets.models.priority import Impact, Priority, Urgency, override_reason, priority_for

if TYPE_CHECKING:
    from datetime import datetime

    from itsm.models import User


class TicketType(models.TextChoices):
    INCIDENT = "incident", _("Incident")
    SERVICE_REQUEST = "service_request", _("Service request")


TYPE_PREFIX = {TicketType.INCIDENT: "INC", TicketType.SERVICE_REQUEST: "REQ"}


class TicketStatus(models.TextChoices):
    # A request from a catalog item that needs approval waits here until its approver decides.
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    PENDING_CUSTOMER = "pending_customer", _("Pending customer")
    PENDING_VENDOR = "pending_vendor", _("Pending vendor")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


S = TicketStatus
# The one mapping of allowed moves. closed and cancelled are final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    # Out of pending_approval only by the approval's outcome (approved → new; rejected, expired
    # or withdrawn → cancelled); an agent may cancel it. ``tickets.actions`` enforces the rest.
    S.PENDING_APPROVAL: (S.NEW, S.CANCELLED),
    S.NEW: (S.OPEN, S.IN_PROGRESS, S.PENDING_CUSTOMER, S.PENDING_VENDOR, S.RESOLVED, S.CANCELLED),
    S.OPEN: (S.IN_PROGRESS, S.PENDING_CUSTOMER, S.PENDING_VENDOR, S.RESOLVED, S.CANCELLED),
    S.IN_PROGRESS: (S.OPEN, S.PENDING_CUSTOMER, S.PENDING_VENDOR, S.RESOLVED, S.CANCELLED),
    S.PENDING_CUSTOMER: (S.OPEN, S.IN_PROGRESS, S.RESOLVED, S.CANCELLED),
    S.PENDING_VENDOR: (S.OPEN, S.IN_PROGRESS, S.RESOLVED, S.CANCELLED),
    S.RESOLVED: (S.OPEN, S.CLOSED),
    S.CLOSED: (),
    S.CANCELLED: (),
}
# Work for the desk. A request pending approval is not (yet): queues and KPIs leave it out.
OPEN_STATUSES = (S.NEW, S.OPEN, S.IN_PROGRESS, S.PENDING_CUSTOMER, S.PENDING_VENDOR)
# Waiting on someone outside the desk (or for the approval of a request): the SLA clocks pause.
PAUSED_STATUSES = (S.PENDING_APPROVAL, S.PENDING_CUSTOMER, S.PENDING_VENDOR)
# Work on the ticket is over: resolved (may still reopen) or final.
DONE_STATUSES = (S.RESOLVED, S.CLOSED, S.CANCELLED)
# Final: no move out (closed, cancelled).
FINAL_STATUSES = tuple(status for status, moves in TRANSITIONS.items() if not moves)


def status_path(current: str, target: str) -> list[str]:
    """The shortest chain of allowed moves from ``current`` to ``target`` (empty if none)."""
    if current == target:
        return []
    seen = {current}
    queue: deque[tuple[str, list[str]]] = deque([(current, [])])
    while queue:
        status, path = queue.popleft()
        for following in TRANSITIONS.get(status, ()):
            if following in seen:
                continue
            if following == target:
                return [*path, following]
            seen.add(following)
            queue.append((following, [*path, following]))
    return []


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    PORTAL = "portal", _("Portal")
    EMAIL = "email", _("Email")
    API = "api", _("API")
    JIRA = "jira", _("Jira")
    PHONE = "phone", _("Phone")


# Fields whose every change is kept in the immutable audit trail.
AUDITED_FIELDS = ["status", "priority", "assignee", "team", "category", "sensitive"]


class IllegalTransition(Exception):
    """A status move the machine does not allow; the API answers 409 with ``allowed``."""

    def __init__(self, current: str, requested: str, allowed: tuple[str, ...], message: str = "") -> None:
        self.current = current
        self.requested = requested
        self.allowed = list(allowed)
        self.message = message or f"Cannot move a {current} ticket to {requested}."
        super().__init__(self.message)


class ResolutionRequired(IllegalTransition):
    """Resolving needs a resolution summary; the API answers 400 on ``resolution``."""

    def __init__(self, current: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            current, TicketStatus.RESOLVED, allowed, "Resolving a ticket needs a resolution summary."
        )


class StaleTicket(Exception):
    """Someone else saved the ticket after the version the caller edited."""

    def __init__(self, ticket: Ticket, expected_version: int) -> None:
        self.ticket = ticket
        self.expected_version = expected_version
        super().__init__(
            f"{ticket.number} was changed by someone else (version {ticket.version}, "
            f"you edited version {expected_version}). Reload it and try again."
        )


# An agent's teams, read by every list and page that checks what they may see: the SQL written
# once per process (itsm/lib/prepared.py).
def _memberships(users: list[int]) -> models.QuerySet:
    memberships = apps.get_model("itsm", "Team").members.through
    return memberships.objects.filter(user__any_of=users).values_list("team_id")


_team_ids_of = Prepared(_memberships)

# The values each kind of visibility rule takes (``TicketQuerySet.visibility_of``).
VISIBILITY_VALUES = {"all": (), "own": ("user",), "team": ("user", "teams")}


def prepared_per_visibility(build: Callable[..., models.QuerySet], *params: str) -> dict[str, Prepared]:
    """A read prepared once per kind of visibility rule (``itsm/lib/prepared.py``):
    ``build(kind, **params)`` applies ``visibility_rule(kind, …)`` with the kind's values, all
    given as ``Param``s. Run it as ``prepared[kind](**params, **values)`` with what
    ``visibility_of(user)`` returns; the kind ``nobody`` has none (nothing to read)."""
    return {
        kind: Prepared(functools.partial(build, kind), params=(*params, *values))
        for kind, values in VISIBILITY_VALUES.items()
    }


class TicketQuerySet(models.QuerySet):
    def visible_to(self, user: User) -> TicketQuerySet:
        """What a user may see: requesters their own; agents all but others' sensitive; admins all."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        (condition,) = self.visibility(user)
        return self.filter(condition)

    @staticmethod
    def visibility(user: User, *throughs: str) -> list[Q]:
        """``visible_to`` as conditions, on the ticket itself or through relations to it
        (``visibility(user, "source", "target")`` for the two ends of a link): joined rather
        than a subquery of visible ids per relation. One condition per path (the ticket itself
        without paths); an empty ``Q()`` for an admin, one matching nothing for nobody."""
        kind, values = TicketQuerySet.visibility_of(user)
        return TicketQuerySet.visibility_rule(kind, *throughs, **values)

    @staticmethod
    def visibility_of(user: User) -> tuple[str, dict[str, Any]]:
        """Which rule applies to ``user``, and its values: ``nobody`` (signed out or
        deactivated), ``all`` (admins), ``own`` (requesters: ``user``) or ``team`` (agents and
        viewers: ``user`` and the ids of their ``teams``)."""
        if not user.is_authenticated or not user.is_active:
            return "nobody", {}
        if user.is_admin:
            return "all", {}
        if user.is_requester:
            return "own", {"user": user.pk}
        return "team", {"user": user.pk, "teams": [team_id for (team_id,) in _team_ids_of(users=[user.pk])]}

    @staticmethod
    def visibility_rule(kind: str, *throughs: str, user: Any = None, teams: Any = None) -> list[Q]:
        """The rule of one kind for these values, or for the ``Param``s of a query prepared once
        for every user of that kind (``itsm/lib/prepared.py``, the ticket page's ticket)."""
        prefixes = [f"{through}__" for through in throughs] or [""]
        if kind == "nobody":
            return [Q(**{f"{prefix}pk__in": []}) for prefix in prefixes]
        if kind == "all":
            return [Q() for _prefix in prefixes]
        if kind == "own":
            return [Q(**{f"{prefix}requester": user}) for prefix in prefixes]
        return [
            Q(**{f"{prefix}sensitive": False})
            | Q(**{f"{prefix}team__any_of": teams})
            | Q(**{f"{prefix}assignee": user})
            for prefix in prefixes
        ]

    def active(self) -> TicketQuerySet:
        return self.filter(archived=False)

    def open(self) -> TicketQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def unassigned(self) -> TicketQuerySet:
        return self.filter(assignee__isnull=True)

    def critical(self) -> TicketQuerySet:
        return self.filter(priority=Priority.CRITICAL)

    def resolved_after(self, moment: datetime) -> TicketQuerySet:
        """Resolved (or since closed) after ``moment``: what a nightly refit waits for."""
        return self.filter(status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED], resolved_at__gt=moment)

    def requested_by(self, user: User) -> TicketQuerySet:
        return self.filter(requester=user)

    def breakdown(self) -> dict[str, object]:
        """Counts by status, priority, category and team in ONE scan (GROUPING SETS).

        Returns ``{"total", "by_status", "by_priority", "by_category", "by_team"}``; the last two
        are lists of ``{"id", "name", "count"}`` (id None for tickets without one), largest first.
        The scan reads only ``ticket_breakdown_idx`` (an index-only scan); names are joined to
        the few dozen aggregated rows, not to every ticket.
        """
        inner = self.order_by().values(s=F("status"), p=F("priority"), c=F("category_id"), t=F("team_id"))
        try:
            sql, params = inner.query.sql_with_params()
        except EmptyResultSet:
            # A queryset that can match nothing (``none()``: an unknown assignee, say) has no SQL.
            return {"total": 0, "by_status": {}, "by_priority": {}, "by_category": [], "by_team": []}
        category_table = self.model._meta.get_field("category").related_model._meta.db_table
        team_table = self.model._meta.get_field("team").related_model._meta.db_table
        # First one GROUP BY over the four columns (streamed in the index's order, in parallel),
        # then the rollups over those few thousand combinations, then the names.
        query = (
            "SELECT g.*, category.name, team.name FROM ("  # noqa: S608 - table names from the models
            "  SELECT s, p, c, t, GROUPING(s) AS gs, GROUPING(p) AS gp, GROUPING(c) AS gc, SUM(n)::bigint AS n"
            f"  FROM (SELECT s, p, c, t, COUNT(*) AS n FROM ({sql}) AS visible GROUP BY s, p, c, t) AS combos"
            "  GROUP BY GROUPING SETS ((s), (p), (c), (t))"
            f") AS g LEFT JOIN {category_table} AS category ON category.id = g.c"
            f" LEFT JOIN {team_table} AS team ON team.id = g.t"
        )
        by_status: dict[str, int] = {}
        by_priority: dict[str, int] = {}
        by_category: list[dict[str, object]] = []
        by_team: list[dict[str, object]] = []
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            for status, priority, category, team, gs, gp, gc, count, category_name, team_name in cursor:
                if not gs:
                    by_status[status] = count
                elif not gp:
                    by_priority[priority] = count
                elif not gc:
                    by_category.append({"id": category, "name": category_name, "count": count})
                else:
                    by_team.append({"id": team, "name": team_name, "count": count})
        for rows in (by_category, by_team):
            rows.sort(key=lambda row: (-row["count"], str(row["name"] or "")))
        return {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "by_priority": by_priority,
            "by_category": by_category,
            "by_team": by_team,
        }

    def search(self, text: str) -> TicketQuerySet:
        """Full-text match ranked by PostgreSQL, or an exact ticket number."""
        text = text.strip()
        if not text:
            return self
        query = SearchQuery(text, search_type="websearch", config="english")
        # Numbers are stored upper-case: an exact match uses the unique index, so the OR stays indexed.
        return self.filter(Q(search_vector=query) | Q(number=text.upper())).annotate(
            rank=SearchRank(F("search_vector"), query)
        )


def _next_number(ticket_type: str) -> str:
    sequence = (
        "tickets_incident_number_seq" if ticket_type == TicketType.INCIDENT else "tickets_request_number_seq"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT nextval('{sequence}')")  # noqa: S608 - name from a fixed mapping
        value = cursor.fetchone()[0]
    return f"{TYPE_PREFIX[ticket_type]}-{value:06d}"


@pghistory.track(
    pghistory.InsertEvent("created"),
    pghistory.UpdateEvent("changed"),
    fields=AUDITED_FIELDS,
    model_name="TicketAudit",
    obj_field=pghistory.ObjForeignKey(related_name="audit_events", db_index=True),
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class Ticket(ChoiceLabels, models.Model):
    number = models.CharField(_("number"), max_length=20, unique=True, editable=False)
    type = models.CharField(_("type"), max_length=20, choices=TicketType.choices, default=TicketType.INCIDENT)
    title = models.CharField(_("title"), max_length=255)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=TicketStatus.choices, default=TicketStatus.NEW
    )
    impact = models.CharField(_("impact"), max_length=10, choices=Impact.choices, default=Impact.MEDIUM)
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.MEDIUM)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.MEDIUM
    )
    priority_overridden = models.BooleanField(default=False)
    priority_reason = models.CharField(max_length=500, blank=True)
    category = models.ForeignKey(
        "tickets.Category", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    service = models.CharField(_("service"), max_length=120, blank=True)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.WEB)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_tickets"
    )
    organisation = models.ForeignKey(
        "itsm.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    team = models.ForeignKey(
        "itsm.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    linked_entity_type = models.CharField(max_length=60, blank=True)
    linked_entity_id = models.CharField(max_length=120, blank=True)
    sensitive = models.BooleanField(_("sensitive"), default=False)
    archived = models.BooleanField(default=False)
    resolution = models.TextField(_("resolution summary"), blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Set by integrations (the Jira issue key, say); unique when present.
    external_key = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    # Optimistic concurrency: every save bumps it; a save based on an older version is refused.
    version = models.PositiveIntegerField(default=1)
    # Sorting by priority (critical first) reads this stored column and its index.
    priority_rank = models.GeneratedField(
        expression=models.Case(
            models.When(priority=Priority.CRITICAL, then=models.Value(0)),
            models.When(priority=Priority.HIGH, then=models.Value(1)),
            models.When(priority=Priority.MEDIUM, then=models.Value(2)),
            default=models.Value(3),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    search_vector = models.GeneratedField(
        expression=SearchVector("number", weight="A", config="english")
        + SearchVector("title", weight="A", config="english")
        + SearchVector("description", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("ticket")
        indexes = [
            GinIndex(fields=["search_vector"], name="ticket_search_idx"),
            GinIndex(fields=["tags"], name="ticket_tags_idx"),
            models.Index(fields=["-created_at", "-id"], name="ticket_created_idx"),
            models.Index(fields=["-updated_at"], name="ticket_updated_idx"),
            models.Index(fields=["status", "-created_at"], name="ticket_status_idx"),
            models.Index(fields=["priority", "-created_at"], name="ticket_priority_idx"),
            models.Index(fields=["priority_rank", "id"], name="ticket_priority_rank_idx"),
            # Covers the stats breakdown and the visibility test: an index-only scan, not the table.
            models.Index(
                fields=["status", "priority", "category", "team"],
                include=["assignee", "sensitive", "archived"],
                name="ticket_breakdown_idx",
            ),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            models.Index(fields=["team", "status"], name="ticket_team_idx"),
            models.Index(fields=["requester", "-created_at"], name="ticket_requester_idx"),
            models.Index(fields=["organisation"], name="ticket_organisation_idx"),
            models.Index(fields=["category"], name="ticket_category_idx"),
            models.Index(fields=["type", "-created_at"], name="ticket_type_idx"),
            # KPIs: tickets resolved or closed in a range, covering what the resolved-ticket KPIs
            # read of the whole desk (an index-only scan, not a table row per ticket).
            models.Index(
                fields=["resolved_at"],
                include=["created_at", "status", "reopen_count", "assignee", "id"],
                name="ticket_resolved_kpi_idx",
                condition=Q(resolved_at__isnull=False),
            ),
            # KPIs: the open backlog now and its ages, with every grouping's column (a few
            # thousand rows among millions, read from the index alone).
            models.Index(
                fields=["created_at"],
                include=["team", "priority", "category", "assignee", "channel", "type", "organisation"],
                name="ticket_open_backlog_idx",
                condition=Q(status__in=list(OPEN_STATUSES), archived=False),
            ),
            models.Index(
                fields=["closed_at"], name="ticket_closed_idx", condition=Q(closed_at__isnull=False)
            ),
            models.Index(
                fields=["team", "-created_at"],
                name="ticket_unassigned_idx",
                condition=Q(assignee__isnull=True, status__in=list(OPEN_STATUSES)),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["external_key"], condition=~Q(external_key=""), name="ticket_external_key_unique"
            )
        ]
        triggers = [
            # Archive instead of delete: the history of a ticket is never lost.
            pgtrigger.Protect(name="protect_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.number:
            self.number = _next_number(self.type)
        if not self.priority_overridden and not self.pk:
            self.priority = priority_for(self.impact, self.urgency)
        super().save(*args, **kwargs)

    # --- predicates ---------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_paused(self) -> bool:
        return self.status in PAUSED_STATUSES

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def allowed_transitions(self) -> list[str]:
        return list(TRANSITIONS[self.status])

    def offered_transitions(self) -> list[str]:
        """The moves a person may choose (pages, the API's ``allowed_transitions``): a request
        pending approval only leaves by its approval's outcome, or by being cancelled."""
        if self.status == TicketStatus.PENDING_APPROVAL:
            return [TicketStatus.CANCELLED]
        return self.allowed_transitions()

    def can_transition_to(self, status: str) -> bool:
        return status in TRANSITIONS.get(self.status, ())

    def status_path_to(self, target: str) -> list[str]:
        """The moves that take this ticket to ``target`` one allowed step at a time (empty if none)."""
        return status_path(self.status, target)

    def is_visible_to(self, user: User) -> bool:
        return Ticket.objects.visible_to(user).filter(pk=self.pk).exists()

    def can_take_reply_from(self, user: User | None) -> bool:
        """Which tickets take replies from whom: a final ticket (closed, cancelled) takes none
        from its requester or anyone outside the desk (they open a new ticket); the desk
        (agents other than the requester) and automation (a comment mirrored from Jira) may
        still add to its record. Visibility and roles are checked apart (``check_can_comment``)."""
        if user is None or not self.is_final:
            return True
        return user.is_agent and user.pk != self.requester_id

    def can_be_changed_by(self, user: User) -> bool:
        """Agents change tickets; requesters only reply and reopen their own (not here)."""
        return user.is_agent and self.is_visible_to(user)

    # --- changes ----------------------------------------------------------------
    # Each ``stage_*`` checks its rule, sets the attributes and returns the fields that changed;
    # nothing is saved until ``write_changes``. The verbs below stage and write one change; an
    # edit of several fields (``tickets.actions.do_edit_ticket``) stages them all, then writes once.
    def stage_fields(self, values: dict[str, object]) -> list[str]:
        """Plain values (title, tags, assignee, team…); returns the names whose value differs."""
        changed = [name for name, value in values.items() if getattr(self, name) != value]
        for name in changed:
            setattr(self, name, values[name])
        return changed

    def stage_transition(self, status: str, *, resolution: str = "") -> list[str]:
        """Move to ``status`` if the machine allows it, with the timestamps that go with it."""
        if status not in TicketStatus.values:
            raise IllegalTransition(
                self.status, status, TRANSITIONS[self.status], f"Unknown status {status!r}."
            )
        if not self.can_transition_to(status):
            raise IllegalTransition(self.status, status, TRANSITIONS[self.status])
        resolution = (resolution or "").strip()
        if status == TicketStatus.RESOLVED and not resolution:
            # Every resolution says what fixed it, also after a reopen (the old text did not fix it).
            raise ResolutionRequired(self.status, TRANSITIONS[self.status])
        previous = self.status
        now = timezone.now()
        fields = ["status"]
        self.status = status
        if status == TicketStatus.RESOLVED:
            self.resolved_at = now
            self.resolution = resolution
            fields += ["resolved_at", "resolution"]
        elif status == TicketStatus.CLOSED:
            self.closed_at = now
            fields.append("closed_at")
        elif previous == TicketStatus.RESOLVED and status == TicketStatus.OPEN:
            self.reopen_count += 1
            self.resolved_at = None
            fields += ["reopen_count", "resolved_at"]
        return fields

    def stage_priority(self, priority: str, *, reason: str) -> list[str]:
        """Override the matrix priority; an override needs a reason (``override_reason``)."""
        if priority not in Priority.values:
            raise ValueError(f"Unknown priority {priority!r}.")
        return self.stage_fields(
            {"priority": priority, "priority_overridden": True, "priority_reason": override_reason(reason)}
        )

    def stage_impact_urgency(self, *, impact: str, urgency: str) -> list[str]:
        """New impact/urgency; the matrix re-derives the priority unless it was overridden."""
        values: dict[str, object] = {"impact": impact, "urgency": urgency}
        if not self.priority_overridden:
            values["priority"] = priority_for(impact, urgency)
        return self.stage_fields(values)

    def write_changes(
        self,
        fields: list[str],
        *,
        actor: User | None,
        reason: str = "",
        expected_version: int | None = None,
        actor_label: str = "",
    ) -> None:
        """Save ``fields`` in one UPDATE: a compare-and-set on ``version`` (bumped once) and one
        audit context, so the audit trail gets one row for the whole change."""
        now = timezone.now()
        self.updated_at = now
        values = {name: getattr(self, name) for name in fields}
        # Foreign keys are written by their column.
        values = {
            (self._meta.get_field(name).attname if self._meta.get_field(name).is_relation else name): (
                getattr(self, self._meta.get_field(name).attname)
                if self._meta.get_field(name).is_relation
                else value
            )
            for name, value in values.items()
        }
        values["updated_at"] = now
        lookup = {"pk": self.pk}
        if expected_version is not None:
            # Another agent may have saved since this form was rendered: refuse, don't overwrite.
            lookup["version"] = expected_version
        with audited(actor, reason, actor_label):
            updated = Ticket.objects.filter(**lookup).update(version=F("version") + 1, **values)
        if not updated:
            self.refresh_from_db()
            raise StaleTicket(self, expected_version or 0)
        self.version = (expected_version if expected_version is not None else self.version) + 1

    def transition_to(
        self,
        status: str,
        *,
        actor: User | None,
        reason: str = "",
        resolution: str = "",
        expected_version: int | None = None,
        actor_label: str = "",
    ) -> str:
        """Move to ``status`` if the machine allows it; returns the previous status."""
        previous = self.status
        fields = self.stage_transition(status, resolution=resolution)
        self.write_changes(
            fields, actor=actor, reason=reason, expected_version=expected_version, actor_label=actor_label
        )
        return previous

    def resolve(self, *, actor: User | None, resolution: str, **kwargs: object) -> str:
        return self.transition_to(TicketStatus.RESOLVED, actor=actor, resolution=resolution, **kwargs)

    def reopen(self, *, actor: User | None, reason: str = "", **kwargs: object) -> str:
        return self.transition_to(TicketStatus.OPEN, actor=actor, reason=reason, **kwargs)

    def close(self, *, actor: User | None, reason: str = "", **kwargs: object) -> str:
        return self.transition_to(TicketStatus.CLOSED, actor=actor, reason=reason, **kwargs)

    def assign(
        self,
        *,
        to: User | None = None,
        team: object = None,
        actor: User | None,
        expected_version: int | None = None,
        reason: str = "",
        actor_label: str = "",
    ) -> None:
        """Set the assignee (None unassigns) and, when given, the team."""
        fields = self.stage_fields({"assignee": to, **({"team": team} if team is not None else {})})
        if fields:
            self.write_changes(
                fields, actor=actor, reason=reason, expected_version=expected_version, actor_label=actor_label
            )

    def set_priority(
        self,
        priority: str,
        *,
        actor: User | None,
        reason: str,
        expected_version: int | None = None,
        actor_label: str = "",
    ) -> None:
        """Override the matrix priority; the reason is kept in the audit trail."""
        fields = self.stage_priority(priority, reason=reason)
        if fields:
            self.write_changes(
                fields,
                actor=actor,
                reason=self.priority_reason,
                expected_version=expected_version,
                actor_label=actor_label,
            )

    def set_impact_urgency(
        self,
        *,
        impact: str,
        urgency: str,
        actor: User | None,
        expected_version: int | None = None,
        actor_label: str = "",
    ) -> None:
        fields = self.stage_impact_urgency(impact=impact, urgency=urgency)
        if fields:
            self.write_changes(
                fields,
                actor=actor,
                expected_version=expected_version,
                actor_label=actor_label,
                reason=f"impact {impact} × urgency {urgency}",
            )

    def update_fields(
        self,
        fields: dict[str, object],
        *,
        actor: User | None,
        expected_version: int | None = None,
        reason: str = "",
        actor_label: str = "",
    ) -> list[str]:
        """Plain field edits (title, description, category, tags, sensitive…); returns what changed."""
        changed = self.stage_fields(fields)
        if changed:
            self.write_changes(
                changed,
                actor=actor,
                expected_version=expected_version,
                reason=reason,
                actor_label=actor_label,
            )
        return changed

    def archive(self, *, actor: User | None, reason: str = "", actor_label: str = "") -> bool:
        """Tickets are archived, never deleted (a trigger refuses DELETE); returns whether it changed."""
        if self.archived:
            return False
        self.archived = True
        self.write_changes(["archived"], actor=actor, reason=reason, actor_label=actor_label)
        return True

    def unarchive(self, *, actor: User | None, reason: str = "", actor_label: str = "") -> bool:
        if not self.archived:
            return False
        self.archived = False
        self.write_changes(["archived"], actor=actor, reason=reason, actor_label=actor_label)
        return True

    def audit_trail(self, *, last: int | None = None, saves: list[int] | None = None) -> list:
        """The changes of the audited fields, oldest first; with ``last``, those of the newest
        ``last`` saves only; with ``saves``, those of these audit rows (see ``tickets.models.audit``)."""
        from tickets.models.audit import audit_trail  # noqa: PLC0415 - audit reads Ticket's fields

        return audit_trail(self, last=last, saves=saves)

    def mark_first_response(self, at: object = None) -> bool:
        """Sets ``first_response_at`` once (compare-and-set); returns whether this call set it.
        Only ``do_add_comment`` calls it, for the desk's first reply, before ``comment_added``."""
        at = at or timezone.now()
        updated = Ticket.objects.filter(pk=self.pk, first_response_at__isnull=True).update(
            first_response_at=at
        )
        if updated:
            self.first_response_at = at
        return bool(updated)


def audit_context(actor: User | None, reason: str = "", actor_label: str = "") -> dict[str, object]:
    """The metadata stamped on the audit rows. Every key is always present: nested
    ``pghistory.context`` blocks merge into the outer one, and a missing key would let the
    actor or reason of an earlier change leak into this one."""
    if actor is not None:
        return {"actor_id": actor.pk, "actor": actor.email, "reason": reason or ""}
    return {"actor_id": None, "actor": actor_label or "", "reason": reason or ""}


@contextlib.contextmanager
def audited(actor: User | None, reason: str = "", actor_label: str = "") -> Iterator[None]:
    """Writes inside get ``actor`` and ``reason`` on their audit rows.

    pghistory sets its context with ``set_config(…, is_local => true)``: without the reset
    below it would outlive the block until the transaction ends and be stamped on any later
    audited change made in the same transaction by code that sets no context of its own.
    """
    with pghistory.context(**audit_context(actor, reason, actor_label)):
        yield
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pghistory.context_metadata', '', true), set_config('pghistory.context_id', '', true)"
        )


def on_commit(callback: object) -> None:
    transaction.on_commit(callback)

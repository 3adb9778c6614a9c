"""Jira issue ⇄ ticket values, through the mapping tables edited in the admin.

``IssueView`` is a typed reading of an issue as it arrives (webhook v2 shape with wiki
markup, or REST v3 with ADF); ``snapshot()`` is its normalised Jira-side state, compared
with what the link last saw to know what really changed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.conf import settings

from integrations.jira.adf import adf_to_text, text_to_adf, wiki_to_text
from integrations.jira.models import (
    AccountMapping,
    FieldMapping,
    IssueTypeMapping,
    LocalField,
    PriorityMapping,
    StatusMapping,
    stable_hash,
)
from tickets.models import TicketStatus
from tickets.validation import DESCRIPTION_MAX_LENGTH, TAG_MAX_LENGTH, fit_text

# Labels we put on issues we create, to find them again (never copied into ticket tags).
MARKER_PREFIX = "itsm-"
SYNC_LABEL = "itsm-sync"

# Status category keys (Jira) ⇄ ticket statuses, used when no mapping row names the status.
CATEGORY_TO_STATUS = {
    "new": TicketStatus.OPEN,
    "indeterminate": TicketStatus.IN_PROGRESS,
    "done": TicketStatus.RESOLVED,
}
STATUS_TO_CATEGORY = {
    TicketStatus.PENDING_APPROVAL: "new",
    TicketStatus.NEW: "new",
    TicketStatus.OPEN: "new",
    TicketStatus.IN_PROGRESS: "indeterminate",
    TicketStatus.PENDING_CUSTOMER: "indeterminate",
    TicketStatus.PENDING_VENDOR: "indeterminate",
    TicketStatus.RESOLVED: "done",
    TicketStatus.CLOSED: "done",
    TicketStatus.CANCELLED: "done",
}


def parse_jira_datetime(value: Any) -> datetime | None:
    """``2025-03-14T09:26:53.118+0000`` (no colon in the offset), ISO 8601, or epoch millis."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):  # both carry an offset
        try:
            return datetime.strptime(text, pattern)  # noqa: DTZ007 - %z makes it aware
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def normalise_text(text: str) -> str:
    """Whitespace-insensitive form, to compare our text with Jira's rendering of it."""
    return " ".join((text or "").split())


def text_hash(text: str, *, internal: bool = False) -> str:
    return stable_hash({"text": normalise_text(text), "internal": internal})


def mention_name(account_id: str) -> str:
    """``[~accountid:…]`` in wiki markup: the mapped account's name when we know it."""
    name = AccountMapping.objects.filter(account_id=account_id).values_list("display_name", flat=True).first()
    return f"@{name or account_id}"


def rich_to_text(value: Any) -> str:
    """A description or comment body: wiki markup (webhooks), ADF (REST v3) or nothing."""
    if isinstance(value, str):
        return wiki_to_text(value, mention=mention_name if "[~" in value else None)
    if isinstance(value, dict):
        return adf_to_text(value, link_urls=True)
    return ""


def is_internal_comment(comment: dict) -> bool:
    """A JSM internal comment, never shown to customers.

    Any of: ``jsdPublic: false``; the ``sd.public.comment`` comment property with
    ``{"internal": true}`` (present when comments are read with ``expand=properties``); or,
    without ``jsdPublic``, a restricted ``visibility`` (role or group).
    """
    for prop in comment.get("properties") or []:
        if isinstance(prop, dict) and prop.get("key") == "sd.public.comment":
            value = prop.get("value")
            if isinstance(value, dict) and str(value.get("internal")).lower() == "true":
                return True
    if "jsdPublic" in comment:
        return comment.get("jsdPublic") is False or str(comment.get("jsdPublic")).lower() == "false"
    return bool(comment.get("visibility"))


@dataclass(frozen=True)
class Account:
    account_id: str
    display_name: str
    email: str
    account_type: str

    @classmethod
    def parse(cls, value: Any) -> Account | None:
        if not isinstance(value, dict):
            return None
        # The documented example spells it "accoundId"; real deliveries say "accountId".
        account_id = str(value.get("accountId") or value.get("accoundId") or value.get("name") or "")
        return cls(
            account_id=account_id,
            display_name=str(value.get("displayName") or account_id),
            email=str(value.get("emailAddress") or "").lower(),
            account_type=str(value.get("accountType") or ""),
        )

    @property
    def is_customer(self) -> bool:
        return self.account_type == "customer"


def _name(value: Any) -> str:
    return str(value.get("name") or "") if isinstance(value, dict) else ""


def looks_like_sla(value: Any) -> bool:
    return isinstance(value, dict) and "completedCycles" in value and "name" in value


@dataclass
class IssueView:
    id: str
    key: str
    project_key: str
    present: set[str]
    summary: str = ""
    description: str = ""
    status: str = ""
    status_category: str = ""
    priority: str = ""
    issue_type: str = ""
    labels: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    assignee: Account | None = None
    reporter: Account | None = None
    resolution: str = ""
    created: datetime | None = None
    updated: datetime | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    comments: list[dict] = field(default_factory=list)

    @classmethod
    def parse(cls, issue: Any) -> IssueView:
        if not isinstance(issue, dict):
            raise ValueError("The delivery has no issue object.")
        issue_id = str(issue.get("id") or "").strip()
        key = str(issue.get("key") or "").strip()
        if not issue_id or not key:
            raise ValueError("The issue has no id or key.")
        fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
        project = fields.get("project") if isinstance(fields.get("project"), dict) else {}
        project_key = str(project.get("key") or key.rsplit("-", 1)[0]).upper()
        status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
        category = status.get("statusCategory") if isinstance(status.get("statusCategory"), dict) else {}
        comment_field = fields.get("comment")
        comments = comment_field.get("comments") if isinstance(comment_field, dict) else None
        return cls(
            id=issue_id,
            key=key,
            project_key=project_key,
            present=set(fields),
            summary=str(fields.get("summary") or "").strip(),
            description=rich_to_text(fields.get("description")),
            status=_name(status),
            status_category=str(category.get("key") or ""),
            priority=_name(fields.get("priority")),
            issue_type=_name(fields.get("issuetype")),
            labels=[str(label) for label in fields.get("labels") or [] if isinstance(label, str)],
            components=[_name(component) for component in fields.get("components") or [] if _name(component)],
            assignee=Account.parse(fields.get("assignee")),
            reporter=Account.parse(fields.get("reporter")),
            resolution=_name(fields.get("resolution")),
            created=parse_jira_datetime(fields.get("created")),
            updated=parse_jira_datetime(fields.get("updated")),
            fields=fields,
            comments=[comment for comment in comments or [] if isinstance(comment, dict)],
        )

    @staticmethod
    def project_of(issue: Any) -> str:
        """The project key of an issue object (its ``project`` field, else the key's prefix)."""
        if not isinstance(issue, dict):
            return ""
        fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
        project = fields.get("project") if isinstance(fields.get("project"), dict) else {}
        return str(project.get("key") or str(issue.get("key") or "").rsplit("-", 1)[0]).upper()

    @property
    def marker_numbers(self) -> list[str]:
        """Ticket numbers named by our marker labels (``itsm-INC-000042``) on issues we created."""
        return [
            label[len(MARKER_PREFIX) :].upper()
            for label in self.labels
            if label.startswith(MARKER_PREFIX) and label != SYNC_LABEL
        ]

    @property
    def plain_labels(self) -> list[str]:
        return [label for label in self.labels if not label.startswith(MARKER_PREFIX)]

    def sla_fields(self) -> dict[str, dict]:
        return {name: value for name, value in self.fields.items() if looks_like_sla(value)}

    def snapshot(self) -> dict[str, Any]:
        """The normalised Jira-side values present in this delivery (absent fields stay absent)."""
        values: dict[str, Any] = {}
        if "summary" in self.present:
            values["summary"] = self.summary
        if "description" in self.present:
            values["description"] = normalise_text(self.description)
        if "status" in self.present:
            values["status"] = self.status
        if "priority" in self.present:
            values["priority"] = self.priority
        if "issuetype" in self.present:
            values["issuetype"] = self.issue_type
        if "labels" in self.present:
            values["labels"] = sorted(self.plain_labels)
        if "components" in self.present:
            values["components"] = sorted(self.components)
        if "assignee" in self.present:
            values["assignee"] = self.assignee.account_id if self.assignee else None
        for jira_field in Mappings.current().metadata_fields:
            if jira_field in self.present:
                values[f"field:{jira_field}"] = field_text(self.fields.get(jira_field))
        return values


def field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return adf_to_text(value, link_urls=True)
        return str(value.get("value") or value.get("name") or value.get("displayName") or "")
    if isinstance(value, list):
        return ", ".join(field_text(item) for item in value)
    return str(value)


# --- mapping tables -------------------------------------------------------------------------
@dataclass
class Mappings:
    status_in: dict[str, str]
    status_out: dict[str, str]
    priority_in: dict[str, str]
    priority_out: dict[str, tuple[str, str]]
    type_in: dict[str, str]
    type_out: dict[str, tuple[str, str]]
    inbound_fields: dict[str, set[str]]
    outbound_fields: dict[str, set[str]]

    _cached: ClassVar[Mappings | None] = None
    _loaded_at: ClassVar[float] = 0.0

    @classmethod
    def load(cls) -> Mappings:
        inbound: dict[str, set[str]] = {}
        outbound: dict[str, set[str]] = {}
        for row in FieldMapping.objects.all():
            if row.direction in ("inbound", "both"):
                inbound.setdefault(row.local_field, set()).add(row.jira_field)
            if row.direction in ("outbound", "both"):
                outbound.setdefault(row.local_field, set()).add(row.jira_field)
        statuses = list(StatusMapping.objects.all())
        priorities = list(PriorityMapping.objects.all())
        types = list(IssueTypeMapping.objects.all())
        mappings = cls(
            status_in={row.jira_status.casefold(): row.local_status for row in statuses},
            status_out={row.local_status: row.jira_status for row in statuses if row.push},
            priority_in={row.jira_priority.casefold(): row.local_priority for row in priorities},
            priority_out={
                row.local_priority: (row.jira_priority, row.jira_id) for row in priorities if row.push
            },
            type_in={row.jira_issue_type.casefold(): row.ticket_type for row in types},
            type_out={row.ticket_type: (row.jira_issue_type, row.jira_id) for row in types if row.push},
            inbound_fields=inbound,
            outbound_fields=outbound,
        )
        Mappings._cached = mappings
        Mappings._loaded_at = time.monotonic()
        return mappings

    @classmethod
    def recent(cls, max_age: float = 30.0) -> Mappings:
        """The tables, reloaded when older than ``max_age`` seconds (admin edits apply within it)."""
        if cls._cached is None or time.monotonic() - cls._loaded_at > max_age:
            return cls.load()
        return cls._cached

    @classmethod
    def current(cls) -> Mappings:
        """The tables as last loaded (``load()`` at the start of each unit of work)."""
        return cls._cached or cls.load()

    @property
    def metadata_fields(self) -> set[str]:
        return self.inbound_fields.get(LocalField.METADATA, set())

    def local_status(self, view: IssueView) -> str | None:
        if view.status and view.status.casefold() in self.status_in:
            return self.status_in[view.status.casefold()]
        return CATEGORY_TO_STATUS.get(view.status_category)

    def jira_status_for(self, status: str) -> str:
        return self.status_out.get(status, "")

    def is_equivalent_status(self, local_status: str, jira_status: str) -> bool:
        """The ticket's status already stands for this Jira status (mappings are many-to-one)."""
        pushed = self.jira_status_for(local_status)
        return bool(pushed) and pushed.casefold() == jira_status.casefold()

    def local_priority(self, view: IssueView) -> str | None:
        return self.priority_in.get(view.priority.casefold()) if view.priority else None

    def ticket_type(self, view: IssueView) -> str | None:
        return self.type_in.get(view.issue_type.casefold()) if view.issue_type else None

    def maps(self, local_field: str, jira_field: str, *, outbound: bool = False) -> bool:
        table = self.outbound_fields if outbound else self.inbound_fields
        return jira_field in table.get(local_field, set())

    def sla_metric(self, field_id: str, sla_name: str) -> str | None:
        """``response`` or ``resolution`` for a JSM SLA, by its field id or its name."""
        for local_field, metric in (
            (LocalField.SLA_RESPONSE, "response"),
            (LocalField.SLA_RESOLUTION, "resolution"),
        ):
            names = {name.casefold() for name in self.inbound_fields.get(local_field, set())}
            if field_id.casefold() in names or sla_name.casefold() in names:
                return metric
        return None


# The line ``description_adf`` appends to issues we create; not copied back into the ticket.
FOOTER = re.compile(r"(?:\n\n|^)Created from ITSM ticket [A-Z]+-\d+(?: \([^)\s]+\))?\s*$")


def ticket_values(view: IssueView, mappings: Mappings) -> dict[str, Any]:
    """The ticket fields this issue implies (only for fields present in the delivery)."""
    values: dict[str, Any] = {}
    if "summary" in view.present and view.summary:
        values["title"] = view.summary[:255]
    if "description" in view.present:
        values["description"] = fit_text(FOOTER.sub("", view.description).rstrip(), DESCRIPTION_MAX_LENGTH)
    if "issuetype" in view.present and mappings.ticket_type(view):
        values["type"] = mappings.ticket_type(view)
    if "labels" in view.present and mappings.maps(LocalField.TAGS, "labels"):
        # Jira labels run to 255 characters; a ticket's tags to TAG_MAX_LENGTH.
        values["tags"] = [label[:TAG_MAX_LENGTH] for label in view.plain_labels]
    if "components" in view.present and mappings.maps(LocalField.SERVICE, "components"):
        values["service"] = (view.components[0] if view.components else "")[:120]
    return values


# --- ticket → Jira create payload -----------------------------------------------------------
def marker_label(ticket: Any) -> str:
    return f"{MARKER_PREFIX}{ticket.number}"


def description_adf(ticket: Any) -> dict:
    text = ticket.description or ""
    link = f"{settings.SITE_URL.rstrip('/')}/tickets/{ticket.pk}/"
    document = text_to_adf(text)
    document["content"].append(
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "Created from ITSM ticket "},
                {"type": "text", "text": ticket.number, "marks": [{"type": "link", "attrs": {"href": link}}]},
            ],
        }
    )
    return document


def _reference(name: str, jira_id: str) -> dict[str, str]:
    return {"id": jira_id} if jira_id else {"name": name}


LABEL_SAFE = re.compile(r"[^\w.-]+")


def create_fields(ticket: Any, project_key: str, mappings: Mappings) -> dict[str, Any]:
    """``fields`` of ``POST /rest/api/3/issue`` for a local ticket."""
    type_name, type_id = mappings.type_out.get(ticket.type, (settings.JIRA_FALLBACK_ISSUE_TYPE, ""))
    fields: dict[str, Any] = {
        "project": {"key": project_key},
        "issuetype": _reference(type_name, type_id),
        "summary": ticket.title[:255],
        "description": description_adf(ticket),
    }
    if ticket.priority in mappings.priority_out:
        fields["priority"] = _reference(*mappings.priority_out[ticket.priority])
    labels = [SYNC_LABEL, marker_label(ticket)]
    if mappings.maps(LocalField.TAGS, "labels", outbound=True):
        labels += [LABEL_SAFE.sub("-", tag)[:255] for tag in ticket.tags if tag]
    fields["labels"] = list(dict.fromkeys(labels))
    return fields


REQUIRED = re.compile(r"Field '([\w.-]+)' is required", re.IGNORECASE)


def minimal_fields(
    full: dict[str, Any], *, error_messages: list[str], errors: dict[str, str]
) -> dict[str, Any]:
    """The smallest create payload: project, type, summary, description, our labels, and any
    field Jira says is required (unless that field is itself the one refused)."""
    minimal = {
        name: full[name] for name in ("project", "issuetype", "summary", "description") if name in full
    }
    minimal["labels"] = [label for label in full.get("labels", []) if label.startswith(MARKER_PREFIX)]
    for message in error_messages:
        for required in REQUIRED.findall(message):
            if required in full and required not in errors:
                minimal[required] = full[required]
    if "issuetype" in errors:
        minimal["issuetype"] = {"name": settings.JIRA_FALLBACK_ISSUE_TYPE}
    if "labels" in errors:
        minimal.pop("labels", None)
    return minimal


def sent_snapshot(fields: dict[str, Any], ticket: Any, mappings: Mappings) -> dict[str, Any]:
    """The Jira-side values an issue will have after we created it with ``fields``."""
    snapshot: dict[str, Any] = {
        "summary": fields.get("summary", ""),
        "description": normalise_text(adf_to_text(fields.get("description"), link_urls=True)),
    }
    if "priority" in fields and ticket.priority in mappings.priority_out:
        snapshot["priority"] = mappings.priority_out[ticket.priority][0]
    if "labels" in fields:
        snapshot["labels"] = sorted(
            label for label in fields["labels"] if not label.startswith(MARKER_PREFIX)
        )
    return snapshot

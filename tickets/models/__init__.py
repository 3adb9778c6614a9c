from tickets.models.access import AccessChannel, SensitiveAccess
from tickets.models.audit import AuditChange, audit_trail
from tickets.models.catalog import CATALOG_APPROVAL_KIND, ApproverSource, CatalogItem, Category, SavedView
from tickets.models.conversation import Attachment, Comment, CommentSource, Watcher
from tickets.models.csat import CHANGE_WINDOW, LINK_MAX_AGE, DeskSettings, SatisfactionSurvey
from tickets.models.exports import ExportFormat, ExportJob, ExportStatus
from tickets.models.macros import Macro, MacroQuerySet, MacroVisibility
from tickets.models.priority import Impact, Priority, PriorityRule, Urgency, priority_for
from tickets.models.relations import RelationKind, TicketPresence, TicketRelation
from tickets.models.ticket import (
    AUDITED_FIELDS,
    TRANSITIONS,
    Channel,
    IllegalTransition,
    ResolutionRequired,
    StaleTicket,
    Ticket,
    TicketQuerySet,
    TicketStatus,
    TicketType,
)
from tickets.models.worklogs import WORKLOG_MAX_MINUTES, WorkLog

# pghistory generates the immutable audit model of Ticket and sets it on this module:
# ``tickets.models.TicketAudit`` (one row per change of an audited field, with its context).

__all__ = [
    "AUDITED_FIELDS",
    "CATALOG_APPROVAL_KIND",
    "CHANGE_WINDOW",
    "LINK_MAX_AGE",
    "AccessChannel",
    "ApproverSource",
    "AuditChange",
    "ResolutionRequired",
    "SensitiveAccess",
    "audit_trail",
    "Attachment",
    "CatalogItem",
    "Category",
    "Channel",
    "Comment",
    "CommentSource",
    "ExportFormat",
    "ExportJob",
    "ExportStatus",
    "IllegalTransition",
    "Macro",
    "MacroQuerySet",
    "MacroVisibility",
    "Impact",
    "Priority",
    "PriorityRule",
    "RelationKind",
    "DeskSettings",
    "SatisfactionSurvey",
    "SavedView",
    "StaleTicket",
    "TRANSITIONS",
    "Ticket",
    "TicketAudit",
    "TicketPresence",
    "TicketQuerySet",
    "TicketRelation",
    "TicketStatus",
    "TicketType",
    "Urgency",
    "WORKLOG_MAX_MINUTES",
    "Watcher",
    "WorkLog",
    "priority_for",
]

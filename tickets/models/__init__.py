from tickets.models.catalog import CatalogItem, Category, SavedView
from tickets.models.conversation import Attachment, Comment, CommentSource, Watcher
from tickets.models.exports import ExportFormat, ExportJob, ExportStatus
from tickets.models.priority import Impact, Priority, PriorityRule, Urgency, priority_for
from tickets.models.relations import RelationKind, TicketPresence, TicketRelation
from tickets.models.ticket import (
    AUDITED_FIELDS,
    TRANSITIONS,
    Channel,
    IllegalTransition,
    StaleTicket,
    Ticket,
    TicketQuerySet,
    TicketStatus,
    TicketType,
)

# pghistory generates the immutable audit model of Ticket and sets it on this module:
# ``tickets.models.TicketAudit`` (one row per change of an audited field, with its context).

__all__ = [
    "AUDITED_FIELDS",
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
    "Impact",
    "Priority",
    "PriorityRule",
    "RelationKind",
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
    "Watcher",
    "priority_for",
]

"""The tickets pages: queues, ticket detail, create form, requester portal."""

from tickets.views.common import get_ticket_for_user
from tickets.views.create import ticket_create
from tickets.views.detail import (
    attachment_download,
    comment_edit,
    ticket_assign,
    ticket_comment,
    ticket_detail,
    ticket_presence,
    ticket_priority,
    ticket_status,
    ticket_timeline,
    ticket_watch,
)
from tickets.views.links import export_download, queue_export, relation_add, relation_remove, ticket_picker
from tickets.views.macros import macro_apply, macro_preview
from tickets.views.merge import ticket_merge
from tickets.views.portal import (
    portal_catalog,
    portal_home,
    portal_reopen,
    portal_reply,
    portal_report,
    portal_request,
    portal_ticket,
)
from tickets.views.queues import saved_view_create, saved_view_delete, ticket_bulk, ticket_list
from tickets.views.survey import survey
from tickets.views.worklogs import ticket_worklogs, time_report, worklog_delete

__all__ = [
    "attachment_download",
    "comment_edit",
    "get_ticket_for_user",
    "macro_apply",
    "macro_preview",
    "portal_catalog",
    "portal_home",
    "portal_reopen",
    "portal_reply",
    "portal_report",
    "portal_request",
    "portal_ticket",
    "saved_view_create",
    "saved_view_delete",
    "ticket_assign",
    "ticket_bulk",
    "ticket_comment",
    "ticket_create",
    "ticket_detail",
    "survey",
    "export_download",
    "queue_export",
    "relation_add",
    "relation_remove",
    "ticket_picker",
    "ticket_worklogs",
    "time_report",
    "worklog_delete",
    "ticket_list",
    "ticket_merge",
    "ticket_presence",
    "ticket_priority",
    "ticket_status",
    "ticket_timeline",
    "ticket_watch",
]

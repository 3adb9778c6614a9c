"""Workflows across models: pages, API, tasks, admin and commands all call these.

Each ``do_*`` validates what it must, writes inside one transaction, records the audit
context, and sends the signals of ``tickets.signals``. One module per topic:

- ``tickets``: create, edit, status moves, assignment, priority, archive
- ``conversation``: replies and internal notes, watchers, views of sensitive tickets
- ``attachments``: the upload limits, storing a file
- ``relations``: links between tickets
- ``bulk``: one action on many tickets
- ``macros``: canned replies with changes, rendered in a sandbox
- ``merge``: several tickets into one
- ``worklogs``: time tracking; ``csat``: satisfaction surveys
- ``exports``: ticket exports (requested here, built by the worker)
"""

from tickets.actions.attachments import check_attachment, store_attachment
from tickets.actions.bulk import BULK_MAX_TICKETS, BulkAction, BulkActionError, do_bulk_action
from tickets.actions.conversation import (
    check_can_comment,
    do_add_comment,
    do_edit_comment,
    do_record_sensitive_view,
    do_unwatch_ticket,
    do_watch_ticket,
)
from tickets.actions.exports import check_export_filters, do_build_export, do_request_export, export_filterset
from tickets.actions.macros import (
    check_macro,
    check_macro_body,
    do_apply_macro,
    do_delete_macro,
    do_save_macro,
    preview_macro,
    render_macro_body,
    usable_macros,
)
from tickets.actions.merge import MERGE_MAX_SOURCES, MergePlan, check_merge, do_merge_tickets, merge_plan
from tickets.actions.relations import (
    INVERSE_KINDS,
    children_of,
    do_add_relation,
    do_remove_relation,
    do_resolve_with_children,
)
from tickets.actions.tickets import (
    EDITABLE_FIELDS,
    TicketChanges,
    check_assignee,
    check_can_change,
    check_changes,
    check_choice,
    check_priority_override,
    do_archive_ticket,
    do_assign_ticket,
    do_change_priority,
    do_create_ticket,
    do_edit_ticket,
    do_reopen_ticket,
    do_transition_ticket,
    do_unarchive_ticket,
    do_update_ticket,
    normalise_tags,
)
from tickets.actions.worklogs import do_delete_worklog, do_log_work, parse_duration

__all__ = [
    "BULK_MAX_TICKETS",
    "EDITABLE_FIELDS",
    "INVERSE_KINDS",
    "MERGE_MAX_SOURCES",
    "MergePlan",
    "BulkAction",
    "BulkActionError",
    "TicketChanges",
    "check_assignee",
    "check_attachment",
    "check_can_change",
    "check_can_comment",
    "check_changes",
    "check_choice",
    "check_export_filters",
    "check_macro",
    "children_of",
    "do_resolve_with_children",
    "check_merge",
    "do_merge_tickets",
    "do_log_work",
    "do_delete_worklog",
    "parse_duration",
    "merge_plan",
    "check_macro_body",
    "do_apply_macro",
    "do_delete_macro",
    "do_save_macro",
    "preview_macro",
    "render_macro_body",
    "usable_macros",
    "check_priority_override",
    "do_add_comment",
    "do_add_relation",
    "do_archive_ticket",
    "do_assign_ticket",
    "do_build_export",
    "do_bulk_action",
    "do_change_priority",
    "do_create_ticket",
    "do_edit_ticket",
    "do_edit_comment",
    "do_record_sensitive_view",
    "do_remove_relation",
    "do_reopen_ticket",
    "do_request_export",
    "do_transition_ticket",
    "do_unarchive_ticket",
    "do_unwatch_ticket",
    "do_update_ticket",
    "do_watch_ticket",
    "export_filterset",
    "normalise_tags",
    "store_attachment",
]

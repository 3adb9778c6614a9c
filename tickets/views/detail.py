"""The ticket page: content and timeline, inline changes, the conversation, watchers, presence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from itsm.approvals.models import ApprovalRequest
from itsm.approvals.views import approvals_for, card_context
from itsm.lib.choices import read_choices
from itsm.lib.prepared import Prepared
from itsm.models import User
from itsm.replicas import bookkeeping_writes
from itsm.storage import StoreDown, open_stored
from tickets import actions, extensions
from tickets.forms import (
    AgentCommentForm,
    AssignForm,
    CommentEditForm,
    CommentForm,
    PriorityForm,
    StatusForm,
    WorkLogForm,
    add_domain_error,
)
from tickets.models import (
    AUDITED_FIELDS,
    CATALOG_APPROVAL_KIND,
    Attachment,
    Comment,
    IllegalTransition,
    Macro,
    Priority,
    RelationKind,
    SatisfactionSurvey,
    StaleTicket,
    Ticket,
    TicketPresence,
    TicketRelation,
    TicketStatus,
    Watcher,
    WorkLog,
)
from tickets.models.conversation import sees_internal_notes
from tickets.models.ticket import prepared_per_visibility
from tickets.views.common import (
    agent_pages,
    agents_only,
    domain_error_message,
    get_ticket_for_user,
    newest_comments,
    newest_of,
    writers_only,
)

# A page pings every 20 s; someone not seen for this long has left.
PRESENCE_TTL = timedelta(seconds=60)


# --- reading -----------------------------------------------------------------------------------------
def record_sensitive_view(ticket: Ticket, user: Any) -> None:
    """Every view of a sensitive ticket is audited (the action ignores other tickets)."""
    actions.do_record_sensitive_view(ticket, user)


def record_presence(ticket: Ticket, user: Any, *, editing: bool = False) -> None:
    # Bookkeeping, not a change of the user's: it does not pin them to the primary.
    with bookkeeping_writes():
        TicketPresence.objects.mark(ticket.pk, user.pk, editing=editing)


# What the ticket page reads of the ticket's own rows, the SQL written once per process
# (itsm/lib/prepared.py): building and compiling these queries took longer than running them.
_present = Prepared(
    lambda ticket, since, user: (
        TicketPresence.objects.filter(ticket_id=ticket, seen_at__gte=since)
        .exclude(user_id=user)
        .select_related("user")
        .order_by("-editing", "user__full_name")
    )
)
_watchers = Prepared(
    lambda ticket: Watcher.objects.filter(ticket_id=ticket).select_related("user").order_by("created_at")
)
_worklogs = Prepared(
    lambda ticket: (
        WorkLog.objects.filter(ticket_id=ticket).select_related("user").order_by("-worked_at", "-id")
    )
)
_survey = Prepared(lambda ticket: SatisfactionSurvey.objects.filter(ticket_id=ticket).order_by("pk")[:1])
_ticket_files = Prepared(lambda ticket: Attachment.objects.filter(ticket_id=ticket, comment__isnull=True))


def others_present(ticket: Ticket, user: Any) -> list[TicketPresence]:
    return _present(ticket=ticket.pk, since=timezone.now() - PRESENCE_TTL, user=user.pk)


def _shown(field: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if field == "status":
        return str(dict(TicketStatus.choices).get(value, value))
    if field == "priority":
        return str(dict(Priority.choices).get(value, value))
    if field == "sensitive":
        return gettext("yes") if value else gettext("no")
    return str(value)


def comment_entry(comment: Comment) -> dict[str, Any]:
    """A reply or note as the timeline shows it."""
    return {"kind": "note" if comment.internal else "reply", "at": comment.created_at, "comment": comment}


# The ticket page shows the newest entries of the timeline; the earlier ones on demand
# (``?timeline=all``): a ticket fed by a monitoring tool can hold thousands of replies.
TIMELINE_ENTRIES = 50


# What the timeline shows of a comment's author (its name) and of the ticket it was merged from
# (its number): not their other columns, the merged ticket's description and search vector.
TIMELINE_COMMENT_FIELDS = (
    *(field.name for field in Comment._meta.concrete_fields),
    "author__full_name",
    "author__email",
    "merged_from__number",
)


def _timeline_comments(comments: Any) -> Any:
    return (
        comments.select_related("author", "merged_from")
        .only(*TIMELINE_COMMENT_FIELDS)
        .prefetch_related("attachments")
    )


# The newest comments the page shows, for those who see internal notes and those who do not:
# the SQL written once per process (itsm/lib/prepared.py).
_newest_comments = {
    internal: Prepared(
        lambda ticket, internal=internal: _timeline_comments(
            Comment.objects.with_notes(internal).filter(ticket_id=ticket)
        ).order_by("-created_at", "-id")[: TIMELINE_ENTRIES + 1]
    )
    for internal in (True, False)
}


def build_timeline(ticket: Ticket, user: Any, *, limit: int | None = TIMELINE_ENTRIES) -> dict[str, Any]:
    """Comments the user may read and the audited changes (grouped per save), oldest first:
    the newest ``limit`` entries (every one with ``limit=None``), and whether earlier ones
    were left out. Six queries whatever the length of the history."""
    if limit == TIMELINE_ENTRIES:
        shown, earlier = newest_of(_newest_comments[sees_internal_notes(user)](ticket=ticket.pk), limit)
    else:
        comments = _timeline_comments(Comment.objects.visible_to(user).filter(ticket=ticket))
        shown, earlier = newest_comments(comments, limit)
    entries: list[dict[str, Any]] = [comment_entry(comment) for comment in shown]
    labels = {name: Ticket._meta.get_field(name).verbose_name for name in AUDITED_FIELDS}
    changes = ticket.audit_trail(last=limit)
    # The creation is the first save: without it in the trail, earlier saves were left out.
    earlier = earlier or (limit is not None and bool(changes) and changes[0].event != "created")
    for change in changes:
        last = entries[-1] if entries else None
        if not (
            last
            and last["kind"] in ("created", "change")
            and last["at"] == change.at
            and last["actor"] == (change.actor or gettext("system"))
        ):
            last = {
                "kind": "created" if change.event == "created" else "change",
                "at": change.at,
                "actor": change.actor or gettext("system"),
                "reason": change.reason,
                "changes": [],
            }
            entries.append(last)
        last["changes"].append(
            {
                "field": labels.get(change.field, change.field),
                "before": _shown(change.field, change.old),
                "after": _shown(change.field, change.new),
            }
        )
    entries.sort(key=lambda entry: entry["at"])
    if limit is not None and len(entries) > limit:
        entries, earlier = entries[-limit:], True
    return {"timeline": entries, "timeline_earlier": earlier, "timeline_all": limit is None}


def _visible_links(kind: str, ticket: Any, **values: Any) -> Any:
    """A ticket's links both ways, only to tickets a user of ``kind`` (``visibility_of``) may
    see: joined with the visibility rule, so titles of hidden tickets are never read."""
    target_visible, source_visible = Ticket.objects.visibility_rule(kind, "target", "source", **values)
    relations = TicketRelation.objects.filter(
        (Q(source_id=ticket) & target_visible) | (Q(target_id=ticket) & source_visible)
    ).select_related("source", "target")
    # What a link shows of each end (number, title, status): not their descriptions and search
    # vectors, most of the bytes of a ticket row.
    return relations.only(
        *(f"{end}__{name}" for end in ("source", "target") for name in ("number", "title", "status")),
        "kind",
    ).order_by("pk")


_links_for = prepared_per_visibility(_visible_links, "ticket")


def relations_for(ticket: Ticket, user: Any) -> list[dict[str, Any]]:
    """Links both ways, only to tickets the user may see (titles of hidden ones never leak)."""
    kind, values = Ticket.objects.visibility_of(user)
    relations = _links_for[kind](ticket=ticket.pk, **values) if kind in _links_for else []
    return [
        {
            "pk": relation.pk,
            "kind_value": relation.kind,
            "kind": relation.get_kind_display(),
            "outgoing": relation.source_id == ticket.pk,
            "other": relation.target if relation.source_id == ticket.pk else relation.source,
        }
        for relation in relations
    ]


def worklog_context(ticket: Ticket, **overrides: Any) -> dict[str, Any]:
    """The work log panel: its entries (one query), their totals, and the form."""
    entries = _worklogs(ticket=ticket.pk)
    return {
        "worklogs": entries,
        "worklog_minutes": sum(entry.minutes for entry in entries),
        "worklog_billable": sum(entry.minutes for entry in entries if entry.billable),
        "worklog_form": WorkLogForm(),
        **overrides,
    }


def waiting_approval_context(ticket: Ticket, user: Any) -> dict[str, Any]:
    """A request waiting for its approval: the card (approvers decide on it), or for someone
    who may not open the approval, who was asked (only read for such tickets)."""
    approvals = ApprovalRequest.objects.for_target(ticket).filter(kind=CATALOG_APPROVAL_KIND).pending()
    visible = approvals_for(user).filter(pk__in=approvals.values("pk")).first()
    if visible is not None:
        return {"approval_card": card_context(visible, user)}
    waiting = approvals.prefetch_related("approver_links__user").first()
    return {"approval_waiting": waiting}


def macro_picker(user: User) -> tuple[tuple[Any, ...], Callable[[], list[Macro]]]:
    """The macros the agent may use, as an entry of the list cache (macros, users and team
    memberships are watched, so a new, changed or deleted macro or a change of team shows at
    once): their query is the ticket page's slowest after the ticket's own."""
    return (user.pk,), lambda: actions.usable_macros(user)


def detail_context(request: HttpRequest, ticket: Ticket, *, timeline: bool = True, **overrides: Any) -> dict:
    user = request.user
    watchers = _watchers(ticket=ticket.pk)
    context: dict[str, Any] = {
        "ticket": ticket,
        "can_change": user.is_agent,
        "can_write": user.can_write(),
        "watchers": watchers,
        "is_watching": any(watcher.user_id == user.pk for watcher in watchers),
        "present": others_present(ticket, user),
        "panels": extensions.panels_for(user),
        "assign_form": (assign_form := AssignForm(ticket=ticket)),
        "priority_form": PriorityForm(ticket=ticket),
        "comment_form": AgentCommentForm() if user.is_agent else CommentForm(),
        "change_error": "",
    }
    if user.is_agent:
        # Who sees the assign form: its agents and teams, and the macros, in one read of the list cache.
        picks = {"ticket-macros": macro_picker(user)} if user.can_write() else {}
        context["macros"] = read_choices([assign_form], **picks).get("ticket-macros", [])
    else:
        context["macros"] = []
    relations = relations_for(ticket, user)
    # A parent shows its children's states (from its links, no further query).
    children = [
        relation["other"]
        for relation in relations
        if (relation["outgoing"] and relation["kind_value"] == RelationKind.PARENT_OF)
        or (not relation["outgoing"] and relation["kind_value"] == RelationKind.CHILD_OF)
    ]
    open_children = [child for child in children if child.is_open]
    context.update(
        relations=relations,
        relation_kinds=RelationKind.choices,
        children=children,
        open_children=open_children,
        status_form=StatusForm(ticket=ticket, open_children=len(open_children)),
    )
    if user.is_agent:
        context.update(worklog_context(ticket))
        context["survey"] = next(iter(_survey(ticket=ticket.pk)), None)
    if ticket.status == TicketStatus.PENDING_APPROVAL:
        context.update(waiting_approval_context(ticket, user))
    if timeline:
        whole = request.GET.get("timeline") == "all"
        context.update(build_timeline(ticket, user, limit=None if whole else TIMELINE_ENTRIES))

        context["ticket_attachments"] = _ticket_files(ticket=ticket.pk)
    context.update(overrides)
    return context


@login_required
@require_http_methods(["GET"])
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_ticket_for_user(request, pk)
    if request.user.is_requester:
        return redirect("tickets:portal-ticket", pk=ticket.pk)
    record_sensitive_view(ticket, request.user)
    if request.user.can_write():
        record_presence(ticket, request.user)
    return render(request, "tickets/ticket_detail.html", detail_context(request, ticket))


@login_required
@agent_pages
@require_http_methods(["GET"])
def ticket_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_ticket_for_user(request, pk)
    if not request.htmx:
        whole = "?timeline=all" if request.GET.get("timeline") == "all" else ""
        return redirect(f"{reverse('tickets:ticket-detail', args=[ticket.pk])}{whole}#timeline")
    return render(request, "tickets/ticket_detail.html#timeline", detail_context(request, ticket))


# --- inline changes (assign, status, priority) ---------------------------------------------------------
def _change(
    request: HttpRequest,
    pk: int,
    form_class: type[Form],
    form_key: str,
    apply: Callable[[Ticket, dict[str, Any]], object],
) -> HttpResponse:
    """Validate, apply one action with the edited ``version``, answer with the sidebar (HTMX) or page."""
    ticket = get_ticket_for_user(request, pk)
    form = form_class(request.POST, ticket=ticket)
    error, status, keep_form = "", 200, True
    if form.is_valid():
        try:
            apply(ticket, form.cleaned_data)
        except StaleTicket as stale:
            # Someone saved first: show the latest version with fresh forms, overwrite nothing.
            error, status, keep_form = domain_error_message(stale), 409, False
        except IllegalTransition as illegal:
            error, status = domain_error_message(illegal), 409
        except ValidationError as invalid:
            add_domain_error(form, invalid)
            error, status = domain_error_message(invalid), 400
    else:
        error, status = gettext("Please correct the errors below."), 400
    ticket = get_ticket_for_user(request, pk)
    overrides: dict[str, Any] = {"change_error": error}
    if status != 200 and keep_form:
        overrides[form_key] = form
    if status == 200:
        if not request.htmx:
            messages.success(request, gettext("Saved."))
            return redirect("tickets:ticket-detail", pk=ticket.pk)
        response = render(
            request,
            "tickets/ticket_detail.html#sidebar",
            detail_context(request, ticket, timeline=False, change_saved=True),
        )
        return trigger_client_event(response, "ticketUpdated", {"id": ticket.pk})
    if request.htmx:
        return render(
            request,
            "tickets/ticket_detail.html#sidebar",
            detail_context(request, ticket, timeline=False, **overrides),
            status=status,
        )
    messages.error(request, error)
    return render(
        request, "tickets/ticket_detail.html", detail_context(request, ticket, **overrides), status=status
    )


@login_required
@agent_pages
@writers_only
@agents_only
@require_http_methods(["POST"])
def ticket_assign(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(
        request,
        pk,
        AssignForm,
        "assign_form",
        lambda ticket, data: actions.do_assign_ticket(
            ticket,
            actor=request.user,
            assignee=data["assignee"],
            team=data["team"],
            expected_version=data["version"],
        ),
    )


@login_required
@agent_pages
@writers_only
@agents_only
@require_http_methods(["POST"])
def ticket_status(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(
        request,
        pk,
        StatusForm,
        "status_form",
        lambda ticket, data: (
            actions.do_resolve_with_children(
                ticket,
                actor=request.user,
                resolution=data["resolution"],
                reason=data["reason"],
                expected_version=data["version"],
            )
            if data.get("resolve_children") and data["status"] == TicketStatus.RESOLVED
            else actions.do_transition_ticket(
                ticket,
                data["status"],
                actor=request.user,
                resolution=data["resolution"],
                reason=data["reason"],
                expected_version=data["version"],
            )
        ),
    )


@login_required
@agent_pages
@writers_only
@agents_only
@require_http_methods(["POST"])
def ticket_priority(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(
        request,
        pk,
        PriorityForm,
        "priority_form",
        lambda ticket, data: actions.do_change_priority(
            ticket,
            actor=request.user,
            priority=data["priority"],
            reason=data["reason"],
            expected_version=data["version"],
        ),
    )


# --- conversation ------------------------------------------------------------------------------------------
@login_required
@agent_pages
@writers_only
@require_http_methods(["POST"])
def ticket_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """A public reply or an internal note, with attachments (multipart)."""
    ticket = get_ticket_for_user(request, pk)
    form_class = AgentCommentForm if request.user.is_agent else CommentForm
    form = form_class(request.POST, request.FILES)
    if form.is_valid():
        try:
            actions.do_add_comment(
                ticket,
                actor=request.user,
                body=form.cleaned_data["body"],
                internal=form.cleaned_data["internal"],
                attachments=form.cleaned_data["attachments"],
                time_spent=form.cleaned_data.get("time_spent") or 0,
                billable=form.cleaned_data.get("billable", False),
            )
        except ValidationError as invalid:
            add_domain_error(form, invalid)
    if form.is_valid() and not form.errors:
        if not request.htmx:
            messages.success(
                request, gettext("Note added.") if form.cleaned_data["internal"] else gettext("Reply sent.")
            )
            return redirect(f"{reverse('tickets:ticket-detail', args=[ticket.pk])}#timeline")
        response = render(
            request, "tickets/ticket_detail.html#reply", detail_context(request, ticket, timeline=False)
        )
        return trigger_client_event(response, "ticketUpdated", {"id": ticket.pk})
    if request.htmx:
        return render(
            request,
            "tickets/ticket_detail.html#reply",
            detail_context(request, ticket, timeline=False, comment_form=form),
            status=400,
        )
    return render(
        request, "tickets/ticket_detail.html", detail_context(request, ticket, comment_form=form), status=400
    )


@login_required
@require_http_methods(["POST"])
def comment_edit(request: HttpRequest, pk: int, comment_pk: int) -> HttpResponse:
    """The author changes the text of a comment; it stays in its place, marked edited."""
    ticket = get_ticket_for_user(request, pk)
    comment = get_object_or_404(
        Comment.objects.visible_to(request.user)
        .filter(ticket=ticket)
        .select_related("ticket", "author")
        .prefetch_related("attachments"),
        pk=comment_pk,
    )
    form = CommentEditForm(request.POST)
    if form.is_valid():
        try:
            actions.do_edit_comment(comment, actor=request.user, body=form.cleaned_data["body"])
        except ValidationError as invalid:
            add_domain_error(form, invalid)
    saved = form.is_valid() and not form.errors
    if not request.htmx:
        if saved:
            messages.success(request, gettext("Comment edited."))
        else:
            messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
        page = "tickets:portal-ticket" if request.user.is_requester else "tickets:ticket-detail"
        return redirect(f"{reverse(page, args=[ticket.pk])}#comment-{comment.pk}")
    status = 200 if saved else 400
    edit_form = {} if saved else {"edit_form": form}
    if request.user.is_requester:  # the portal's own rendering of a reply
        context = {"ticket": ticket, "comment": comment, "can_reply": True, **edit_form}
        return render(request, "tickets/portal_ticket.html#portal_comment", context, status=status)
    context = {
        "ticket": ticket,
        "entry": comment_entry(comment),
        "can_write": request.user.can_write(),
        **edit_form,
    }
    return render(request, "tickets/ticket_detail.html#comment", context, status=status)


@login_required
@require_http_methods(["GET"])
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """Attachments leave only through here: the ticket must be visible, and notes hidden from requesters."""
    attachment = get_object_or_404(
        Attachment.objects.select_related("comment"),
        pk=pk,
        ticket__in=Ticket.objects.visible_to(request.user),
    )
    if attachment.comment_id and attachment.comment.internal and request.user.is_requester:
        raise Http404
    try:
        handle = open_stored(attachment.file, label=f"attachment {attachment.pk}")
    except StoreDown:
        return HttpResponse(
            gettext("The file store is unavailable; try again later."), status=503, content_type="text/plain"
        )
    return FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )


# --- watchers and presence -----------------------------------------------------------------------------------
@login_required
@agent_pages
@writers_only
@require_http_methods(["POST"])
def ticket_watch(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_ticket_for_user(request, pk)
    if request.POST.get("watch", "1") == "0":
        actions.do_unwatch_ticket(ticket, user=request.user)
    else:
        actions.do_watch_ticket(ticket, user=request.user)
    if request.htmx:
        return render(
            request, "tickets/ticket_detail.html#watchers", detail_context(request, ticket, timeline=False)
        )
    return redirect("tickets:ticket-detail", pk=ticket.pk)


@login_required
@agent_pages
@writers_only
@require_http_methods(["POST"])
def ticket_presence(request: HttpRequest, pk: int) -> HttpResponse:
    """The page's ping: who is here, and whether the ticket moved on since it was rendered."""
    ticket = get_ticket_for_user(request, pk)
    record_presence(ticket, request.user, editing=request.POST.get("editing") == "1")
    seen_version = request.POST.get("version", "")
    changed = seen_version.isdigit() and int(seen_version) < ticket.version
    if not request.htmx:
        return redirect("tickets:ticket-detail", pk=ticket.pk)
    return render(
        request,
        "tickets/ticket_detail.html#presence",
        {
            "ticket": ticket,
            "present": others_present(ticket, request.user),
            "changed_elsewhere": changed,
            "can_write": True,
        },
    )

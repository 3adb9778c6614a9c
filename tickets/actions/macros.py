"""Macros: render a canned reply in a sandbox, then apply it and its changes through the usual
actions (``do_add_comment`` and ``do_edit_ticket``), so the rules and the audit are those of a
change made by hand."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template import Context, Engine, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.utils.translation import gettext

from tickets.actions.conversation import do_add_comment
from tickets.actions.tickets import (
    TicketChanges,
    check_assignee,
    check_can_change,
    check_choice,
    check_priority_override,
    do_edit_ticket,
    normalise_tags,
)
from tickets.models import Comment, Macro, MacroVisibility, Ticket, TicketStatus

if TYPE_CHECKING:
    from itsm.models import Team, User

# --- the sandbox ------------------------------------------------------------------------------------
# Only tags that shape text: no {% load %}, {% include %}, {% extends %}, {% url %}, {% debug %}
# (which prints every loaded module), {% csrf_token %}. The context holds plain strings only,
# so no model method or attribute is reachable from a template an agent wrote.
SAFE_TAGS = {"if", "for", "with", "firstof", "now", "spaceless", "comment", "verbatim", "cycle", "ifchanged"}
UNSAFE_FILTERS = {"pprint"}
_library = Library()
_library.tags = {name: tag for name, tag in defaulttags.register.tags.items() if name in SAFE_TAGS}
_library.filters = {
    name: filter_ for name, filter_ in defaultfilters.register.filters.items() if name not in UNSAFE_FILTERS
}
SANDBOX = Engine(builtins=[], libraries={}, loaders=[], autoescape=False, string_if_invalid="")
SANDBOX.template_builtins = [_library]

# The placeholders a macro may use (documented in docs/agent-productivity.md).
PLACEHOLDERS = {
    "ticket": ("number", "title", "status", "priority", "category", "team", "service"),
    "requester": ("first_name", "full_name", "email", "organisation"),
    "agent": ("first_name", "full_name", "email"),
}


def check_macro_body(body: str) -> None:
    try:
        SANDBOX.from_string(body or "")
    except TemplateSyntaxError as error:
        raise ValidationError(
            {"body": gettext("The reply text is not a valid template: %s") % error}
        ) from None


def _person(user: User | None) -> dict[str, str]:
    if user is None:
        return {"first_name": "", "full_name": "", "email": ""}
    return {"first_name": user.get_short_name(), "full_name": user.get_full_name(), "email": user.email}


def macro_context(ticket: Ticket, agent: User | None) -> dict[str, dict[str, str]]:
    requester = ticket.requester
    return {
        "ticket": {
            "number": ticket.number,
            "title": ticket.title,
            "status": str(ticket.get_status_display()),
            "priority": str(ticket.get_priority_display()),
            "category": ticket.category.name if ticket.category_id else "",
            "team": ticket.team.name if ticket.team_id else "",
            "service": ticket.service,
        },
        "requester": {
            **_person(requester),
            "organisation": requester.organisation.name if requester.organisation_id else "",
        },
        "agent": _person(agent),
    }


def render_macro_body(body: str, ticket: Ticket, agent: User | None) -> str:
    check_macro_body(body)
    return SANDBOX.from_string(body or "").render(Context(macro_context(ticket, agent))).strip()


# --- what a macro changes ------------------------------------------------------------------------------
@dataclass
class MacroPreview:
    body: str
    internal: bool
    changes: TicketChanges = field(default_factory=dict)  # type: ignore[assignment]


def macro_changes(macro: Macro, ticket: Ticket, *, actor: User | None) -> TicketChanges:
    """The edit the macro makes on this ticket; what already holds is left out (applying twice is harmless)."""
    changes: TicketChanges = {}
    if macro.set_status and macro.set_status != ticket.status:
        changes["status"] = macro.set_status
        if macro.set_status == TicketStatus.RESOLVED:
            changes["resolution"] = macro.resolution
    if macro.set_priority and not (ticket.priority == macro.set_priority and ticket.priority_overridden):
        changes["priority"] = macro.set_priority
        changes["priority_reason"] = macro.priority_reason
    assignee = actor if macro.assign_to_me else macro.set_assignee
    if assignee is not None and assignee.pk != ticket.assignee_id:
        changes["assignee"] = assignee
    if macro.set_team_id and macro.set_team_id != ticket.team_id:
        changes["team"] = macro.set_team
    if macro.add_tags:
        tags = list(ticket.tags) + [tag for tag in macro.add_tags if tag not in ticket.tags]
        if tags != list(ticket.tags):
            changes["tags"] = tags
    return changes


def preview_macro(macro: Macro, ticket: Ticket, *, actor: User) -> MacroPreview:
    check_can_use_macro(macro, ticket, actor)
    return MacroPreview(
        body=render_macro_body(macro.body, ticket, actor),
        internal=macro.internal,
        changes=macro_changes(macro, ticket, actor=actor),
    )


def check_can_use_macro(macro: Macro, ticket: Ticket, actor: User | None) -> None:
    check_can_change(ticket, actor)
    if actor is not None and not macro.is_usable_by(actor):
        raise PermissionDenied(gettext("You may not use this macro."))


@transaction.atomic
def do_apply_macro(
    ticket: Ticket, macro: Macro, *, actor: User, body: str | None = None
) -> tuple[Comment | None, list[str]]:
    """Apply ``macro`` as ``actor``: its reply (rendered, or the agent's edited ``body``) through
    ``do_add_comment``, then its changes as one ``do_edit_ticket``; counted once. All or nothing:
    a refused change (an illegal move, say) rolls the reply back too."""
    check_can_use_macro(macro, ticket, actor)
    text = render_macro_body(macro.body, ticket, actor) if body is None else body.strip()
    comment = None
    if text:
        comment = do_add_comment(ticket, actor=actor, body=text, internal=macro.internal)
    changed = do_edit_ticket(
        ticket, macro_changes(macro, ticket, actor=actor), actor=actor, reason=f"macro: {macro.name}"
    )
    macro.count_use()
    return comment, changed


# --- managing macros -------------------------------------------------------------------------------------
MACRO_FIELDS = (
    "name",
    "body",
    "internal",
    "visibility",
    "team",
    "set_status",
    "resolution",
    "set_priority",
    "priority_reason",
    "assign_to_me",
    "set_assignee",
    "set_team",
    "add_tags",
    "active",
)


def check_macro(values: dict[str, Any], *, actor: User) -> dict[str, Any]:
    """Validate a macro's fields (the whole macro, as it will be saved); returns them normalised."""
    if not actor.is_agent:
        raise PermissionDenied(gettext("Only agents keep macros."))
    name = str(values.get("name") or "").strip()
    if not name:
        raise ValidationError({"name": gettext("A name is required.")})
    values["name"] = name[:120]
    check_macro_body(values.get("body") or "")
    visibility = values.get("visibility") or MacroVisibility.PERSONAL
    check_choice(visibility, MacroVisibility.values, "visibility")
    values["visibility"] = visibility
    team: Team | None = values.get("team")
    if visibility == MacroVisibility.SHARED and not actor.is_admin:
        raise PermissionDenied(gettext("Only admins keep shared macros."))
    if visibility == MacroVisibility.TEAM:
        if team is None:
            raise ValidationError({"team": gettext("A team macro needs its team.")})
        if not actor.is_admin and not actor.teams.filter(pk=team.pk).exists():
            raise ValidationError({"team": gettext("You are not a member of this team.")})
    else:
        values["team"] = None
    status = values.get("set_status") or ""
    if status:
        check_choice(status, TicketStatus.values, "set_status")
        if status == TicketStatus.RESOLVED and not str(values.get("resolution") or "").strip():
            raise ValidationError({"resolution": gettext("Resolving needs a resolution summary.")})
    if values.get("set_priority"):
        check_priority_override(values["set_priority"], values.get("priority_reason"))
    if values.get("assign_to_me") and values.get("set_assignee") is not None:
        raise ValidationError(
            {"set_assignee": gettext("Either assign to the agent applying it, or to someone.")}
        )
    check_assignee(values.get("set_assignee"))
    values["add_tags"] = normalise_tags(values.get("add_tags") or [])
    return values


@transaction.atomic
def do_save_macro(macro: Macro | None, values: dict[str, Any], *, actor: User) -> Macro:
    """Create (``macro=None``) or change a macro; the owner of a new one is ``actor``."""
    if macro is not None and not macro.can_be_edited_by(actor):
        raise PermissionDenied(gettext("You may not change this macro."))
    current = {name: getattr(macro, name) for name in MACRO_FIELDS} if macro is not None else {}
    merged = check_macro({**current, **values}, actor=actor)
    if macro is None:
        macro = Macro(owner=actor)
    for name in MACRO_FIELDS:
        if name in merged:
            setattr(macro, name, merged[name])
    if macro.owner_id is None:
        macro.owner = actor
    macro.save()
    return macro


def do_delete_macro(macro: Macro, *, actor: User) -> None:
    if not macro.can_be_edited_by(actor):
        raise PermissionDenied(gettext("You may not delete this macro."))
    macro.delete()


def usable_macros(actor: User, ids: Iterable[int] | None = None) -> list[Macro]:
    queryset = Macro.objects.available_to(actor).active()
    if ids is not None:
        queryset = queryset.filter(pk__in=list(ids))
    return list(queryset.order_by("name", "id"))

"""The copilot's cage: a fixed registry of read tools, each run as the asking user.

Every tool is a thin function over the QuerySets the pages use (``Ticket.objects.visible_to``,
``Comment.objects.visible_to``, ``Problem.objects.visible_to``, hybrid knowledge search, the KPI
registry), so a requester's copilot sees exactly what the portal shows them and a ticket the
user may not open answers as if it did not exist. No tool writes: writes are proposals.

A tool takes validated arguments (its JSON schema, also what the LLM planner is offered) and
returns a ``ToolResult``: JSON data, the citations it can back, a one-line digest for the trace.
Text read from tickets and articles is data: it is returned, never interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.utils import timezone

from ai.knowledge.search import SearchInputError, hybrid_search, similar_items
from itsm import kpis
from itsm.models import Team, User
from problems.models import Problem
from tickets.models import Category, Comment, Ticket, TicketStatus
from tickets.models.ticket import DONE_STATUSES, OPEN_STATUSES

MAX_RESULTS = 10
MAX_TEXT = 300
NUMBER = re.compile(r"^(INC|REQ)-\d{1,9}$", re.IGNORECASE)
PROBLEM_NUMBER = re.compile(r"^PRB-\d{1,9}$", re.IGNORECASE)
STOPWORDS = set(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "the",
        "this",
        "that",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
        "last",
        "week",
        "month",
        "fix",
        "fixed",
        "about",
        "any",
        "there",
        "show",
        "list",
        "tell",
        "known",
        "error",
        "errors",
        "please",
        "find",
        "give",
        "all",
        "solve",
        "solved",
        "resolve",
        "resolved",
        "tickets",
        "ticket",
        "issue",
        "issues",
        "problem",
        "problems",
    ]
)
PERIODS = (
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "last_7_days",
    "last_30_days",
    "last_90_days",
)


class ToolInputError(ValueError):
    """Arguments that do not fit the tool's schema; the step records the message."""


@dataclass
class Citation:
    type: str  # ticket | article | problem | kpi | jira_issue
    id: int | str
    label: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "label": self.label}

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"


@dataclass
class ToolResult:
    data: dict[str, Any]
    citations: list[Citation] = field(default_factory=list)
    digest: str = ""
    error: str = ""

    @property
    def result_ids(self) -> list[dict[str, Any]]:
        return [{"type": citation.type, "id": citation.id} for citation in self.citations]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[[User, dict[str, Any]], ToolResult]

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def run(self, user: User, arguments: Any) -> ToolResult:
        return self.function(user, check_arguments(self.parameters, arguments))


def check_arguments(schema: dict[str, Any], arguments: Any) -> dict[str, Any]:
    """The arguments, checked against the (small) subset of JSON schema the tools use."""
    if not isinstance(arguments, dict):
        raise ToolInputError("Arguments must be an object.")
    properties = schema.get("properties", {})
    unknown = set(arguments) - set(properties)
    if unknown:
        raise ToolInputError(f"Unknown arguments: {', '.join(sorted(unknown))}.")
    for name in schema.get("required", []):
        if arguments.get(name) in (None, "", []):
            raise ToolInputError(f"{name} is required.")
    checked: dict[str, Any] = {}
    for name, value in arguments.items():
        spec = properties[name]
        if value is None:
            continue
        kind = spec.get("type")
        if kind == "string":
            if not isinstance(value, str):
                raise ToolInputError(f"{name} must be a string.")
            value = value.strip()[: spec.get("maxLength", 200)]
        elif kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ToolInputError(f"{name} must be a whole number.")
            value = max(spec.get("minimum", value), min(spec.get("maximum", value), value))
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise ToolInputError(f"{name} must be true or false.")
        elif kind == "array":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ToolInputError(f"{name} must be a list of strings.")
            choices = spec.get("items", {}).get("enum")
            if choices and any(item not in choices for item in value):
                raise ToolInputError(f"{name} must be among {', '.join(choices)}.")
            value = value[:8]
        if "enum" in spec and value not in spec["enum"]:
            raise ToolInputError(f"{name} must be one of {', '.join(map(str, spec['enum']))}.")
        checked[name] = value
    return checked


# --- helpers -------------------------------------------------------------------------------------
def _short(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _person(user: User | None) -> str | None:
    return str(user) if user else None


def ticket_row(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "title": ticket.title,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": _person(ticket.assignee),
        "team": ticket.team.name if ticket.team_id else None,
        "category": ticket.category.name if ticket.category_id else None,
    }


def ticket_citation(ticket: Ticket) -> Citation:
    return Citation("ticket", ticket.pk, f"{ticket.number} {ticket.title}")


def visible_ticket(user: User, number: str) -> Ticket | None:
    """The ticket by number if ``user`` may see it; None alike when missing or hidden."""
    if not NUMBER.match(number or ""):
        return None
    return (
        Ticket.objects.visible_to(user)
        .select_related("assignee", "team", "category", "requester")
        .filter(number=number.upper())
        .first()
    )


def not_found(number: str) -> ToolResult:
    # The same words for a ticket that does not exist and one the user may not see.
    return ToolResult({"found": False, "number": number.upper()}, digest=f"{number.upper()}: not found")


def find_person(text: str) -> User | None:
    """An agent by e-mail, full name or first name (unique), for filters."""
    text = text.strip()
    if not text:
        return None
    agents = User.objects.filter(is_active=True, role__in=["agent", "admin"])
    for query in (Q(email__iexact=text), Q(full_name__iexact=text), Q(full_name__istartswith=f"{text} ")):
        found = list(agents.filter(query)[:2])
        if len(found) == 1:
            return found[0]
    return None


def find_team(text: str) -> Team | None:
    return Team.objects.filter(name__iexact=text.strip()).first() if text.strip() else None


def keywords(text: str) -> list[str]:
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text.lower())
    return [word for word in words if word not in STOPWORDS and len(word) > 1][:12]


def period_bounds(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``[start, end)`` of a named period in local days (weeks start on Monday)."""
    today = kpis.local_today() if now is None else timezone.localdate(now)
    if period == "today":
        first, last = today, today
    elif period == "yesterday":
        first = last = today - timedelta(days=1)
    elif period == "this_week":
        first, last = today - timedelta(days=today.weekday()), today
    elif period == "last_week":
        last = today - timedelta(days=today.weekday() + 1)
        first = last - timedelta(days=6)
    elif period == "this_month":
        first, last = today.replace(day=1), today
    elif period == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        first = last.replace(day=1)
    else:
        days = int(period.split("_")[1])
        first, last = today - timedelta(days=days - 1), today
    return kpis.day_bounds(first, last)


def first_ranked(
    tickets: Any, order: tuple[str, ...], limit: int, related: tuple[str, ...] = ()
) -> list[Ticket]:
    """The first ``limit`` tickets of ``tickets`` (a full-text match) in ``order``, sorted on their
    ids and then loaded by primary key.

    A common word matches a third of a big desk: PostgreSQL ranks every match, and sorting those
    whole rows (descriptions, search vectors) cost twice as much as sorting the ids alone
    (EXPLAIN ANALYZE at 151,568 tickets, 48,659 matches for "vpn or drops": 154 → 78 ms). The
    ids' order is kept; ``pk`` breaks ties so the same question gets the same tickets.
    """
    ids = list(tickets.order_by(*order, "-pk").values_list("pk", flat=True)[:limit])
    found = Ticket.objects.select_related(*related).in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


# --- the tools -----------------------------------------------------------------------------------
def search_tickets(user: User, args: dict[str, Any]) -> ToolResult:
    tickets = Ticket.objects.visible_to(user).active()
    state = args.get("status", "any")
    if state == "open":
        tickets = tickets.open()
    elif state == "done":
        tickets = tickets.filter(status__in=DONE_STATUSES)
    elif state in TicketStatus.values:
        tickets = tickets.filter(status=state)
    if args.get("priority"):
        tickets = tickets.filter(priority=args["priority"])
    if args.get("assignee"):
        person = find_person(args["assignee"])
        tickets = tickets.filter(assignee=person) if person else tickets.none()
    if args.get("mine"):
        tickets = tickets.filter(Q(assignee=user) | Q(requester=user))
    if args.get("unassigned"):
        tickets = tickets.unassigned()
    if args.get("team"):
        team = find_team(args["team"])
        tickets = tickets.filter(team=team) if team else tickets.none()
    if args.get("category"):
        tickets = tickets.filter(category__name__iexact=args["category"])
    if args.get("text"):
        words = keywords(args["text"])
        if words:
            tickets = tickets.search(" or ".join(words)).order_by("-rank", "-created_at")
    limit = args.get("limit") or MAX_RESULTS
    total = tickets.count()
    rows = first_ranked(
        tickets,
        (*(["-rank"] if args.get("text") and keywords(args["text"]) else []), "priority_rank", "-created_at"),
        limit,
        related=("assignee", "team", "category"),
    )
    return ToolResult(
        {"count": total, "tickets": [ticket_row(ticket) for ticket in rows]},
        [ticket_citation(ticket) for ticket in rows],
        digest=f"{total} tickets; shown {', '.join(ticket.number for ticket in rows) or 'none'}",
    )


def get_ticket(user: User, args: dict[str, Any]) -> ToolResult:
    ticket = visible_ticket(user, args["number"])
    if ticket is None:
        return not_found(args["number"])
    comments = list(
        Comment.objects.visible_to(user)
        .filter(ticket=ticket)
        .select_related("author")
        .order_by("-created_at", "-id")[:5]
    )
    data = {
        "found": True,
        **ticket_row(ticket),
        "description": _short(ticket.description),
        "requester": _person(ticket.requester) if not user.is_requester else None,
        "created_at": ticket.created_at.isoformat(),
        "resolution": _short(ticket.resolution),
        "timeline": [
            {
                "at": comment.created_at.isoformat(),
                "author": _person(comment.author) or comment.author_label,
                "internal": comment.internal,
                "text": _short(comment.body, 200),
            }
            for comment in reversed(comments)
        ],
    }
    return ToolResult(data, [ticket_citation(ticket)], digest=f"{ticket.number} {ticket.status}")


def similar_tickets(user: User, args: dict[str, Any]) -> ToolResult:
    ticket = visible_ticket(user, args["number"])
    if ticket is None:
        return not_found(args["number"])
    hits = [hit for hit in similar_items(user, ticket, k=5) if hit.source_type == "ticket"]
    ids = [hit.source_id for hit in hits]
    found = {t.pk: t for t in Ticket.objects.visible_to(user).filter(pk__in=ids)}
    similar = [found[pk] for pk in ids if pk in found]
    if not similar:
        # No passages indexed yet: the same question in full text, resolved tickets first.
        words = keywords(ticket.title)
        others = Ticket.objects.visible_to(user).exclude(pk=ticket.pk)
        order, related = ("-rank", "-resolved_at", "-created_at"), ("assignee", "team", "category")
        # Tickets with every word of the title first; any of them only when fewer than five do.
        # On a big desk one common title word matches a third of the tickets and ranking them all
        # is the cost (151,568 tickets, "VPN disconnects every hour": 94 → 41 ms, the same five).
        similar = first_ranked(others.search(" ".join(words)), order, 5, related) if len(words) > 1 else []
        if len(similar) < 5:
            similar = first_ranked(others.search(" or ".join(words) or ticket.title), order, 5, related)
    rows = [{**ticket_row(other), "resolution": _short(other.resolution, 200)} for other in similar]
    return ToolResult(
        {"found": True, "number": ticket.number, "similar": rows},
        [ticket_citation(ticket)] + [ticket_citation(other) for other in similar],
        digest=f"{len(rows)} like {ticket.number}",
    )


def search_knowledge(user: User, args: dict[str, Any]) -> ToolResult:
    """Articles (hybrid search) and how resolved tickets were fixed (one line per distinct fix)."""
    text = args["text"]
    citations: list[Citation] = []
    articles = []
    try:
        hits = hybrid_search(user, text, k=5, sources=["article"]).hits
    except SearchInputError:
        hits = []
    for hit in hits:
        articles.append({"id": hit.source_id, "title": hit.title, "passage": _short(hit.text, 400)})
        citations.append(Citation("article", hit.source_id, hit.title))
    words = keywords(text)
    fixes: list[dict[str, Any]] = []
    if words:
        resolved = first_ranked(
            Ticket.objects.visible_to(user)
            .filter(status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED])
            .exclude(resolution="")
            .search(" or ".join(words)),
            ("-rank", "-resolved_at"),
            40,
        )
        by_fix: dict[str, dict[str, Any]] = {}
        for ticket in resolved:
            fix = by_fix.setdefault(
                ticket.resolution.strip(),
                {"resolution": _short(ticket.resolution), "tickets": [], "count": 0},
            )
            fix["count"] += 1
            if len(fix["tickets"]) < 3:
                fix["tickets"].append({"id": ticket.pk, "number": ticket.number, "title": ticket.title})
        # Specific fixes first: a fix written once beats a boilerplate line written on every ticket.
        fixes = sorted(by_fix.values(), key=lambda fix: fix["count"])[:3]
        citations += [
            Citation("ticket", row["id"], f"{row['number']} {row['title']}")
            for fix in fixes
            for row in fix["tickets"][:1]
        ]
    return ToolResult(
        {"articles": articles, "fixes": fixes},
        citations,
        digest=f"{len(articles)} articles, {len(fixes)} fixes",
    )


def sla_status(user: User, args: dict[str, Any]) -> ToolResult:
    ticket = visible_ticket(user, args["number"])
    if ticket is None:
        return not_found(args["number"])
    now = timezone.now()
    clocks = []
    for clock in ticket.sla_clocks.order_by("metric"):
        remaining = clock.remaining_seconds(now)
        clocks.append(
            {
                "metric": clock.metric,
                "state": clock.status_at(now),
                "due_at": clock.due_at.isoformat() if clock.due_at else None,
                "remaining_minutes": None if remaining is None else round(remaining / 60),
                "breached_at": clock.breached_at.isoformat() if clock.breached_at else None,
                "escalation_level": clock.escalation_level,
            }
        )
    risk = ticket.sla_risk_evaluations.order_by("-created_at", "-pk").first()
    data = {
        "found": True,
        "number": ticket.number,
        "title": ticket.title,
        "priority": ticket.priority,
        "status": ticket.status,
        "assignee": _person(ticket.assignee),
        "clocks": clocks,
        "risk": None
        if risk is None
        else {
            "band": risk.band,
            "score": round(risk.score, 2),
            "suggested_priority": risk.suggested_priority,
            "reasoning": _short(risk.reasoning),
        },
    }
    states = ", ".join(f"{c['metric']} {c['state']}" for c in clocks) or "no clocks"
    return ToolResult(data, [ticket_citation(ticket)], digest=f"{ticket.number}: {states}")


KPI_NAMES = (
    "mttr_hours",
    "mtta_minutes",
    "frt_minutes",
    "tickets_created",
    "tickets_resolved",
    "backlog_open",
    "breaches",
    "sla_resolution_met_rate",
    "sla_response_met_rate",
    "reopen_rate",
    "fcr_rate",
    "escalations",
)


def kpi_values(user: User, args: dict[str, Any]) -> ToolResult:
    names = [name for name in args["names"] if name in kpis.names()]
    if not names:
        return ToolResult({"values": {}}, error="No known KPI was asked.", digest="no KPI")
    start, end = period_bounds(args["period"])
    filters = {}
    if args.get("team"):
        filters["team"] = args["team"]
    if args.get("category"):
        filters["category"] = args["category"]
    try:
        result = kpis.compute(names, start, end, user=user, filters=filters)
    except PermissionDenied as error:
        return ToolResult({"values": {}}, error=str(error), digest="refused")
    except kpis.KPIInputError as error:
        return ToolResult({"values": {}}, error=str(error), digest="bad input")
    values = {}
    for name in names:
        value = result.value(name)
        if isinstance(value, dict):
            value = value.get("median")
        values[name] = kpis.rounded(value, 2) if isinstance(value, float) else value
    scope = " ".join(f"{key}={value}" for key, value in filters.items())
    label = f"{args['period']}{' ' + scope if scope else ''}"
    citations = [Citation("kpi", f"{name}:{label}", f"{kpis.get(name).label} ({label})") for name in names]
    return ToolResult(
        {
            "period": args["period"],
            "from": start.isoformat(),
            "to": end.isoformat(),
            "filters": filters,
            "values": values,
            "units": {name: kpis.get(name).unit for name in names},
            "labels": {name: str(kpis.get(name).label) for name in names},
        },
        citations,
        digest=", ".join(f"{name}={values[name]}" for name in names),
    )


def team_workload(user: User, args: dict[str, Any]) -> ToolResult:
    if user.is_requester:
        return ToolResult({"teams": []}, error="Workload is for the desk.", digest="refused")
    teams = Team.objects.order_by("name")
    if args.get("team"):
        teams = teams.filter(name__iexact=args["team"])
    teams = list(teams.prefetch_related("members")[:20])
    member_ids = {member.pk for team in teams for member in team.members.all()}
    open_counts = dict(
        Ticket.objects.visible_to(user)
        .open()
        .filter(assignee_id__in=member_ids)
        .values_list("assignee")
        .annotate(count=Count("id"))
        .values_list("assignee", "count")
    )
    rows = []
    for team in teams:
        members = []
        for member in sorted(team.members.all(), key=lambda m: str(m)):
            if not member.is_active or member.role not in ("agent", "admin"):
                continue
            load = open_counts.get(member.pk, 0)
            members.append(
                {
                    "name": str(member),
                    "open": load,
                    "capacity": member.capacity,
                    "available": member.is_available,
                    "room": max(0, member.capacity - load) if member.is_available else 0,
                }
            )
        rows.append({"team": team.name, "members": members, "open": sum(m["open"] for m in members)})
    return ToolResult(
        {"teams": rows},
        [],
        digest="; ".join(f"{row['team']}: {row['open']} open" for row in rows) or "no team",
    )


def search_problems(user: User, args: dict[str, Any]) -> ToolResult:
    problems = Problem.objects.visible_to(user)
    words = keywords(args["text"])
    if not words:
        problems = problems.none()
    else:
        match = Q()
        for word in words:
            match |= Q(title__icontains=word) | Q(description__icontains=word) | Q(workaround__icontains=word)
        problems = problems.filter(match)
    rows = list(problems.order_by("-updated_at")[:MAX_RESULTS])
    return ToolResult(
        {
            "problems": [
                {
                    "number": problem.number,
                    "title": problem.title,
                    "status": problem.status,
                    "workaround": _short(problem.workaround),
                    "root_cause": _short(problem.root_cause),
                }
                for problem in rows
            ]
        },
        [Citation("problem", problem.pk, f"{problem.number} {problem.title}") for problem in rows],
        digest=f"{len(rows)} problems",
    )


NUMBER_ARG = {"number": {"type": "string", "maxLength": 20, "description": "A ticket number: INC-000042"}}
_status_choices = ["any", "open", "done", *TicketStatus.values]

REGISTRY: dict[str, Tool] = {
    tool.name: tool
    for tool in [
        Tool(
            "search_tickets",
            "Find tickets the user may see by filters and full text; returns the count and the first ones.",
            {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "maxLength": 200},
                    "status": {"type": "string", "enum": _status_choices},
                    "priority": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
                    "assignee": {
                        "type": "string",
                        "maxLength": 120,
                        "description": "An agent's name or e-mail",
                    },
                    "team": {"type": "string", "maxLength": 120},
                    "category": {"type": "string", "maxLength": 120},
                    "mine": {"type": "boolean", "description": "Only tickets assigned to or asked by me"},
                    "unassigned": {"type": "boolean"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS},
                },
                "additionalProperties": False,
            },
            search_tickets,
        ),
        Tool(
            "get_ticket",
            "One ticket by number with a summary of its recent timeline.",
            {
                "type": "object",
                "properties": NUMBER_ARG,
                "required": ["number"],
                "additionalProperties": False,
            },
            get_ticket,
        ),
        Tool(
            "similar_tickets",
            "Tickets like a given ticket (resolved ones with their resolution).",
            {
                "type": "object",
                "properties": NUMBER_ARG,
                "required": ["number"],
                "additionalProperties": False,
            },
            similar_tickets,
        ),
        Tool(
            "search_knowledge",
            "Knowledge articles and how resolved tickets were fixed, for a text.",
            {
                "type": "object",
                "properties": {"text": {"type": "string", "maxLength": 300}},
                "required": ["text"],
                "additionalProperties": False,
            },
            search_knowledge,
        ),
        Tool(
            "sla_status",
            "SLA clocks (state, due, remaining) and the latest risk evaluation of a ticket.",
            {
                "type": "object",
                "properties": NUMBER_ARG,
                "required": ["number"],
                "additionalProperties": False,
            },
            sla_status,
        ),
        Tool(
            "kpi",
            "Service KPIs (MTTR, backlog, breaches…) over a named period, optionally for a team or category.",
            {
                "type": "object",
                "properties": {
                    "names": {"type": "array", "items": {"type": "string", "enum": list(KPI_NAMES)}},
                    "period": {"type": "string", "enum": list(PERIODS)},
                    "team": {"type": "string", "maxLength": 120},
                    "category": {"type": "string", "maxLength": 120},
                },
                "required": ["names", "period"],
                "additionalProperties": False,
            },
            kpi_values,
        ),
        Tool(
            "team_workload",
            "Open tickets per agent against their capacity and availability, for one team or all.",
            {
                "type": "object",
                "properties": {"team": {"type": "string", "maxLength": 120}},
                "additionalProperties": False,
            },
            team_workload,
        ),
        Tool(
            "search_problems",
            "Problems and known errors (with workaround) matching a text.",
            {
                "type": "object",
                "properties": {"text": {"type": "string", "maxLength": 300}},
                "required": ["text"],
                "additionalProperties": False,
            },
            search_problems,
        ),
    ]
}


def get(name: str) -> Tool:
    return REGISTRY[name]


def categories() -> list[str]:
    return list(Category.objects.order_by("name").values_list("name", flat=True))


__all__ = ["OPEN_STATUSES", "REGISTRY", "Citation", "Tool", "ToolInputError", "ToolResult", "get"]

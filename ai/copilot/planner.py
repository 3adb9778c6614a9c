"""The local planner: deterministic, air-gapped, the default.

The question alone decides the plan (never the text of a ticket or article): intent by patterns,
then by the nearest example question in the local embeddings when no pattern fits; slots (ticket
numbers, people, teams, categories, priorities, statuses, periods) recognised against the
database. The plan is one or a few tool calls; the answer is assembled from their results only,
and cites them. Anything else is declined with what the copilot can answer.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ai.copilot.tools import Citation, ToolResult
from ai.providers import ProviderUnavailable, embed_texts
from itsm.models import Team, User
from tickets.models import Category

logger = logging.getLogger(__name__)

TICKET_NUMBER = re.compile(r"\b(INC|REQ)[-\s]?(\d{1,9})\b", re.IGNORECASE)
PROBLEM_NUMBER = re.compile(r"\bPRB[-\s]?(\d{1,9})\b", re.IGNORECASE)
PRIORITY_WORDS = {
    "critical": "critical",
    "urgent": "critical",
    "p1": "critical",
    "high": "high",
    "p2": "high",
    "medium": "medium",
    "normal": "medium",
    "p3": "medium",
    "low": "low",
    "p4": "low",
}
STATUS_WORDS = [
    (r"\bin[ _]progress\b", "in_progress"),
    (r"\bpending\b", "pending_customer"),
    (r"\bresolved\b", "resolved"),
    (r"\bclosed\b", "closed"),
    (r"\bcancell?ed\b", "cancelled"),
    (r"\bnew\b", "new"),
    (r"\b(open|unresolved|active|outstanding)\b", "open"),
]
PERIOD_PATTERNS = [
    (r"\btoday\b", "today"),
    (r"\byesterday\b", "yesterday"),
    (r"\bthis week\b", "this_week"),
    (r"\blast week\b|\bprevious week\b", "last_week"),
    (r"\bthis month\b", "this_month"),
    (r"\blast month\b|\bprevious month\b", "last_month"),
    (r"\b(last|past) (7|seven) days\b", "last_7_days"),
    (r"\b(last|past) (30|thirty) days\b", "last_30_days"),
    (r"\b(last|past) (90|ninety) days\b|\b(last|past) (quarter|3 months)\b", "last_90_days"),
]
PREVIOUS = {"this_week": "last_week", "this_month": "last_month", "today": "yesterday"}
KPI_WORDS = [
    (r"\bmttr\b|mean time to (resolve|resolution|repair)|resolution time|time to resolve", "mttr_hours"),
    (r"\bmtta\b|time to (acknowledge|assign)", "mtta_minutes"),
    (r"first response|response time|time to (first )?respon|\bfrt\b", "frt_minutes"),
    (r"sla.*(met|compliance|rate|attain)|(met|compliance).*sla", "sla_resolution_met_rate"),
    (r"\bbreach(es|ed)?\b", "breaches"),
    (r"\bbacklog\b", "backlog_open"),
    (r"\breopen(ed|ing)?( rate)?\b", "reopen_rate"),
    (r"\bfcr\b|first contact", "fcr_rate"),
    (r"\bescalat", "escalations"),
    (r"\b(created|opened|raised|logged|came in|new tickets)\b", "tickets_created"),
    (r"\b(resolved|closed|solved)\b", "tickets_resolved"),
]
KPI_UNITS = {"hours": "h", "minutes": "min", "rate": "%", "count": "", "tickets": ""}

INTENT_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "refuse",
        re.compile(
            r"\b(delete|drop|erase|wipe|purge)\b|ignore (all|your|previous|the) (rules|instructions)"
            r"|system prompt|reveal (your|the) (prompt|instructions)",
            re.I,
        ),
    ),
    (
        "propose",
        re.compile(
            r"^\s*(please\s+|can you\s+|could you\s+)?(re)?assign\b|\b(assign|give)\b.+\bto\b"
            r"|^\s*(please\s+|can you\s+)?(resolve|close|cancel|reopen)\b"
            r"|\b(set|change|raise|lower|bump|make)\b.+\bpriority\b|\bpriority\b.+\bto (critical|high|medium|low)\b"
            r"|\breply to\b|\bpost (a )?reply\b|\blink\b.+\bPRB",
            re.I,
        ),
    ),
    ("sla", re.compile(r"\b(sla|at risk|risk|breach|breached|due|overdue|late|deadline|escalat\w*)\b", re.I)),
    ("similar", re.compile(r"\b(similar|like|related|duplicates?|same as)\b", re.I)),
    (
        "workload",
        re.compile(
            r"\b(workload|capacity|available|availability|free to take|who can take|overloaded|busy|room|on shift)\b",
            re.I,
        ),
    ),
    (
        "problems",
        re.compile(
            r"\b(known errors?|problem records?|problems? (about|for|matching)|root cause|PRB)\b", re.I
        ),
    ),
    (
        "kpi",
        re.compile(
            r"\b(mttr|mtta|mean time|first response|response time|resolution time|time to resolve|sla met"
            r"|compliance|breaches|backlog|reopen rate|fcr|first contact|kpis?|metrics?|statistics|stats)\b"
            r"|how many tickets (were|did we|have been|got)?\s*(we )?(created|opened|resolved|closed|raised|logged|solve|close|open|get|receive)",
            re.I,
        ),
    ),
    (
        "knowledge",
        re.compile(
            r"\bhow (do|did|can|to|should|does)\b|\b(fix|fixed|solve|solved|troubleshoot|workaround|articles?|kb|guide"
            r"|instructions?|steps|reset|configure|set ?up)\b",
            re.I,
        ),
    ),
    (
        "search",
        re.compile(
            r"\b(tickets?|incidents?|requests?|queue|unassigned|assigned|open|critical|escalated|waiting)\b",
            re.I,
        ),
    ),
]
NEEDS_TICKET = {"sla", "similar", "ticket", "propose"}

# Example questions per intent: the local embeddings pick the nearest when no pattern fits.
EXAMPLES: dict[str, list[str]] = {
    "search": ["show me the tickets of the queue", "which incidents are waiting for Alex"],
    "kpi": ["how fast do we resolve incidents", "how long do customers wait for an answer"],
    "workload": ["who has the most work right now", "which agent has the least on their plate"],
    "knowledge": ["what did we do last time the printer jammed", "any documentation on mailbox quota"],
    "problems": ["is there an underlying cause for the repeated outages"],
}
INTENT_THRESHOLD = 0.55


@dataclass
class Call:
    tool: str
    arguments: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "arguments": self.arguments}


@dataclass
class Slots:
    numbers: list[str] = field(default_factory=list)
    problem_numbers: list[str] = field(default_factory=list)
    people: list[User] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    priority: str | None = None
    status: str | None = None
    period: str | None = None
    compare: str | None = None
    mine: bool = False
    unassigned: bool = False
    kpis: list[str] = field(default_factory=list)


@dataclass
class Plan:
    intent: str
    calls: list[Call]
    slots: Slots
    question: str
    # The write proposed (``propose`` intent), made only if the ticket is found.
    proposal: dict[str, Any] | None = None
    decline: str = ""


@dataclass
class Composed:
    status: str  # answered | declined
    answer: str
    citations: list[Citation]
    proposals: list[dict[str, Any]]


def normalise_number(prefix: str, digits: str) -> str:
    return f"{prefix.upper()}-{int(digits):06d}"


def _words(pattern: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(pattern)}(?:'s)?(?![\w-])", text, re.I) is not None


def recognise(question: str, user: User) -> Slots:
    """Slots named in the question, recognised against the database (three small queries)."""
    slots = Slots()
    slots.numbers = list(dict.fromkeys(normalise_number(p, d) for p, d in TICKET_NUMBER.findall(question)))
    slots.problem_numbers = [f"PRB-{int(d):06d}" for d in PROBLEM_NUMBER.findall(question)]
    text = TICKET_NUMBER.sub(" ", question)
    if not user.is_requester:
        agents = User.objects.filter(is_active=True, role__in=["agent", "admin"]).only(
            "pk", "full_name", "email"
        )
        for person in agents:
            names = [person.full_name, person.email]
            first = person.full_name.split(" ")[0] if person.full_name else ""
            if len(first) > 2:
                names.append(first)
            if any(name and _words(name, text) for name in names) and person not in slots.people:
                slots.people.append(person)
    teams = list(Team.objects.values_list("name", flat=True))
    categories = list(Category.objects.values_list("name", flat=True))
    slots.teams = [name for name in teams if _words(name, text)]
    slots.categories = [name for name in categories if _words(name, text) and name not in slots.teams]
    for word, priority in PRIORITY_WORDS.items():
        if _words(word, text):
            slots.priority = priority
            break
    for pattern, status in STATUS_WORDS:
        if re.search(pattern, text, re.I):
            slots.status = status
            break
    for pattern, period in PERIOD_PATTERNS:
        if re.search(pattern, text, re.I):
            slots.period = period
            break
    if slots.period and re.search(r"\b(vs\.?|versus|compared?|than)\b", text, re.I):
        slots.compare = PREVIOUS.get(slots.period)
    slots.mine = re.search(r"\b(my|mine|me)\b", text, re.I) is not None
    slots.unassigned = (
        re.search(r"\b(unassigned|not assigned|nobody|no one|no owner)\b", text, re.I) is not None
    )
    for pattern, name in KPI_WORDS:
        if re.search(pattern, text, re.I) and name not in slots.kpis:
            slots.kpis.append(name)
    return slots


_example_vectors: dict[str, list[list[float]]] = {}


def _cosine(left: list[float], right: list[float]) -> float:
    dot = sum(a * b for a, b in zip(left, right, strict=False))
    norm = math.sqrt(sum(a * a for a in left)) * math.sqrt(sum(b * b for b in right))
    return dot / norm if norm else 0.0


def nearest_intent(question: str) -> tuple[str | None, float]:
    """The intent of the nearest example question, if near enough (local embeddings)."""

    try:
        if not _example_vectors:
            texts = [example for examples in EXAMPLES.values() for example in examples]
            vectors = iter(embed_texts(texts))
            for intent, examples in EXAMPLES.items():
                _example_vectors[intent] = [next(vectors) for _example in examples]
        (vector,) = embed_texts([question])
    except (ProviderUnavailable, OSError, RuntimeError) as error:
        logger.warning("Copilot: intent embeddings unavailable (%s)", error)
        return None, 0.0
    best, score = None, 0.0
    for intent, vectors in _example_vectors.items():
        for example in vectors:
            similarity = _cosine(vector, example)
            if similarity > score:
                best, score = intent, similarity
    return (best, score) if score >= INTENT_THRESHOLD else (None, score)


def detect_intent(question: str, slots: Slots) -> str | None:
    for intent, pattern in INTENT_PATTERNS:
        if intent in ("sla", "similar") and not slots.numbers:
            continue
        if intent == "search" and slots.numbers:
            break  # "tell me about this ticket": the ticket, not a search
        if pattern.search(question):
            return intent
    if slots.numbers:
        return "ticket"
    return nearest_intent(question)[0]


def _search_arguments(slots: Slots, question: str, user: User) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    status = slots.status
    if status is None and re.search(r"\b(workload|queue|waiting|escalated)\b", question, re.I):
        status = "open"
    if status:
        arguments["status"] = status
    if slots.priority:
        arguments["priority"] = slots.priority
    if slots.people:
        arguments["assignee"] = slots.people[0].email
    elif slots.mine:
        arguments["mine"] = True
    if slots.unassigned:
        arguments["unassigned"] = True
    if slots.teams:
        arguments["team"] = slots.teams[0]
    if slots.categories:
        arguments["category"] = slots.categories[0]
    topic = re.search(
        r"\b(about|mention(?:ing)?|regarding|with|containing|on)\s+(?:the\s+)?([\w\s-]{2,60})", question, re.I
    )
    if topic and not slots.people:
        words = [w for w in re.findall(r"[\w-]+", topic.group(2)) if w.lower() not in {"tickets", "ticket"}]
        text = " ".join(words[:5])
        if text and not any(_words(text, name) for name in slots.teams + slots.categories):
            arguments["text"] = text
    return arguments


def _proposal(question: str, slots: Slots) -> dict[str, Any] | None:
    number = slots.numbers[0]
    lowered = question.lower()
    if re.search(r"\b(re)?assign\b|\bgive\b", lowered):
        if slots.people:
            person = slots.people[0]
            return {
                "action": "assign",
                "arguments": {"number": number, "assignee": person.email},
                "label": _("Assign %(number)s to %(person)s") % {"number": number, "person": person},
            }
        return None
    if "priority" in lowered and slots.priority:
        return {
            "action": "set_priority",
            "arguments": {
                "number": number,
                "priority": slots.priority,
                "reason": f"Copilot: {question[:200]}",
            },
            "label": _("Set the priority of %(number)s to %(priority)s")
            % {"number": number, "priority": slots.priority},
        }
    moves = {"resolve": "resolved", "close": "closed", "cancel": "cancelled", "reopen": "open"}
    for verb, status in moves.items():
        if re.search(rf"\b{verb}\b", lowered):
            resolution = ""
            found = re.search(r"(?:\bwith\b:?|:)\s*(.+)$", question)
            if status == "resolved" and found:
                resolution = found.group(1).strip()[:1000]
            return {
                "action": "set_status",
                "arguments": {"number": number, "status": status, "resolution": resolution},
                "label": _("Move %(number)s to %(status)s") % {"number": number, "status": status},
            }
    if "reply" in lowered:
        found = re.search(r":\s*(.+)$", question, re.S)
        if found and found.group(1).strip():
            body = found.group(1).strip()[:4000]
            return {
                "action": "reply",
                "arguments": {"number": number, "body": body},
                "label": _("Reply on %(number)s: %(body)s") % {"number": number, "body": body[:80]},
            }
        return None
    if slots.problem_numbers:
        return {
            "action": "link_problem",
            "arguments": {"number": number, "problem": slots.problem_numbers[0]},
            "label": _("Link %(number)s to %(problem)s")
            % {"number": number, "problem": slots.problem_numbers[0]},
        }
    return None


def plan(question: str, user: User, *, context_number: str | None = None) -> Plan:
    slots = recognise(question, user)
    if not slots.numbers and context_number and re.search(r"\b(this|it|its|the ticket)\b", question, re.I):
        slots.numbers = [context_number]
    intent = detect_intent(question, slots)
    if intent is None or intent == "refuse":
        return Plan(intent or "unknown", [], slots, question, decline=intent or "unknown")
    if intent in NEEDS_TICKET and not slots.numbers:
        if intent == "propose":
            return Plan("propose", [], slots, question, decline="no_ticket")
        intent = "search" if intent != "similar" else "knowledge"
    calls: list[Call] = []
    proposal = None
    if intent == "propose":
        proposal = _proposal(question, slots)
        if proposal is None:
            return Plan(intent, [], slots, question, decline="no_proposal")
        calls = [Call("get_ticket", {"number": slots.numbers[0]})]
    elif intent == "ticket":
        calls = [Call("get_ticket", {"number": number}) for number in slots.numbers[:3]]
    elif intent == "sla":
        calls = [Call("sla_status", {"number": number}) for number in slots.numbers[:3]]
    elif intent == "similar":
        calls = [Call("similar_tickets", {"number": slots.numbers[0]})]
    elif intent == "workload":
        calls = [Call("team_workload", {"team": slots.teams[0]} if slots.teams else {})]
    elif intent == "problems":
        calls = [Call("search_problems", {"text": _topic(question, slots)})]
    elif intent == "knowledge":
        calls = [Call("search_knowledge", {"text": _topic(question, slots)})]
    elif intent == "kpi":
        names = slots.kpis or ["tickets_created", "tickets_resolved"]
        period = slots.period or "last_7_days"
        base: dict[str, Any] = {"names": names[:4], "period": period}
        if slots.teams:
            base["team"] = slots.teams[0]
        elif slots.categories:
            base["category"] = slots.categories[0]
        calls = [Call("kpi", base)]
        if slots.compare:
            calls.append(Call("kpi", {**base, "period": slots.compare}))
    else:
        calls = [Call("search_tickets", _search_arguments(slots, question, user))]
    return Plan(intent, calls, slots, question, proposal=proposal)


def _topic(question: str, slots: Slots) -> str:
    text = TICKET_NUMBER.sub(" ", question)
    for pattern, _period in PERIOD_PATTERNS:
        text = re.sub(pattern, " ", text, flags=re.I)
    return " ".join(text.split())[:300] or question[:300]


# --- answers ----------------------------------------------------------------------------------------
def suggestions() -> str:
    return _(
        "I can answer questions such as: “what are Sam's open critical tickets?”, “why is INC-000042 at "
        "risk?”, “how did we fix VPN drops?”, “MTTR for Network this week vs last?”, “who is available in "
        "Hardware?”, “known errors about email”, or propose “assign INC-000042 to Sam”."
    )


def decline(reason: str) -> Composed:
    messages = {
        "refuse": _("I only read the desk's data and propose changes for you to confirm; I cannot do that."),
        "no_ticket": _("Tell me which ticket (its number, INC-000042) and I can propose it."),
        "no_proposal": _("I did not understand which change to propose."),
    }
    text = messages.get(reason, _("I did not understand the question."))
    return Composed("declined", f"{text} {suggestions()}", [], [])


def _ticket_line(row: dict[str, Any]) -> str:
    who = row.get("assignee") or _("unassigned")
    return f"{row['number']} “{row['title']}” ({row['status']}, {row['priority']}, {who})"


def _value(value: Any, unit: str) -> str:
    if value is None:
        return _("nothing measured")
    if unit == "rate":
        return f"{value * 100:.0f}%"
    suffix = KPI_UNITS.get(unit, "")
    number = f"{value:.1f}" if isinstance(value, float) else str(value)
    return f"{number} {suffix}".strip()


def compose(the_plan: Plan, results: list[ToolResult]) -> Composed:
    """The answer from the tool results only, citing each source it names."""
    if the_plan.decline:
        return decline(the_plan.decline)
    citations: list[Citation] = []
    for result in results:
        citations.extend(result.citations)
    lines: list[str] = []
    proposals: list[dict[str, Any]] = []
    intent = the_plan.intent
    errors = [result.error for result in results if result.error]
    if errors and not any(result.data.get("values") or result.data.get("teams") for result in results):
        return Composed("declined", " ".join(dict.fromkeys(errors)), [], [])
    lines += [
        _("I found no ticket %(number)s that you can see.") % {"number": result.data["number"]}
        for result in results
        if result.data.get("found") is False
    ]
    if intent == "search":
        data = results[0].data
        if not data["count"]:
            return Composed("answered", _("No ticket you can see matches that."), [], [])
        lines.append(
            ngettext("%(count)s ticket matches:", "%(count)s tickets match:", data["count"])
            % {"count": data["count"]}
        )
        lines += [f"- {_ticket_line(row)}" for row in data["tickets"]]
    elif intent == "ticket":
        for result in results:
            data = result.data
            if not data.get("found"):
                continue
            team = f", {data['team']}" if data.get("team") else ""
            lines.append(f"{_ticket_line(data)}{team}.")
            if data.get("resolution"):
                lines.append(_("Resolution: %(text)s") % {"text": data["resolution"]})
            if data["timeline"]:
                last = data["timeline"][-1]
                lines.append(
                    _("Latest: %(author)s: %(text)s") % {"author": last["author"], "text": last["text"]}
                )
    elif intent == "sla":
        for result in results:
            data = result.data
            if not data.get("found"):
                continue
            if not data["clocks"]:
                lines.append(_("%(number)s has no SLA clock.") % {"number": data["number"]})
            for clock in data["clocks"]:
                state = clock["state"].replace("_", " ")
                detail = ""
                if clock["remaining_minutes"] is not None and clock["state"] in ("on_track", "at_risk"):
                    detail = _(", %(minutes)s min left") % {"minutes": clock["remaining_minutes"]}
                elif clock["state"] == "breached" and clock["due_at"]:
                    detail = _(", was due %(at)s") % {"at": clock["due_at"][:16].replace("T", " ")}
                lines.append(
                    _("%(number)s %(metric)s clock: %(state)s%(detail)s.")
                    % {"number": data["number"], "metric": clock["metric"], "state": state, "detail": detail}
                )
            risk = data.get("risk")
            if risk:
                lines.append(
                    _("Risk %(band)s (%(score)s): %(reason)s")
                    % {"band": risk["band"], "score": risk["score"], "reason": risk["reasoning"]}
                )
            if not data.get("assignee") and data["status"] not in ("resolved", "closed", "cancelled"):
                lines.append(_("Nobody is assigned."))
    elif intent == "similar":
        data = results[0].data
        if data.get("found"):
            if not data["similar"]:
                lines.append(_("I found no ticket like %(number)s.") % {"number": data["number"]})
            for row in data["similar"]:
                fix = f" — {row['resolution']}" if row.get("resolution") else ""
                lines.append(f"- {_ticket_line(row)}{fix}")
    elif intent == "knowledge":
        data = results[0].data
        for article in data["articles"][:3]:
            lines.append(f"- {article['title']}: {article['passage']}")
        for fix in data["fixes"]:
            first = fix["tickets"][0]
            numbers = ", ".join(
                [f"{first['number']} “{first['title']}”"] + [row["number"] for row in fix["tickets"][1:]]
            )
            lines.append(
                ngettext(
                    "- Fixed before (%(numbers)s): %(text)s",
                    "- Fixed before (%(numbers)s, %(count)s tickets): %(text)s",
                    fix["count"],
                )
                % {"numbers": numbers, "count": fix["count"], "text": fix["resolution"]}
            )
        if not lines:
            return Composed("answered", _("I found no article or past fix about that."), [], [])
    elif intent == "kpi":
        for result in results:
            data = result.data
            scope = " ".join(str(value) for value in data.get("filters", {}).values())
            parts = [
                f"{data['labels'][name]} {_value(value, data['units'][name])}"
                for name, value in data["values"].items()
            ]
            period = data["period"].replace("_", " ")
            lines.append(f"{period}{' (' + scope + ')' if scope else ''}: {', '.join(parts)}.")
    elif intent == "workload":
        for team in results[0].data["teams"]:
            members = ", ".join(
                f"{m['name']} {m['open']}/{m['capacity']}{'' if m['available'] else ' ' + _('(away)')}"
                for m in team["members"]
            )
            lines.append(
                f"{team['team']}: {team['open']} " + _("open") + (f" — {members}" if members else "")
            )
        roomy = [
            (m["room"], m["name"]) for team in results[0].data["teams"] for m in team["members"] if m["room"]
        ]
        if roomy:
            lines.append(_("Most room: %(name)s.") % {"name": max(roomy)[1]})
        if not lines:
            lines.append(_("No such team."))
    elif intent == "problems":
        rows = results[0].data["problems"]
        if not rows:
            return Composed("answered", _("No problem or known error matches that."), [], [])
        for row in rows:
            workaround = f" — {_('workaround')}: {row['workaround']}" if row.get("workaround") else ""
            lines.append(f"- {row['number']} “{row['title']}” ({row['status']}){workaround}")
    elif intent == "propose" and results and results[0].data.get("found"):
        proposals.append(the_plan.proposal)
        lines.append(_("I can do this once you confirm: %(label)s.") % {"label": the_plan.proposal["label"]})
    if not lines:
        return Composed("declined", _("I found nothing to answer with."), citations, [])
    return Composed("answered", "\n".join(lines), _dedupe(citations), proposals)


def _dedupe(citations: list[Citation]) -> list[Citation]:
    seen: dict[str, Citation] = {}
    for citation in citations:
        seen.setdefault(citation.key, citation)
    return list(seen.values())

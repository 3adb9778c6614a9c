"""What a chat notification says, independent of Teams or Slack formatting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from integrations.webhooks.events import Event


@dataclass
class Notice:
    headline: str
    text: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    link: str = ""
    link_label: str = ""
    # good | warning | attention | accent (Adaptive Card colours; Slack ignores them)
    tone: str = "accent"


def _ticket_facts(ticket: dict[str, Any]) -> list[tuple[str, str]]:
    assignee = (ticket.get("assignee") or {}).get("name") or _("unassigned")
    facts = [
        (_("Priority"), str(ticket.get("priority", ""))),
        (_("Status"), str(ticket.get("status", ""))),
        (_("Team"), ticket.get("team") or "-"),
        (_("Assignee"), assignee),
    ]
    if ticket.get("organisation"):
        facts.append((_("Organisation"), f"{ticket['organisation']} ({ticket.get('tier') or '-'})"))
    return facts


SLA_METRICS = {"response": "response", "resolution": "resolution"}
PROBLEM_EVENTS = (
    Event.PROBLEM_CREATED,
    Event.PROBLEM_INCIDENT_LINKED,
    Event.PROBLEM_MERGED,
    Event.PROBLEM_STATUS_CHANGED,
    Event.PROBLEM_RESOLVED,
)


def _problem_notice(event: str, data: dict[str, Any]) -> Notice:
    """problem.created, .incident_linked, .merged, .status_changed, .resolved."""
    problem = data.get("problem") or {}
    number = problem.get("number", "")
    facts = [
        (_("Status"), str(problem.get("status", ""))),
        (_("Linked incidents"), str(problem.get("incident_count", 0))),
        (_("Team"), problem.get("team") or "-"),
    ]
    link, title, tone = problem.get("url", ""), problem.get("title", ""), "accent"
    if event == Event.PROBLEM_CREATED:
        headline = _("Problem %(number)s opened by %(actor)s") % {
            "number": number,
            "actor": data.get("actor", ""),
        }
    elif event == Event.PROBLEM_INCIDENT_LINKED:
        incident = (data.get("incident") or {}).get("number", "")
        values = {"incident": incident, "number": number}
        if data.get("joined"):
            headline = _("%(incident)s joined problem %(number)s (similar incidents)") % values
            tone = "warning"
        else:
            headline = _("%(incident)s linked to problem %(number)s") % values
    elif event == Event.PROBLEM_MERGED:
        into = data.get("into") or {}
        headline = _("Problem %(number)s merged into %(into)s") % {
            "number": number,
            "into": into.get("number", ""),
        }
        facts.append(
            (_("Incidents moved"), ", ".join(i.get("number", "") for i in data.get("incidents") or []) or "-")
        )
        link, title = into.get("url", "") or link, into.get("title", "") or title
    elif event == Event.PROBLEM_RESOLVED:
        headline = _("Problem %(number)s resolved") % {"number": number}
        tone = "good"
        if problem.get("fix"):
            facts.append((_("Permanent fix"), problem["fix"][:300]))
    else:
        headline = _("Problem %(number)s: %(previous)s → %(status)s") % {
            "number": number,
            "previous": data.get("from", ""),
            "status": data.get("to", ""),
        }
    return Notice(headline, title, facts, link, _("Open problem"), tone)


def notice_for(event: str, data: dict[str, Any]) -> Notice:
    ticket = data.get("ticket") or {}
    number, title = ticket.get("number", ""), ticket.get("title", "")
    if ticket.get("sensitive"):
        # The event carries no text of a sensitive ticket (integrations.webhooks.events): say so.
        title = _("Sensitive ticket: open it to read the details.")
    open_ticket = _("Open ticket")
    if event == Event.TICKET_CRITICAL:
        return Notice(
            _("Critical ticket %(number)s") % {"number": number},
            title,
            _ticket_facts(ticket),
            ticket.get("url", ""),
            open_ticket,
            "attention",
        )
    if event == Event.TICKET_CREATED:
        return Notice(
            _("New ticket %(number)s") % {"number": number},
            title,
            _ticket_facts(ticket),
            ticket.get("url", ""),
            open_ticket,
            "accent",
        )
    if event == Event.TICKET_UPDATED:
        changed = ", ".join(data.get("changed") or []) or "-"
        return Notice(
            _("%(number)s updated (%(changed)s)") % {"number": number, "changed": changed},
            title,
            _ticket_facts(ticket),
            ticket.get("url", ""),
            open_ticket,
            "accent",
        )
    if event in (Event.SLA_AT_RISK, Event.SLA_BREACHED):
        sla = data.get("sla") or {}
        metric = sla.get("metric", "")
        if event == Event.SLA_BREACHED:
            headline = _("%(number)s breached its %(metric)s SLA") % {"number": number, "metric": metric}
        else:
            headline = _("%(number)s is at risk of breaching its %(metric)s SLA") % {
                "number": number,
                "metric": metric,
            }
        facts = [*_ticket_facts(ticket), (_("Due"), sla.get("due_at") or "-")]
        return Notice(
            headline,
            title,
            facts,
            ticket.get("url", ""),
            open_ticket,
            "attention" if event == Event.SLA_BREACHED else "warning",
        )
    if event in (Event.COMMENT_ADDED, Event.COMMENT_EDITED):
        comment = data.get("comment") or {}
        values = {"number": number, "author": comment.get("author", "")}
        if comment.get("internal"):
            headline = _("Internal note on %(number)s by %(author)s") % values
        else:
            headline = _("Reply on %(number)s by %(author)s") % values
        if event == Event.COMMENT_EDITED:
            headline = _("%(headline)s (edited)") % {"headline": headline}
        body = comment.get("body") or ""
        text = body if len(body) <= 600 else body[:600].rstrip() + "…"
        return Notice(
            headline, text or title, _ticket_facts(ticket), ticket.get("url", ""), open_ticket, "accent"
        )
    if event == Event.PROBLEM_DETECTED:
        problem = data.get("problem") or {}
        incidents = data.get("incidents") or []
        facts = [
            (_("Linked incidents"), str(problem.get("incident_count", len(incidents)))),
            (_("Team"), problem.get("team") or "-"),
            (_("Incidents"), ", ".join(item.get("number", "") for item in incidents[:10]) or "-"),
        ]
        return Notice(
            _("Problem %(number)s detected") % {"number": problem.get("number", "")},
            problem.get("title", ""),
            facts,
            problem.get("url", ""),
            _("Open problem"),
            "warning",
        )
    if event in PROBLEM_EVENTS:
        return _problem_notice(event, data)
    if event == Event.CHANGE_STATUS_CHANGED:
        change = data.get("change") or {}
        facts = [
            (_("Risk"), change.get("risk") or "-"),
            (_("Planned start"), change.get("planned_start") or "-"),
            (_("Team"), change.get("team") or "-"),
        ]
        return Notice(
            _("Change %(number)s: %(previous)s → %(status)s")
            % {
                "number": change.get("number", ""),
                "previous": data.get("from", ""),
                "status": data.get("to", ""),
            },
            change.get("title", ""),
            facts,
            change.get("url", ""),
            _("Open change"),
            "accent",
        )
    if event in (Event.APPROVAL_REQUESTED, Event.APPROVAL_DECIDED):
        return _approval_notice(event, data)
    return Notice(
        data.get("headline") or _("Message from the service desk"),
        data.get("text", ""),
        [],
        data.get("url", ""),
        _("Open"),
        "good",
    )


def _approval_notice(event: str, data: dict[str, Any]) -> Notice:
    approval = data.get("approval") or {}
    target = approval.get("target") or {}
    summary = approval.get("summary", "")
    requester = (approval.get("requested_by") or {}).get("name") or approval.get("requested_by_label") or "-"
    names = [person.get("name", "") for person in approval.get("approvers") or []]
    approvers = ", ".join(names[:5]) + (f" (+{len(names) - 5})" if len(names) > 5 else "")
    if event == Event.APPROVAL_REQUESTED:
        return Notice(
            _("Approval requested: %(summary)s") % {"summary": summary},
            target.get("label", ""),
            [
                (_("Requested by"), requester),
                (_("Approvers"), approvers or "-"),
                (_("Expires"), approval.get("expires_at") or "-"),
            ],
            approval.get("url", ""),
            _("Open approval"),
            "warning",
        )
    outcome = data.get("outcome", "")
    headlines = {
        "approved": (_("Approved: %(summary)s"), "good"),
        "rejected": (_("Rejected: %(summary)s"), "attention"),
        "expired": (_("Expired without a decision: %(summary)s"), "warning"),
        "cancelled": (_("Withdrawn: %(summary)s"), "warning"),
    }
    headline, tone = headlines.get(outcome, (_("Approval settled: %(summary)s"), "accent"))
    facts = [(_("Requested by"), requester)]
    if data.get("actor") and outcome in ("approved", "rejected", "cancelled"):
        facts.append((_("By"), data["actor"]))
    comment = data.get("comment") or ""
    text = comment if len(comment) <= 600 else comment[:600].rstrip() + "…"
    return Notice(
        headline % {"summary": summary},
        text or target.get("label", ""),
        facts,
        target.get("url") or approval.get("url", ""),
        _("Open"),
        tone,
    )

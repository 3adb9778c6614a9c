"""Demo tickets, categories and catalog items for ``manage.py seed_demo`` (idempotent)."""

from __future__ import annotations

import json
import random
from datetime import datetime, time, timedelta
from typing import Any

import pgtrigger
from django.db import connection
from django.utils import timezone

from tickets import actions
from tickets.demo_productivity import seed_productivity
from tickets.models import CatalogItem, Category, Comment, Ticket, TicketAudit, TicketStatus
from tickets.models.priority import priority_for

CATEGORIES = [
    ("Network", "Network", "vpn, wifi, network, internet, dns, proxy, firewall, latency"),
    ("Access", "Service Desk", "password, login, account, locked, access, permission, mfa, sso"),
    ("Email", "Applications", "email, outlook, mailbox, calendar, smtp, spam"),
    ("Software", "Applications", "install, license, crash, error, update, application, erp"),
    ("Hardware", "Hardware", "laptop, printer, screen, keyboard, mouse, battery, docking"),
]

CATALOG = [
    {
        "name": "New laptop",
        "slug": "new-laptop",
        "category": "Hardware",
        "team": "Hardware",
        "description": "Request a laptop for a new starter or a replacement.",
        # Waits for the Hardware team's lead (admins when it has none) before the desk works on it.
        "requires_approval": True,
        "fields": [
            {
                "name": "model",
                "label": "Model",
                "type": "choice",
                "required": True,
                "choices": ['Standard 14"', 'Developer 16"', 'Ultralight 13"'],
            },
            {"name": "needed_by", "label": "Needed by", "type": "date", "required": True},
            {
                "name": "justification",
                "label": "Justification",
                "type": "textarea",
                "required": False,
                "max_length": 2000,
            },
        ],
    },
    {
        "name": "Software licence",
        "slug": "software-licence",
        "category": "Software",
        "team": "Applications",
        "description": "Ask for a licence of an approved application.",
        "fields": [
            {
                "name": "application",
                "label": "Application",
                "type": "text",
                "required": True,
                "max_length": 120,
            },
            {"name": "seats", "label": "Seats", "type": "number", "required": True, "min": 1, "max": 50},
        ],
    },
    {
        "name": "Access to a shared mailbox",
        "slug": "shared-mailbox",
        "category": "Email",
        "team": "Applications",
        "description": "Get read or send-as access to a shared mailbox.",
        "fields": [
            {"name": "mailbox", "label": "Mailbox address", "type": "email", "required": True},
            {"name": "send_as", "label": "Send as", "type": "boolean", "required": False},
        ],
    },
]

TICKETS = [
    (
        "VPN disconnects every hour",
        "Since Monday my VPN drops every hour and I lose my session.",
        "Network",
        "high",
        "medium",
    ),
    (
        "VPN disconnects every few minutes",
        "The VPN client keeps reconnecting when on hotel wifi.",
        "Network",
        "medium",
        "high",
    ),
    (
        "VPN disconnects every hour on wifi",
        "Same problem as my colleagues, VPN drops hourly.",
        "Network",
        "medium",
        "medium",
    ),
    (
        "Cannot log in after password change",
        "My account says the password is wrong since I changed it.",
        "Access",
        "medium",
        "high",
    ),
    (
        "Account locked out",
        "I typed my password wrong three times and now I am locked out.",
        "Access",
        "low",
        "high",
    ),
    (
        "Outlook does not sync the calendar",
        "Meetings created on the phone do not show in Outlook.",
        "Email",
        "low",
        "medium",
    ),
    (
        "Mailbox full",
        "I get a warning that my mailbox is full and cannot send mail.",
        "Email",
        "medium",
        "medium",
    ),
    (
        "ERP crashes when exporting invoices",
        "The ERP client crashes with an error when I export invoices to PDF.",
        "Software",
        "high",
        "high",
    ),
    (
        "Printer on floor 3 is jammed",
        "The big printer near the kitchen shows a paper jam.",
        "Hardware",
        "low",
        "low",
    ),
    (
        "Laptop battery drains quickly",
        "My laptop lasts only one hour on battery.",
        "Hardware",
        "low",
        "medium",
    ),
    (
        "Website down for customers",
        "The customer portal answers 502 for everyone.",
        "Network",
        "high",
        "high",
    ),
    (
        "Need MFA reset on new phone",
        "I changed phone and cannot get my authenticator codes.",
        "Access",
        "medium",
        "high",
    ),
]


# How long ago each queue ticket was opened (minutes), so that a newcomer's first queue looks like
# a working desk under the default SLA policies: most on track, two at risk (0 and 9, near the end
# of their resolution target), one breached (7, a critical ticket nobody has picked up).
QUEUE_AGES = [160, 95, 150, 8, 95, 300, 240, 70, 600, 660, 30, 5]


def seed_tickets(sender: Any, users: dict, teams: dict, stdout: Any = None, **kwargs: Any) -> None:
    categories = {}
    for name, team_name, keywords in CATEGORIES:
        categories[name], _ = Category.objects.update_or_create(
            name=name, defaults={"default_team": teams.get(team_name), "keywords": keywords}
        )
    for item in CATALOG:
        CatalogItem.objects.update_or_create(
            slug=item["slug"],
            defaults={
                "name": item["name"],
                "description": item["description"],
                "fields": item["fields"],
                "default_category": categories[item["category"]],
                "default_team": teams.get(item["team"]),
                "requires_approval": item.get("requires_approval", False),
            },
        )
    if not Ticket.objects.filter(metadata__demo_history=True).exists():
        seed_history(users, teams, categories)
    if Ticket.objects.filter(metadata__demo=True).exists():
        seed_productivity(users, teams)  # each part once (a re-run adds nothing)
        return  # tickets are seeded once; the rest above is refreshed
    seed_queue(users, categories)
    seed_productivity(users, teams)
    if stdout is not None:
        stdout.write(
            f"Demo tickets: {Ticket.objects.filter(metadata__demo=True).count()} in the queue, "
            f"{Ticket.objects.filter(metadata__demo_history=True).count()} in the last 90 days' history"
        )


def seed_queue(users: dict, categories: dict) -> None:
    """Today's queue, through the real actions (signals, SLA clocks, audit trail, notifications),
    then moved back in time by each ticket's age so its clocks stand where a real desk's would."""
    agents = [users["agent"], users["agent2"], users["agent3"]]
    requesters = [users["requester"], users["requester2"]]
    for index, (title, description, category, impact, urgency) in enumerate(TICKETS):
        requester = requesters[index % len(requesters)]
        ticket = actions.do_create_ticket(
            actor=requester,
            requester=requester,
            title=title,
            description=description,
            category=categories[category],
            impact=impact,
            urgency=urgency,
            channel="portal",
            metadata={"demo": True, "demo_age_minutes": QUEUE_AGES[index]},
        )
        if index % 4 == 3:
            continue  # some stay new and unassigned
        agent = agents[index % len(agents)]
        ticket = actions.do_assign_ticket(ticket, actor=agent, assignee=agent)
        actions.do_transition_ticket(ticket, TicketStatus.IN_PROGRESS, actor=agent)
        actions.do_add_comment(ticket, actor=agent, body="Thanks, we are looking into it.")
        if index % 3 == 0:
            actions.do_add_comment(
                ticket, actor=agent, body="Checked the logs; likely the known issue.", internal=True
            )
        if index % 5 == 1:
            ticket.refresh_from_db()
            actions.do_transition_ticket(
                ticket,
                TicketStatus.RESOLVED,
                actor=agent,
                resolution="Reset the client profile and reinstalled the latest version.",
            )
    # Every time of a queue ticket moves back by its age (the apps owning related rows, the SLA
    # clocks say, do the same from their own demo_seeded receivers, reading demo_age_minutes).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tickets_ticket SET created_at = created_at - make_interval(mins => a.age),"
            " updated_at = updated_at - make_interval(mins => a.age),"
            " first_response_at = first_response_at - make_interval(mins => a.age),"
            " resolved_at = resolved_at - make_interval(mins => a.age)"
            " FROM (SELECT id, (metadata->>'demo_age_minutes')::int AS age FROM tickets_ticket"
            "  WHERE metadata ? 'demo_age_minutes') AS a WHERE tickets_ticket.id = a.id"
        )
        cursor.execute(
            "UPDATE tickets_comment SET created_at = c.created_at - make_interval(mins => a.age),"
            " updated_at = c.updated_at - make_interval(mins => a.age)"
            " FROM tickets_comment c JOIN (SELECT id, (metadata->>'demo_age_minutes')::int AS age"
            "  FROM tickets_ticket WHERE metadata ? 'demo_age_minutes') AS a ON a.id = c.ticket_id"
            " WHERE tickets_comment.id = c.id"
        )


# --- ninety days of history, set-based -----------------------------------------------------------------
HISTORY_DAYS = 90
# priority: (tickets per weekday, median hours to resolve, median minutes to first response)
HISTORY_SHAPE = {"critical": (0.25, 0.6, 4.0), "high": (0.9, 1.5, 8.0), "medium": (1.8, 3.0, 25.0),
                 "low": (1.3, 7.0, 50.0)}  # fmt: skip
LEVELS = {"critical": ("high", "high"), "high": ("high", "medium"), "medium": ("medium", "medium"),
          "low": ("low", "low")}  # fmt: skip


def _history_plan(users: dict, teams: dict, categories: dict) -> list[dict[str, Any]]:
    """A few hundred tickets over the last 90 days, resolved at realistic times: weekday office
    hours, lognormal times to respond and resolve by priority, a desk that got faster over the
    last month, some reopened, a few cancelled, some late (SLA breaches)."""
    randomiser = random.Random(2026)  # noqa: S311 - demo data, reproducible
    today = timezone.localdate()
    tz = timezone.get_current_timezone()
    by_team = {
        team_name: [
            user
            for user in users.values()
            if user.is_agent and team_name in {t.name for t in user.teams.all()}
        ]
        for team_name in teams
    }
    requesters = [users["requester"], users["requester2"]]
    plan = []
    for days_ago in range(HISTORY_DAYS, 0, -1):
        day = today - timedelta(days=days_ago)
        weekend = day.weekday() >= 5
        recent = days_ago <= 30
        for priority, (per_day, resolve_hours, respond_minutes) in HISTORY_SHAPE.items():
            count = sum(1 for _n in range(6) if randomiser.random() < per_day / 6 * (0.3 if weekend else 1.0))
            for _n in range(count):
                name, team_name, _keywords = randomiser.choice(CATEGORIES)
                agents = by_team.get(team_name) or [users["agent"]]
                created = datetime.combine(day, time(8), tzinfo=tz) + timedelta(
                    minutes=randomiser.randint(0, 10 * 60)
                )
                speed = 0.7 if recent else 1.0  # the last month: auto-triage on, a faster desk
                respond = timedelta(minutes=respond_minutes * speed * randomiser.lognormvariate(0, 0.6))
                assign = timedelta(
                    minutes=max(1.0, respond.total_seconds() / 60 * randomiser.uniform(0.2, 0.9))
                )
                resolve = timedelta(hours=resolve_hours * speed * randomiser.lognormvariate(0, 0.6))
                resolve = max(resolve, respond + timedelta(minutes=5))
                cancelled = randomiser.random() < 0.03
                reopened = not cancelled and randomiser.random() < 0.07
                plan.append(
                    {
                        "priority": priority,
                        "category": categories[name],
                        "team": teams[team_name],
                        "assignee": randomiser.choice(agents),
                        "requester": randomiser.choice(requesters),
                        "title": randomiser.choice(TICKETS)[0],
                        "channel": randomiser.choice(["portal", "portal", "email", "web", "phone"]),
                        "created": created,
                        "assigned": created + assign,
                        "responded": created + respond,
                        "resolved": None if cancelled else created + resolve,
                        "cancelled": created + resolve if cancelled else None,
                        "reopened": reopened,
                        "replies": 1 if randomiser.random() < 0.6 else 2,
                    }
                )
    return plan


def seed_history(users: dict, teams: dict, categories: dict) -> None:
    """Rows written as they would have been: tickets, their audit trail with the real times (the
    insert trigger is set aside so the trail does not say "now"), the agents' replies. The SLA
    app adds the clocks from its own receiver; snapshots are rebuilt by ``seed_demo``."""
    now = timezone.now()
    plan = [
        row for row in _history_plan(users, teams, categories) if (row["resolved"] or row["cancelled"]) < now
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval('tickets_incident_number_seq') FROM generate_series(1, %s)", [len(plan)]
        )
        numbers = [value for (value,) in cursor.fetchall()]
    tickets = []
    for row, number in zip(plan, numbers, strict=True):
        impact, urgency = LEVELS[row["priority"]]
        done = row["resolved"] or row["cancelled"]
        closed = (
            row["resolved"] + timedelta(days=3)
            if row["resolved"] and row["resolved"] + timedelta(days=3) < now
            else None
        )
        status = "cancelled" if row["cancelled"] else ("closed" if closed else "resolved")
        tickets.append(
            Ticket(
                number=f"INC-{number:06d}",
                type="incident",
                title=row["title"],
                description="Demo history ticket.",
                status=status,
                impact=impact,
                urgency=urgency,
                priority=priority_for(impact, urgency),
                category=row["category"],
                channel=row["channel"],
                requester=row["requester"],
                organisation=row["requester"].organisation,
                assignee=row["assignee"],
                team=row["team"],
                metadata={"demo_history": True},
                created_at=row["created"],
                updated_at=closed or done,
                first_response_at=row["responded"],
                resolved_at=row["resolved"],
                closed_at=closed,
                resolution="" if row["cancelled"] else "Fixed; see the reply.",
                reopen_count=1 if row["reopened"] else 0,
            )
        )
    with pgtrigger.ignore("tickets.Ticket:created_insert"):
        Ticket.objects.bulk_create(tickets, batch_size=500)
    audit, comments = [], []
    for row, ticket in zip(plan, tickets, strict=True):
        agent = row["assignee"]

        def event(
            at: datetime, label: str, status: str, assignee: Any, ticket: Ticket = ticket, agent: Any = agent
        ) -> None:
            context = json.dumps({"actor_id": agent.pk, "actor": agent.email, "reason": "demo history"})
            audit.append(
                (at, label, ticket.pk, context, status, ticket.priority, getattr(assignee, "pk", None),
                 ticket.team_id, ticket.category_id)
            )  # fmt: skip

        event(row["created"], "created", "new", None)
        event(row["assigned"], "changed", "in_progress", agent)
        if row["cancelled"]:
            event(row["cancelled"], "changed", "cancelled", agent)
            continue
        if row["reopened"]:
            first = row["created"] + (row["resolved"] - row["created"]) / 2
            event(first, "changed", "resolved", agent)
            event(first + timedelta(minutes=30), "changed", "open", agent)
        event(row["resolved"], "changed", "resolved", agent)
        if ticket.closed_at:
            event(ticket.closed_at, "changed", "closed", agent)
        for reply in range(row["replies"]):
            at = row["responded"] + (row["resolved"] - row["responded"]) * reply / 2
            comments.append(
                Comment(ticket=ticket, author=agent, body="Thanks, we are on it." if reply == 0 else "This is fixed now.",
                        created_at=at, updated_at=at)
            )  # fmt: skip
    # Raw rows: the audit model stamps pgh_created_at with "now" on its own, and the trail must
    # keep the times the changes were made.
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {TicketAudit._meta.db_table} (pgh_created_at, pgh_label, pgh_obj_id, pgh_context,"  # noqa: S608
            " status, priority, assignee_id, team_id, category_id, sensitive)"
            " VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, false)",
            audit,
        )
    Comment.objects.bulk_create(comments, batch_size=1000)

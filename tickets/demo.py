"""Demo tickets, categories and catalog items for ``manage.py seed_demo`` (idempotent)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.utils import timezone

from tickets import actions
from tickets.models import CatalogItem, Category, Ticket, TicketStatus

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
            },
        )
    if Ticket.objects.filter(metadata__demo=True).exists():
        return  # tickets are seeded once; the rest above is refreshed
    agents = [users["agent"], users["agent2"], users["agent3"]]
    requesters = [users["requester"], users["requester2"]]
    randomiser = random.Random(42)  # noqa: S311 - demo data, reproducible
    now = timezone.now()
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
            metadata={"demo": True},
            created_at=now - timedelta(hours=randomiser.randint(1, 60)),
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
    if stdout is not None:
        stdout.write(f"Demo tickets: {Ticket.objects.filter(metadata__demo=True).count()}")

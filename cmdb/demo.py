"""Demo configuration items, their relations and a few tickets naming them, for
``manage.py seed_demo`` (idempotent: items are upserted, the tickets made once)."""

from __future__ import annotations

import json
from typing import Any

from cmdb import importer
from cmdb.actions import do_extract_ticket_items
from tickets import actions as ticket_actions
from tickets.models import Ticket

ITEMS = [
    {
        "name": "web01",
        "type": "server",
        "owner_team": "Applications",
        "aliases": ["frontend-1"],
        "hostnames": ["web01.prod.northwind.example"],
        "ip_addresses": ["10.0.1.11"],
        "attributes": {"os": "Debian 12", "cpu_cores": 4, "memory_gb": 16, "location": "Paris DC1"},
        "maintenance_windows": [{"day": "sun", "start": "02:00", "end": "04:00"}],
    },
    {
        "name": "web02",
        "type": "server",
        "owner_team": "Applications",
        "aliases": ["frontend-2"],
        "hostnames": ["web02.prod.northwind.example"],
        "ip_addresses": ["10.0.1.12"],
        "attributes": {"os": "Debian 12", "cpu_cores": 4, "memory_gb": 16, "location": "Paris DC1"},
        "maintenance_windows": [{"day": "sun", "start": "02:00", "end": "04:00"}],
    },
    {
        "name": "db-prod-01",
        "type": "server",
        "owner_team": "Applications",
        "hostnames": ["db-prod-01.northwind.example"],
        "ip_addresses": ["10.0.2.21"],
        "attributes": {"os": "Rocky Linux 9", "cpu_cores": 16, "memory_gb": 128},
        "maintenance_windows": [{"day": "sat", "start": "22:00", "end": "02:00"}],
    },
    {
        "name": "nginx",
        "type": "service",
        "owner_team": "Applications",
        "attributes": {"version": "1.24", "port": 443, "service_name": "nginx.service"},
        "runs_on": ["web01", "web02"],
    },
    {
        "name": "Customer Portal",
        "type": "application",
        "owner_team": "Applications",
        "aliases": ["custportal"],
        "hostnames": ["portal.northwind.example"],
        "attributes": {"url": "https://portal.northwind.example", "version": "4.2.0"},
        "depends_on": ["nginx", "Payroll DB", "Payments API"],
    },
    {
        "name": "Payroll DB",
        "type": "database",
        "owner_team": "Applications",
        "aliases": ["payroll-db", "PAYDB"],
        "attributes": {"vendor": "PostgreSQL", "version": "16.4", "port": 5432},
        "runs_on": ["db-prod-01"],
    },
    {
        "name": "Payments API",
        "type": "service",
        "owner_team": "Applications",
        "aliases": ["payments-api"],
        "hostnames": ["api.payments.northwind.example"],
        "depends_on": ["Payroll DB"],
        "runs_on": ["web02"],
    },
    {
        "name": "SAP ERP",
        "type": "application",
        "owner_team": "Applications",
        "aliases": ["ERP"],
        "hostnames": ["erp.northwind.example"],
        "ip_addresses": ["10.0.7.30"],
        "attributes": {"vendor": "SAP", "version": "S/4HANA 2023"},
    },
    {
        "name": "Exchange Online",
        "type": "service",
        "owner_team": "Applications",
        "aliases": ["Outlook", "O365 mail"],
        "attributes": {"vendor": "Microsoft"},
    },
    {
        "name": "VPN Gateway",
        "type": "network_device",
        "owner_team": "Network",
        "aliases": ["vpn-gw"],
        "hostnames": ["vpn.northwind.example"],
        "ip_addresses": ["192.0.2.10", "2001:db8::10"],
        "attributes": {"vendor": "Fortinet", "version": "7.4.3"},
        "maintenance_windows": [{"day": "wed", "start": "22:00", "end": "23:30"}],
        "part_of": ["Core network"],
    },
    {
        "name": "core-sw-01",
        "type": "network_device",
        "owner_team": "Network",
        "hostnames": ["core-sw-01.net.northwind.example"],
        "ip_addresses": ["10.0.0.1"],
        "attributes": {"vendor": "Cisco", "os": "IOS XE 17.9"},
        "part_of": ["Core network"],
    },
    {
        "name": "Core network",
        "type": "service",
        "owner_team": "Network",
        "description": "Switching, routing and remote access of the head office.",
    },
    {
        "name": "printer-floor3",
        "type": "other",
        "owner_team": "Hardware",
        "aliases": ["PRN-3F"],
        "ip_addresses": ["10.0.9.33"],
        "attributes": {"vendor": "Canon", "location": "Floor 3, near the kitchen"},
    },
]

TICKETS = [
    (
        "Customer portal answers 502 since the deploy",
        "Users get 502 Bad Gateway on portal.northwind.example. nginx on web01 logs "
        "'upstream timed out' talking to 10.0.2.21:5432.",
        {},
    ),
    (
        "Payments API slow at month end",
        "payments-api answers in 8 s; the Payroll DB shows long locks. Nothing wrong on web02.",
        {},
    ),
    (
        "VPN drops every hour",
        "Sessions on vpn-gw drop at :00. Client logs show the peer 192.0.2.10 resetting; "
        "our monitoring also pings gw-backup.northwind.example which nobody knows.",
        {"ci": "VPN Gateway"},
    ),
    (
        "Printer PRN-3F jammed again",
        "The printer near the kitchen (10.0.9.33) shows a paper jam.",
        {},
    ),
]


def seed_items(sender: Any, users: dict, teams: dict, stdout: Any = None, **kwargs: Any) -> None:
    # Items first (in the order relations need them), through the importer: an upsert.
    report = importer.do_import_items(_as_json(ITEMS), format="json", actor=None, actor_label="system:demo")
    if stdout is not None:
        stdout.write(
            f"Demo configuration items: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.relations_created} relations added"
        )
    # Marked apart from the tickets demo's own ("demo"), which it counts and seeds once.
    if Ticket.objects.filter(metadata__cmdb_demo=True).exists():
        return  # the demo tickets are made once
    requester = users["requester2"]
    for title, description, metadata in TICKETS:
        ticket = ticket_actions.do_create_ticket(
            actor=requester,
            requester=requester,
            title=title,
            description=description,
            channel="portal",
            metadata={"cmdb_demo": True, **metadata},
        )
        # The worker would do it after commit; the demo shows the panel filled at once.
        do_extract_ticket_items(ticket)


def _as_json(items: list[dict]) -> str:
    return json.dumps(items)

"""Outbound webhooks, chat and inbound email: what they cost and how fast they go.

    .venv/bin/python bench/webhooks_email_chat.py [--tickets 200] [--deliveries 500] [--emails 300]

Prints:
- the extra time a ticket change spends queueing outbound work (2 webhook subscriptions and
  2 chat channels listening, against none);
- the attempt rate of one worker sending webhook deliveries to a local receiver (deliveries
  per second, p50/p95 per attempt, signing and bookkeeping included);
- inbound email ingestion (messages per second, p95), new tickets and threaded replies.

Runs against the configured database inside one transaction that is rolled back at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from integrations.chat.models import ChatChannel  # noqa: E402
from integrations.email.actions import do_ingest_email  # noqa: E402
from integrations.webhooks.actions import do_attempt_delivery  # noqa: E402
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription  # noqa: E402
from integrations.webhooks.tests.fakes import N8N_ACCEPTED, fake_service  # noqa: E402
from itsm.models import Role, User  # noqa: E402
from tickets.actions import do_create_ticket  # noqa: E402


class Rollback(Exception):
    pass


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def queries_for_one_ticket(requester: User) -> int:
    connection.queries_log.clear()  # the log keeps 9000 queries; counting needs room
    with CaptureQueriesContext(connection) as captured:
        do_create_ticket(
            actor=requester, requester=requester, title="counted outage", impact="high", urgency="high"
        )
    return len(captured.captured_queries)


def create_tickets(requester: User, count: int, label: str) -> list[float]:
    timings = []
    for index in range(count):
        started = time.perf_counter()
        do_create_ticket(
            actor=requester,
            requester=requester,
            title=f"{label} outage {index}",
            impact="high",
            urgency="high",
        )
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--emails", type=int, default=300)
    args = parser.parse_args()

    try:
        with transaction.atomic(), fake_service(N8N_ACCEPTED) as receiver:
            requester = User.objects.create_user(email="bench.requester@example.com", role=Role.USER)

            baseline = create_tickets(requester, args.tickets, "baseline")
            baseline_queries = queries_for_one_ticket(requester)
            events = ["ticket.created", "ticket.critical", "ticket.updated"]
            for n in range(2):
                WebhookSubscription.objects.create(name=f"bench {n}", url=receiver.url, events=events)
                ChatChannel.objects.create(name=f"bench {n}", kind="slack", webhook_url=receiver.url)
            listened = create_tickets(requester, args.tickets, "listened")
            listened_queries = queries_for_one_ticket(requester)
            print(f"ticket creation, {args.tickets} critical tickets each:")
            print(
                f"  no listeners:            mean {statistics.mean(baseline):6.2f} ms, "
                f"p95 {percentile(baseline, 0.95):6.2f} ms"
            )
            print(
                f"  2 webhooks + 2 channels: mean {statistics.mean(listened):6.2f} ms, "
                f"p95 {percentile(listened, 0.95):6.2f} ms "
                f"(+{statistics.mean(listened) - statistics.mean(baseline):.2f} ms: 4 deliveries + 2 messages "
                f"+ 6 jobs queued)"
            )
            print(
                f"  queries per critical ticket: {baseline_queries} without listeners, {listened_queries} with them"
            )

            deliveries = list(WebhookDelivery.objects.values_list("pk", flat=True)[: args.deliveries])
            while len(deliveries) < args.deliveries:
                create_tickets(requester, 1, "more")
                deliveries = list(WebhookDelivery.objects.values_list("pk", flat=True)[: args.deliveries])
            timings = []
            started_all = time.perf_counter()
            for pk in deliveries:
                started = time.perf_counter()
                do_attempt_delivery(pk)
                timings.append((time.perf_counter() - started) * 1000)
            elapsed = time.perf_counter() - started_all
            sent = WebhookDelivery.objects.filter(pk__in=deliveries, status="succeeded").count()
            print(f"webhook attempts by one worker, {len(deliveries)} deliveries to a local receiver:")
            print(
                f"  {len(deliveries) / elapsed:7.1f} deliveries/s, p50 {percentile(timings, 0.5):6.2f} ms, "
                f"p95 {percentile(timings, 0.95):6.2f} ms, {sent} succeeded"
            )

            timings, started_all = [], time.perf_counter()
            for index in range(args.emails):
                parent = f"<bench-{index - 1}@mail.example.com>"
                thread = f"In-Reply-To: {parent}\n" if index % 2 else ""
                raw = (
                    f"From: Bench <bench.requester@example.com>\nTo: itsm@localhost\n"
                    f"Subject: Bench mail {index}\nMessage-ID: <bench-{index}@mail.example.com>\n{thread}"
                    f"Content-Type: text/plain; charset=utf-8\n\nLine one of {index}.\n\n"
                    f"On Mon, someone wrote:\n> quoted history\n"
                ).encode()
                started = time.perf_counter()
                do_ingest_email(raw, source="bench")
                timings.append((time.perf_counter() - started) * 1000)
            elapsed = time.perf_counter() - started_all
            print(f"inbound email, {args.emails} messages (half new tickets, half threaded replies):")
            print(
                f"  {args.emails / elapsed:7.1f} messages/s, p50 {percentile(timings, 0.5):6.2f} ms, "
                f"p95 {percentile(timings, 0.95):6.2f} ms"
            )
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main()

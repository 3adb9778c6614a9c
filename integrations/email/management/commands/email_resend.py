"""Send given-up ticket mail again (after a mail server outage longer than the retries)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.email.actions import do_resend_ticket_email
from integrations.email.models import Direction, EmailThreadMessage, OutboundStatus


class Command(BaseCommand):
    help = (
        "Queue failed outbound ticket mail again. Without --send it only lists what would be sent. "
        "Each mail is queued once however often this runs; mail sent or still waiting is left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="thread message ids (default: every failed one)")
        parser.add_argument("--since", help="only mail created at or after this ISO date/time")
        parser.add_argument("--send", action="store_true", help="queue them (otherwise a dry run)")

    def handle(self, *args, ids: list[int], since: str | None, send: bool, **options):
        failed = EmailThreadMessage.objects.filter(direction=Direction.OUTBOUND, status=OutboundStatus.FAILED)
        if ids:
            known = set(
                EmailThreadMessage.objects.filter(pk__in=ids, direction=Direction.OUTBOUND).values_list(
                    "pk", flat=True
                )
            )
            unknown = sorted(set(ids) - known)
            if unknown:
                raise CommandError(
                    f"No outbound mail with id {', '.join(map(str, unknown))}; nothing queued."
                )
            failed = failed.filter(pk__in=ids)
        if since:
            try:
                moment = parse_datetime(since)  # a date alone is its midnight
            except ValueError:
                moment = None
            if moment is None:
                raise CommandError(f"--since {since!r} is not an ISO date or date/time; nothing queued.")
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            failed = failed.filter(created_at__gte=moment)
        rows = list(failed.select_related("ticket").order_by("created_at", "id"))
        for message in rows:
            self.stdout.write(f"{message.pk} {message.ticket.number} {message.kind} {message.error[:80]}")
        if not send:
            self.stdout.write(f"{len(rows)} failed mail(s) would be queued again; add --send to queue them.")
            return
        queued = sum(do_resend_ticket_email(message.pk) for message in rows)
        self.stdout.write(self.style.SUCCESS(f"{queued} mail(s) queued again."))

"""Read inbound mail: files, stdin, a Maildir, or the IMAP mailbox of the settings."""

from __future__ import annotations

import mailbox
import re
import sys
from collections import Counter
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from integrations.email import imap
from integrations.email.actions import IngestResult, do_ingest_email
from integrations.email.parsing import NotAnEmail


def delivery_order(box: mailbox.Maildir, key: str) -> tuple[float, int, str]:
    """Maildir names start with the delivery time: ``<seconds>.M<microseconds>P<pid>…``."""
    match = re.match(r"(\d+)\.(?:M(\d+))?", key)
    if match:
        return float(match.group(1)), int(match.group(2) or 0), key
    return box.get_message(key).get_date(), 0, key


class Command(BaseCommand):
    help = (
        "Turn RFC 822 messages into tickets or replies. Sources: FILE… (.eml files), '-' or --stdin "
        "(one message), --maildir PATH (unread messages, then marked read), --imap (unread messages "
        "of EMAIL_IMAP_* settings, then marked read). Each Message-ID is processed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="message files; '-' reads one message from stdin")
        parser.add_argument("--stdin", action="store_true", help="read one message from stdin")
        parser.add_argument("--maildir", help="a Maildir folder (with cur/, new/, tmp/)")
        parser.add_argument(
            "--all",
            action="store_true",
            dest="include_read",
            help="with --maildir: also messages already read",
        )
        parser.add_argument("--imap", action="store_true", help="the IMAP mailbox from the settings")

    def handle(
        self,
        *args,
        files: list[str],
        stdin: bool,
        maildir: str | None,
        include_read: bool,
        imap: bool,
        **options,
    ) -> None:
        use_stdin = stdin or "-" in files
        paths = [Path(name) for name in files if name != "-"]
        if not (paths or use_stdin or maildir or imap):
            raise CommandError("Nothing to read: give message files, '-', --stdin, --maildir PATH or --imap.")
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise CommandError(f"No such file: {', '.join(missing)}")
        if maildir and not all((Path(maildir) / sub).is_dir() for sub in ("cur", "new", "tmp")):
            raise CommandError(f"{maildir} is not a Maildir (it needs cur/, new/ and tmp/).")
        self.counts: Counter[str] = Counter()
        for path in paths:
            self.ingest(path.read_bytes(), f"file:{path.name}")
        if use_stdin:
            self.ingest(sys.stdin.buffer.read(), "stdin")
        if maildir:
            self.read_maildir(Path(maildir), include_read=include_read)
        if imap:
            self.read_imap()
        summary = (
            ", ".join(f"{status}: {count}" for status, count in sorted(self.counts.items())) or "no messages"
        )
        self.stdout.write(f"Done ({summary}).")

    def ingest(self, raw: bytes, source: str) -> IngestResult | None:
        try:
            result = do_ingest_email(raw, source=source)
        except NotAnEmail as error:
            self.counts["unreadable"] += 1
            self.stderr.write(f"{source}: not processed: {error}")
            return None
        self.counts["duplicate" if result.duplicate else result.receipt.status] += 1
        self.stdout.write(f"{source}: {result.describe()}")
        return result

    def read_maildir(self, path: Path, *, include_read: bool) -> None:
        box = mailbox.Maildir(path, factory=None, create=False)
        # In delivery order, so an original is read before the replies to it.
        for key in sorted(box.iterkeys(), key=lambda key: delivery_order(box, key)):
            message = box.get_message(key)
            if "S" in message.get_flags() and not include_read:
                continue
            self.ingest(box.get_bytes(key), f"maildir:{key}")
            # Marked read only once processed: a crash before this line means one more (harmless) read.
            message.set_subdir("cur")
            message.add_flag("S")
            box[key] = message

    def read_imap(self) -> None:
        try:
            imap.fetch_unseen(lambda raw: self.ingest(raw, "imap"))
        except (ImproperlyConfigured, OSError, imap.imaplib.IMAP4.error) as error:
            raise CommandError(f"IMAP: {error}") from error

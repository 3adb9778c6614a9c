"""Email workflows: ingest one inbound message; queue and send ticket mail (threaded).

Inbound: a message is processed at most once (its Message-ID is the receipt's unique key;
the receipt and the ticket or comment are written in one transaction). Auto-replies,
bounces and our own mail are recorded and ignored. The reply text is trimmed of quoted
history; attachments are kept through the tickets actions (over-limit ones are listed, not
kept).

Outbound: replies and acknowledgements are rows of the ticket's thread written in the
transaction of the change; a task sends them after commit through Django's mail backend,
with a Message-ID of ours, In-Reply-To/References to the thread, and the ``[INC-…]`` token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid, parseaddr
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from integrations.email import parsing
from integrations.email.models import (
    Direction,
    EmailReceipt,
    EmailThreadMessage,
    MailKind,
    OutboundStatus,
    ReceiptStatus,
)
from integrations.webhooks.events import absolute_url
from itsm.lib.retry import MailBeingSent
from itsm.lib.tasks import defer_once
from itsm.models import Organisation, Role, User
from tickets.actions import check_attachment, do_add_comment, do_add_relation, do_create_ticket
from tickets.models import Channel, Comment, CommentSource, RelationKind, Ticket
from tickets.validation import COMMENT_MAX_LENGTH, DESCRIPTION_MAX_LENGTH, fit_text

if TYPE_CHECKING:
    from collections.abc import Iterable

logger = logging.getLogger(__name__)

SEND_TICKET_EMAIL = "integrations.email.tasks.send_ticket_email"


@dataclass
class IngestResult:
    receipt: EmailReceipt
    duplicate: bool = False

    def describe(self) -> str:
        receipt = self.receipt
        if self.duplicate:
            return f"{receipt.message_id}: already processed ({receipt.get_status_display()})"
        target = f" {receipt.ticket.number}" if receipt.ticket_id else ""
        reason = f" - {receipt.reason}" if receipt.reason else ""
        return f"{receipt.message_id}: {receipt.get_status_display()}{target}{reason}"


class Rejected(Exception):
    """The message is refused (reason kept on the receipt)."""


# --- inbound ---------------------------------------------------------------------------------
def do_ingest_email(raw: bytes, *, source: str = "") -> IngestResult:
    """Process one RFC 822 message. Raises ``parsing.NotAnEmail`` for bytes that are not mail."""
    if len(raw) > settings.EMAIL_MAX_MESSAGE_BYTES:
        raise parsing.NotAnEmail(
            f"The message is {len(raw)} bytes; the limit is {settings.EMAIL_MAX_MESSAGE_BYTES} bytes."
        )
    parsed = parsing.parse(raw)
    existing = EmailReceipt.objects.filter(message_id=parsed.message_id).select_related("ticket").first()
    if existing is not None:
        return IngestResult(existing, duplicate=True)
    with transaction.atomic():
        try:
            with transaction.atomic():
                receipt = EmailReceipt.objects.create(
                    message_id=parsed.message_id,
                    sender=parsed.sender_email[:254],
                    subject=parsed.subject[:500],
                    size=len(raw),
                    source=source[:200],
                )
        except IntegrityError:
            # Read twice at the same time (two pollers): the other one has it.
            return IngestResult(EmailReceipt.objects.get(message_id=parsed.message_id), duplicate=True)
        try:
            with transaction.atomic():
                _route(parsed, receipt)
        except Rejected as error:
            receipt.status, receipt.reason = ReceiptStatus.REJECTED, str(error)
        except (ValidationError, PermissionDenied) as error:
            receipt.status, receipt.reason = ReceiptStatus.REJECTED, _error_text(error)
        receipt.save()
    log = logger.info if receipt.status in (ReceiptStatus.CREATED, ReceiptStatus.REPLIED) else logger.warning
    log("inbound email %s from %s: %s %s", receipt.message_id, receipt.sender, receipt.status, receipt.reason)
    return IngestResult(receipt)


def _error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        if hasattr(error, "message_dict"):
            return "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
            )
        return " ".join(error.messages)
    return str(error) or error.__class__.__name__


def _route(parsed: parsing.ParsedEmail, receipt: EmailReceipt) -> None:
    if parsed.bounce_reason:
        receipt.status, receipt.reason = ReceiptStatus.BOUNCE, parsed.bounce_reason
        return
    if parsed.auto_reply_reason:
        receipt.status, receipt.reason = ReceiptStatus.AUTO_REPLY, parsed.auto_reply_reason
        return
    if parsed.sender_email == support_address():
        receipt.status, receipt.reason = ReceiptStatus.LOOP, "sent by our own support address"
        return
    sender = _sender(parsed)
    ticket = find_ticket(parsed)
    uploads, dropped = _uploads(parsed.attachments)
    receipt.attachments_kept, receipt.attachments_dropped = len(uploads), len(dropped)
    if ticket is not None and not ticket.is_final:
        comment = _add_reply(ticket, parsed, sender, uploads, dropped)
        receipt.status, receipt.ticket, receipt.comment = ReceiptStatus.REPLIED, ticket, comment
    else:
        follow_up_of = ticket
        ticket = _open_ticket(parsed, sender, uploads, dropped, follow_up_of)
        receipt.status, receipt.ticket = ReceiptStatus.CREATED, ticket
        if follow_up_of is not None:
            receipt.reason = f"{follow_up_of.number} is {follow_up_of.status}; opened a follow-up"
    EmailThreadMessage.objects.create(
        ticket=receipt.ticket,
        message_id=parsed.message_id,
        direction=Direction.INBOUND,
        kind=MailKind.INBOUND,
        comment=receipt.comment,
        subject=parsed.subject[:500],
        in_reply_to=(parsed.in_reply_to[0] if parsed.in_reply_to else "")[:255],
        references=parsed.references[-20:],
    )


def _sender(parsed: parsing.ParsedEmail) -> User:
    user = User.objects.filter(email__iexact=parsed.sender_email).select_related("organisation").first()
    if user is None:
        if settings.EMAIL_UNKNOWN_SENDER != "create":
            raise Rejected(f"unknown sender {parsed.sender_email} (EMAIL_UNKNOWN_SENDER=reject)")
        domain = parsed.sender_email.rsplit("@", 1)[-1]
        user = User.objects.create_user(
            email=parsed.sender_email,
            password=None,
            role=Role.USER,
            full_name=parsed.sender_name[:200],
            organisation=Organisation.objects.filter(domain__iexact=domain).first(),
        )
        logger.info("inbound email: created requester %s", user.email)
    if not user.is_active:
        raise Rejected(f"{user.email} is deactivated")
    if user.is_viewer:
        raise Rejected(f"{user.email} is a viewer (read-only) and cannot open or answer tickets")
    return user


def find_ticket(parsed: parsing.ParsedEmail) -> Ticket | None:
    """The ticket a message answers: by In-Reply-To/References first, then the subject token."""
    if parsed.thread_ids:
        known = {
            row.message_id: row.ticket
            for row in EmailThreadMessage.objects.answering(parsed.thread_ids).select_related("ticket")
        }
        for message_id in parsed.thread_ids:
            if message_id in known:
                return known[message_id]
    if parsed.ticket_token:
        return Ticket.objects.filter(number=parsed.ticket_token).first()
    return None


def _uploads(attachments: Iterable[parsing.ParsedAttachment]) -> tuple[list[SimpleUploadedFile], list[str]]:
    """Attachments as uploads; the ones over the size limit or of a refused type are listed instead."""
    kept, dropped = [], []
    for attachment in attachments:
        upload = SimpleUploadedFile(
            attachment.filename, attachment.content, content_type=attachment.content_type
        )
        try:
            check_attachment(upload)
        except ValidationError as error:
            dropped.append(" ".join(error.messages))
            continue
        kept.append(upload)
    return kept, dropped


def _with_dropped(text: str, dropped: list[str]) -> str:
    if not dropped:
        return text
    lines = "\n".join(f"- {reason}" for reason in dropped)
    return f"{text}\n\n[Attachments not kept:\n{lines}]".strip()


def _add_reply(
    ticket: Ticket,
    parsed: parsing.ParsedEmail,
    sender: User,
    uploads: list[SimpleUploadedFile],
    dropped: list[str],
) -> Comment:
    body = parsing.trim_reply(parsed.body)
    if not body:
        body = "(attachments only)" if uploads else "(empty message)"
    try:
        return do_add_comment(
            ticket,
            actor=sender,
            body=fit_text(_with_dropped(body, dropped), COMMENT_MAX_LENGTH),
            source=CommentSource.EMAIL,
            external_id=parsed.message_id,
            author_label=parsed.sender_name or sender.email,
            attachments=uploads,
        )
    except PermissionDenied as error:
        raise Rejected(f"{sender.email} may not reply to {ticket.number}") from error


def _open_ticket(
    parsed: parsing.ParsedEmail,
    sender: User,
    uploads: list[SimpleUploadedFile],
    dropped: list[str],
    follow_up_of: Ticket | None,
) -> Ticket:
    description = parsed.body or "(empty message)"
    if follow_up_of is not None:
        description = (
            f"Follow-up to {follow_up_of.number}.\n\n{parsing.trim_reply(parsed.body) or description}"
        )
    ticket = do_create_ticket(
        actor=sender,
        requester=sender,
        title=parsed.clean_subject or parsed.subject or "(no subject)",
        description=fit_text(_with_dropped(description, dropped), DESCRIPTION_MAX_LENGTH),
        channel=Channel.EMAIL,
        attachments=uploads,
        metadata={"email": {"message_id": parsed.message_id, "from": parsed.sender_email}},
    )
    if follow_up_of is not None:
        do_add_relation(ticket, target=follow_up_of, kind=RelationKind.RELATED, actor=None)
    return ticket


# --- outbound --------------------------------------------------------------------------------
def support_address() -> str:
    return parseaddr(settings.EMAIL_SUPPORT_ADDRESS)[1].lower()


def new_message_id() -> str:
    domain = support_address().rsplit("@", 1)[-1] or "itsm.localdomain"
    return make_msgid(idstring="itsm", domain=domain)


def ticket_subject(ticket: Ticket) -> str:
    return f"[{ticket.number}] {ticket.title}"


def _thread_ids(ticket: Ticket) -> list[str]:
    return list(
        EmailThreadMessage.objects.of_ticket(ticket)
        .order_by("created_at", "id")
        .values_list("message_id", flat=True)
    )


def do_queue_ticket_email(
    ticket: Ticket, *, kind: str, body: str, comment: Comment | None = None, in_reply_to: str = ""
) -> EmailThreadMessage | None:
    """Write the outgoing mail as a thread row and defer its sending (visible at commit)."""
    requester = ticket.requester
    if not requester.is_active or not requester.email:
        return None
    thread = _thread_ids(ticket)
    parent = in_reply_to or (thread[-1] if thread else "")
    references = list(dict.fromkeys([*thread[-19:], *([parent] if parent else [])]))
    message = EmailThreadMessage.objects.create(
        ticket=ticket,
        message_id=new_message_id(),
        direction=Direction.OUTBOUND,
        kind=kind,
        comment=comment,
        recipients=[requester.email],
        subject=ticket_subject(ticket)[:500],
        body=body,
        in_reply_to=parent,
        references=references,
        status=OutboundStatus.PENDING,
    )
    # Named, not imported: the task module imports this one. The job row commits with the mail's;
    # one waiting job per mail, whoever queues it (``do_resend_ticket_email`` too).
    defer_once(SEND_TICKET_EMAIL, lock=f"ticket-email:{message.pk}", thread_message_id=message.pk)
    return message


def render_mail(message: EmailThreadMessage) -> str:
    ticket = message.ticket
    context = {
        "ticket": ticket,
        "message": message,
        "marker": parsing.REPLY_MARKER,
        "url": absolute_url("tickets:ticket-detail", ticket.pk, f"/tickets/{ticket.pk}/"),
        "author": message.comment.author_display if message.comment_id else "",
    }
    with translation.override(ticket.requester.language or "en"):
        return render_to_string(f"mail/{message.kind}.txt", context)


def do_send_ticket_email(thread_message_id: int) -> bool:
    """Send one queued mail once (claimed by compare-and-set); returns whether it was sent now.

    A claim lasts ``EMAIL_SEND_CLAIM_SECONDS``: a worker killed while sending leaves the mail
    ``sending``, and the job run again (``itsm.tasks.retry_stalled_jobs``) takes it over once
    the claim has run out, meanwhile it raises ``MailBeingSent`` and is retried. Mail already
    sent or given up is left alone (False)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.EMAIL_SEND_CLAIM_SECONDS)
    claimed = (
        EmailThreadMessage.objects.filter(pk=thread_message_id, direction=Direction.OUTBOUND)
        .filter(
            Q(status=OutboundStatus.PENDING)
            | Q(status=OutboundStatus.SENDING, claimed_at__lt=stale)
            | Q(status=OutboundStatus.SENDING, claimed_at__isnull=True)
        )
        .update(status=OutboundStatus.SENDING, claimed_at=now)
    )
    if not claimed:
        if EmailThreadMessage.objects.filter(pk=thread_message_id, status=OutboundStatus.SENDING).exists():
            raise MailBeingSent(f"mail {thread_message_id} is being sent by another worker")
        return False
    message = EmailThreadMessage.objects.select_related("ticket__requester", "comment__author").get(
        pk=thread_message_id
    )
    headers = {"Message-ID": message.message_id, "Reply-To": settings.EMAIL_SUPPORT_ADDRESS}
    if message.in_reply_to:
        headers["In-Reply-To"] = message.in_reply_to
    if message.references:
        headers["References"] = " ".join(message.references)
    if message.kind == MailKind.ACKNOWLEDGEMENT:
        headers["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots must not answer it
    mail = EmailMessage(
        subject=message.subject,
        body=render_mail(message),
        from_email=settings.EMAIL_SUPPORT_ADDRESS,
        to=message.recipients,
        headers=headers,
    )
    try:
        mail.send()
    except Exception as error:
        # Back to pending so the retried job sends it; the error is kept for the admin.
        EmailThreadMessage.objects.filter(pk=message.pk).update(
            status=OutboundStatus.PENDING, error=f"{error.__class__.__name__}: {error}"[:1000]
        )
        raise
    EmailThreadMessage.objects.filter(pk=message.pk).update(
        status=OutboundStatus.SENT, sent_at=timezone.now(), error=""
    )
    return True


def do_give_up_ticket_email(thread_message_id: int, reason: str) -> None:
    EmailThreadMessage.objects.filter(pk=thread_message_id, status=OutboundStatus.PENDING).update(
        status=OutboundStatus.FAILED, error=reason[:1000]
    )


def do_resend_ticket_email(thread_message_id: int) -> bool:
    """Queue a mail that was given up (``failed``) again; returns whether it was queued. Mail
    sent, pending or being sent is left alone, so asking twice queues it once."""
    with transaction.atomic():
        requeued = EmailThreadMessage.objects.filter(
            pk=thread_message_id, direction=Direction.OUTBOUND, status=OutboundStatus.FAILED
        ).update(status=OutboundStatus.PENDING, claimed_at=None)
        if requeued:
            defer_once(
                SEND_TICKET_EMAIL,
                lock=f"ticket-email:{thread_message_id}",
                thread_message_id=thread_message_id,
            )
    return bool(requeued)

"""Ticket mail out: acknowledgements and agent replies, threaded, sent once, retried on failure."""

from pathlib import Path

import pytest
from django.core import mail
from django.core.checks import run_checks
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.email.actions import do_give_up_ticket_email, do_ingest_email, do_send_ticket_email
from integrations.email.models import EmailThreadMessage, OutboundStatus
from tickets.actions import do_add_comment

FIXTURES = Path(__file__).parent / "fixtures"


def outbound(ticket, kind):
    return EmailThreadMessage.objects.get(ticket=ticket, direction="out", kind=kind)


def test_a_ticket_opened_by_email_is_acknowledged_in_the_same_thread(requester, settings):
    settings.EMAIL_SUPPORT_ADDRESS = "Service desk <support@example.com>"
    ticket = do_ingest_email((FIXTURES / "new_ticket.eml").read_bytes(), source="test").receipt.ticket
    ack = outbound(ticket, "ack")
    assert ProcrastinateJob.objects.filter(
        task_name="integrations.email.tasks.send_ticket_email", args={"thread_message_id": ack.pk}
    ).exists()
    assert do_send_ticket_email(ack.pk)
    (sent,) = mail.outbox
    assert sent.to == [requester.email]
    assert sent.from_email == "Service desk <support@example.com>"
    assert sent.subject == f"[{ticket.number}] Printer on floor 3 prints blank pages"
    message = sent.message()
    assert message["Message-ID"] == ack.message_id and ack.message_id.endswith("@example.com>")
    assert message["In-Reply-To"] == "<CAFnew-ticket-0001@mail.example.com>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Reply-To"] == "Service desk <support@example.com>"
    assert f"opened {ticket.number}" in sent.body
    assert sent.body.startswith("##- Please type your reply above this line -##")


def test_no_acknowledgement_when_turned_off_or_not_from_email(requester, settings, make_ticket):
    settings.EMAIL_ACKNOWLEDGE_NEW_TICKETS = False
    ticket = do_ingest_email((FIXTURES / "new_ticket.eml").read_bytes(), source="test").receipt.ticket
    assert not EmailThreadMessage.objects.filter(ticket=ticket, direction="out").exists()
    settings.EMAIL_ACKNOWLEDGE_NEW_TICKETS = True
    web = make_ticket("Opened on the portal")
    assert not EmailThreadMessage.objects.filter(ticket=web).exists()


def test_an_agents_public_reply_is_mailed_threaded_and_once(requester, agent, make_ticket, settings):
    settings.EMAIL_SEND_REPLIES = True
    ticket = make_ticket("VPN & <proxy> broken")
    do_add_comment(ticket, actor=agent, body="Please restart the client & try again.")
    do_add_comment(ticket, actor=agent, body="Internal: probably the proxy.", internal=True)
    do_add_comment(ticket, actor=requester, body="I did.")
    reply = outbound(ticket, "reply")  # exactly one: internal notes and the requester's words are not mailed
    assert do_send_ticket_email(reply.pk)
    assert not do_send_ticket_email(reply.pk)  # a retried job sends nothing twice
    (sent,) = mail.outbox
    assert sent.subject == f"[{ticket.number}] VPN & <proxy> broken"
    assert "Bob Agent replied on" in sent.body
    assert "Please restart the client & try again." in sent.body  # plain text, not HTML-escaped
    assert "probably the proxy" not in sent.body
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.SENT and reply.sent_at is not None

    do_add_comment(ticket, actor=agent, body="Second answer.")
    second = EmailThreadMessage.objects.filter(ticket=ticket, kind="reply").order_by("-id").first()
    assert second.in_reply_to == reply.message_id
    assert second.references == [reply.message_id]


def test_a_mail_server_failure_keeps_the_mail_for_the_retry(requester, agent, make_ticket, settings):
    settings.EMAIL_SEND_REPLIES = True
    ticket = make_ticket("Disk full")
    do_add_comment(ticket, actor=agent, body="Cleaning up.")
    reply = outbound(ticket, "reply")
    settings.EMAIL_BACKEND = "integrations.email.tests.test_outbound.BrokenBackend"
    with pytest.raises(ConnectionRefusedError):
        do_send_ticket_email(reply.pk)
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.PENDING
    assert "ConnectionRefusedError" in reply.error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert do_send_ticket_email(reply.pk)
    assert len(mail.outbox) == 1
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.SENT and reply.error == ""


def test_it_gives_up_after_the_last_retry(requester, agent, make_ticket, settings):
    settings.EMAIL_SEND_REPLIES = True
    ticket = make_ticket("Disk full")
    do_add_comment(ticket, actor=agent, body="Cleaning up.")
    reply = outbound(ticket, "reply")
    do_give_up_ticket_email(reply.pk, "SMTP 554 rejected")
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.FAILED
    assert not do_send_ticket_email(reply.pk)
    assert not mail.outbox


def test_replies_are_not_mailed_when_turned_off(requester, agent, make_ticket, settings):
    settings.EMAIL_SEND_REPLIES = False
    ticket = make_ticket("Disk full")
    do_add_comment(ticket, actor=agent, body="Cleaning up.")
    assert not EmailThreadMessage.objects.filter(ticket=ticket).exists()


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server down")


@pytest.mark.parametrize(
    ("channel", "tickets_app", "warned"), [(True, True, True), (True, False, False), (False, True, False)]
)
def test_the_system_check_warns_when_both_reply_mailers_are_on(settings, channel, tickets_app, warned):
    settings.EMAIL_SEND_REPLIES = channel
    settings.TICKET_REPLY_EMAILS = tickets_app
    assert ("mail.W001" in {message.id for message in run_checks()}) is warned

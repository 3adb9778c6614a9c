"""Inbound mail becomes tickets and replies, once; robots, bounces and strangers are turned away."""

from pathlib import Path

import pytest
from django.core import mail

from integrations.email.actions import do_ingest_email, do_send_ticket_email
from integrations.email.models import EmailReceipt, EmailThreadMessage, ReceiptStatus
from integrations.email.parsing import NotAnEmail
from itsm.models import Organisation, User
from tickets.actions import do_add_comment, do_transition_ticket
from tickets.models import Attachment, Comment, Ticket, TicketRelation

FIXTURES = Path(__file__).parent / "fixtures"


def raw(name: str, **replace: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    for old, new in replace.items():
        data = data.replace(old.encode(), new.encode())
    return data


def ingest(name: str, **replace: str):
    return do_ingest_email(raw(name, **replace), source=f"test:{name}")


def test_a_new_message_opens_a_ticket_for_its_sender(requester):
    result = ingest("new_ticket.eml")
    receipt = result.receipt
    assert receipt.status == ReceiptStatus.CREATED
    ticket = receipt.ticket
    assert ticket.channel == "email"
    assert ticket.requester == requester
    assert ticket.title == "Printer on floor 3 prints blank pages"
    assert "I already replaced the toner." in ticket.description
    assert ticket.metadata["email"]["message_id"] == "<CAFnew-ticket-0001@mail.example.com>"
    thread = EmailThreadMessage.objects.get(ticket=ticket, direction="in")
    assert thread.message_id == "<CAFnew-ticket-0001@mail.example.com>"


def test_the_same_message_read_twice_is_processed_once(requester):
    first = ingest("new_ticket.eml")
    second = ingest("new_ticket.eml")
    assert second.duplicate and not first.duplicate
    assert second.receipt.pk == first.receipt.pk
    assert Ticket.objects.count() == 1
    assert EmailReceipt.objects.count() == 1


def test_a_reply_threads_by_in_reply_to_and_drops_the_quoted_history(requester):
    ticket = ingest("new_ticket.eml").receipt.ticket
    receipt = ingest("reply_in_reply_to.eml").receipt
    assert receipt.status == ReceiptStatus.REPLIED
    assert receipt.ticket == ticket
    comment = Comment.objects.get(ticket=ticket)
    assert comment.body == "It also happens on the printer by the lifts now."
    assert comment.source == "email"
    assert comment.external_id == "<CAFreply-0002@mail.example.com>"
    assert comment.author == requester
    assert not comment.internal
    # Read again: nothing changes twice.
    assert ingest("reply_in_reply_to.eml").duplicate
    assert Comment.objects.filter(ticket=ticket).count() == 1


def test_a_reply_threads_by_the_subject_token(requester, make_ticket):
    ticket = make_ticket("Printer on floor 3 prints blank pages")
    receipt = ingest("reply_subject_token.eml", TICKET_NUMBER=ticket.number).receipt
    assert receipt.status == ReceiptStatus.REPLIED and receipt.ticket == ticket
    assert (
        Comment.objects.get(ticket=ticket).body
        == "Still broken \u2013 the engineer has not come yet.\n\nDave"
    )


def test_a_reply_to_a_pending_ticket_gives_it_back_to_the_desk(requester, make_ticket, agent):
    ticket = make_ticket("Printer on floor 3 prints blank pages")
    do_transition_ticket(ticket, "pending_customer", actor=agent)
    ingest("reply_subject_token.eml", TICKET_NUMBER=ticket.number)
    ticket.refresh_from_db()
    assert ticket.status == "open"


def test_our_outbound_mail_threads_the_requesters_answer(requester, make_ticket, agent, settings):
    settings.EMAIL_SEND_REPLIES = True
    ticket = make_ticket("VPN broken")
    do_add_comment(ticket, actor=agent, body="Please restart the client.")
    (outbound,) = EmailThreadMessage.objects.filter(ticket=ticket, direction="out")
    assert do_send_ticket_email(outbound.pk)
    answer = (
        f"From: {requester.email}\nTo: itsm@localhost\nSubject: Re: your ticket\n"
        f"Message-ID: <answer-1@mail.example.com>\nIn-Reply-To: {outbound.message_id}\n\nDone, works now.\n"
    ).encode()
    receipt = do_ingest_email(answer, source="test").receipt
    assert receipt.status == ReceiptStatus.REPLIED and receipt.ticket == ticket
    assert len(mail.outbox) == 1  # the requester's own answer is not mailed back to them


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("auto_reply.eml", ReceiptStatus.AUTO_REPLY),
        ("out_of_office_precedence.eml", ReceiptStatus.AUTO_REPLY),
        ("bounce.eml", ReceiptStatus.BOUNCE),
    ],
)
def test_auto_replies_and_bounces_are_recorded_and_ignored(requester, other_requester, name, status):
    receipt = ingest(name).receipt
    assert receipt.status == status
    assert receipt.ticket is None
    assert not Ticket.objects.exists() and not Comment.objects.exists()
    assert not mail.outbox  # and never answered: no mail loops


def test_mail_from_our_own_address_is_ignored(db):
    receipt = do_ingest_email(
        b"From: ITSM <itsm@localhost>\nSubject: [INC-000001] x\nMessage-ID: <l@x>\n\nloop", source="test"
    ).receipt
    assert receipt.status == ReceiptStatus.LOOP
    assert not Ticket.objects.exists()


def test_attachments_are_kept_within_the_limits(requester, settings):
    ticket = ingest("attachment.eml").receipt.ticket
    kept = sorted(Attachment.objects.filter(ticket=ticket).values_list("filename", "content_type"))
    assert kept == [("client.log", "text/plain"), ("vpn-error.pdf", "application/pdf")]
    assert "fix.exe: files of type application/x-msdownload are not accepted." in ticket.description
    receipt = EmailReceipt.objects.get()
    assert (receipt.attachments_kept, receipt.attachments_dropped) == (2, 1)


def test_attachments_over_the_size_limit_are_listed_not_kept(requester, settings):
    settings.ATTACHMENT_MAX_BYTES = 40
    ticket = ingest("attachment.eml").receipt.ticket
    assert list(Attachment.objects.filter(ticket=ticket).values_list("filename", flat=True)) == []
    assert "vpn-error.pdf is" in ticket.description and "the limit is 40 bytes" in ticket.description


def test_html_only_mail_becomes_text(requester):
    ticket = ingest("html_only.eml").receipt.ticket
    assert ticket.title == "Accès refusé au partage"
    assert "- Mes collègues y accèdent" in ticket.description
    assert "<p>" not in ticket.description


def test_an_html_reply_is_trimmed_too(requester, make_ticket):
    ticket = make_ticket("Printer on floor 3 prints blank pages")
    ingest("html_reply_quoted.eml", TICKET_NUMBER=ticket.number)
    assert Comment.objects.get(ticket=ticket).body == "Works again, thank you!"


def test_unknown_senders_become_requesters_when_allowed(db, settings):
    settings.EMAIL_UNKNOWN_SENDER = "create"
    organisation = Organisation.objects.create(name="NewCorp", domain="newcorp.example")
    ticket = ingest("unknown_sender.eml").receipt.ticket
    user = User.objects.get(email="frank@newcorp.example")
    assert ticket.requester == user
    assert user.role == "user" and user.full_name == "Frank Stranger"
    assert user.organisation == organisation
    assert not user.has_usable_password()


def test_unknown_senders_are_rejected_when_configured(db, settings):
    settings.EMAIL_UNKNOWN_SENDER = "reject"
    receipt = ingest("unknown_sender.eml").receipt
    assert receipt.status == ReceiptStatus.REJECTED
    assert "unknown sender frank@newcorp.example" in receipt.reason
    assert not User.objects.filter(email="frank@newcorp.example").exists()
    assert not Ticket.objects.exists()


def test_a_stranger_cannot_reply_to_someone_elses_ticket(requester, other_requester, make_ticket):
    ticket = make_ticket("Printer on floor 3 prints blank pages", requester=other_requester)
    receipt = ingest("reply_subject_token.eml", TICKET_NUMBER=ticket.number).receipt
    assert receipt.status == ReceiptStatus.REJECTED
    assert f"may not reply to {ticket.number}" in receipt.reason
    assert not Comment.objects.exists()
    assert not EmailThreadMessage.objects.filter(direction="in").exists()


def test_viewers_and_deactivated_users_are_rejected(requester, viewer):
    requester.is_active = False
    requester.save()
    assert ingest("new_ticket.eml").receipt.status == ReceiptStatus.REJECTED
    data = raw("unknown_sender.eml").replace(b"frank@newcorp.example", viewer.email.encode())
    receipt = do_ingest_email(data, source="test").receipt
    assert receipt.status == ReceiptStatus.REJECTED and "viewer" in receipt.reason
    assert not Ticket.objects.exists()


def test_a_reply_to_a_closed_ticket_opens_a_linked_follow_up(requester, make_ticket, agent):
    old = make_ticket("Printer on floor 3 prints blank pages")
    do_transition_ticket(old, "resolved", actor=agent, resolution="Replaced the fuser.")
    do_transition_ticket(old, "closed", actor=agent)
    receipt = ingest("reply_subject_token.eml", TICKET_NUMBER=old.number).receipt
    assert receipt.status == ReceiptStatus.CREATED
    follow_up = receipt.ticket
    assert follow_up != old
    assert follow_up.description.startswith(f"Follow-up to {old.number}.")
    assert TicketRelation.objects.filter(source=follow_up, target=old, kind="related").exists()


def test_a_message_without_message_id_is_still_processed_once(other_requester):
    ingest("no_message_id.eml")
    assert ingest("no_message_id.eml").duplicate
    assert Ticket.objects.count() == 1


def test_bad_input_changes_nothing(db, settings):
    with pytest.raises(NotAnEmail):
        do_ingest_email(b"this is not an email", source="test")
    settings.EMAIL_MAX_MESSAGE_BYTES = 100
    with pytest.raises(NotAnEmail, match="the limit is 100 bytes"):
        do_ingest_email(raw("new_ticket.eml"), source="test")
    assert not EmailReceipt.objects.exists() and not Ticket.objects.exists()

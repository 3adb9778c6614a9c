"""Reading messages: addresses, threading ids, body text, quotes, attachments, robots."""

from pathlib import Path

import pytest

from integrations.email import parsing

FIXTURES = Path(__file__).parent / "fixtures"


def parse(name: str, **replace: str) -> parsing.ParsedEmail:
    raw = (FIXTURES / name).read_bytes()
    for old, new in replace.items():
        raw = raw.replace(old.encode(), new.encode())
    return parsing.parse(raw)


def test_it_reads_sender_subject_and_message_id():
    email = parse("new_ticket.eml")
    assert email.sender_email == "dave.user@example.com"
    assert email.sender_name == "Dave Requester"
    assert email.message_id == "<CAFnew-ticket-0001@mail.example.com>"
    assert email.subject == "Printer on floor 3 prints blank pages"
    assert email.body.startswith("Hello,\n\nSince this morning")
    assert not email.auto_reply_reason and not email.bounce_reason


def test_it_finds_the_ticket_token_and_thread_ids():
    email = parse("reply_subject_token.eml", TICKET_NUMBER="INC-000042")
    assert email.ticket_token == "INC-000042"
    assert email.clean_subject == "Printer on floor 3 prints blank pages"
    assert email.sender_email == "dave.user@example.com"  # lower-cased
    reply = parse("reply_in_reply_to.eml")
    assert reply.thread_ids == ["<CAFnew-ticket-0001@mail.example.com>"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("reply_in_reply_to.eml", "It also happens on the printer by the lifts now."),
        ("reply_subject_token.eml", "Still broken \u2013 the engineer has not come yet.\n\nDave"),
        ("html_reply_quoted.eml", "Works again, thank you!"),
    ],
)
def test_it_trims_quoted_history_from_replies(name, expected):
    assert parsing.trim_reply(parse(name).body) == expected


def test_it_trims_a_trailing_quote_and_the_signature():
    text = "Fixed now.\n\nThanks\n-- \nDave\n\n> old text\n> more"
    assert parsing.trim_reply(parsing.normalise_text(text)) == "Fixed now.\n\nThanks"
    assert parsing.trim_reply("> only a quote") == "> only a quote"  # never trimmed to nothing


def test_it_converts_html_only_mail_to_text():
    email = parse("html_only.eml")
    assert email.was_html_only
    assert email.subject == "Accès refusé au partage"
    assert "alert(1)" not in email.body and "color: red" not in email.body
    assert "Je n'ai plus accès au partage \\\\fs01\\finance depuis ce matin :" in email.body
    assert "- Windows dit « Accès refusé »" in email.body
    assert "la procédure (https://intranet.example.com/howto)" in email.body
    assert email.body.endswith("Merci\nDave")


def test_it_keeps_attachments_with_safe_names():
    email = parse("attachment.eml")
    assert email.body == "The VPN client shows an error, log attached."
    names = [(a.filename, a.content_type) for a in email.attachments]
    assert names == [
        ("vpn-error.pdf", "application/pdf"),
        ("client.log", "text/plain"),
        ("fix.exe", "application/x-msdownload"),
    ]
    assert email.attachments[0].content.startswith(b"%PDF-1.4")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("auto_reply.eml", "Auto-Submitted: auto-replied"),
        ("out_of_office_precedence.eml", "x-autoreply: yes"),
    ],
)
def test_it_recognises_auto_replies(name, reason):
    assert parse(name).auto_reply_reason == reason


def test_it_recognises_bounces():
    assert parse("bounce.eml").bounce_reason == "multipart/report (delivery-status)"
    plain = b"From: postmaster@mx.example.com\nSubject: failure\nMessage-ID: <x@y>\n\nNope"
    assert parsing.parse(plain).bounce_reason == "sent by postmaster"


def test_a_message_without_message_id_gets_a_stable_one():
    first, second = parse("no_message_id.eml"), parse("no_message_id.eml")
    assert first.message_id == second.message_id
    assert first.message_id.startswith("<sha256-") and first.message_id.endswith("@itsm.invalid>")


@pytest.mark.parametrize(
    "raw", [b"", b"   \n", b"just some words without headers", b"Subject: hi\n\nno sender"]
)
def test_it_refuses_what_is_not_an_email(raw):
    with pytest.raises(parsing.NotAnEmail):
        parsing.parse(raw)

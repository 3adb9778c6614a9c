"""manage.py ingest_email: files, stdin, a Maildir, the IMAP mailbox; bad arguments change nothing."""

import io
import mailbox
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations.email.models import EmailReceipt
from tickets.models import Comment, Ticket

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args: str, stdin: bytes | None = None, monkeypatch=None) -> str:
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    call_command("ingest_email", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_it_reads_message_files(requester):
    output = run(
        str(FIXTURES / "new_ticket.eml"),
        str(FIXTURES / "reply_in_reply_to.eml"),
        str(FIXTURES / "auto_reply.eml"),
    )
    ticket = Ticket.objects.get()
    assert f"Ticket created {ticket.number}" in output
    assert "Done (auto_reply: 1, created: 1, replied: 1)." in output
    assert Comment.objects.filter(ticket=ticket).count() == 1
    again = run(str(FIXTURES / "new_ticket.eml"))
    assert "already processed" in again and "duplicate: 1" in again
    assert Ticket.objects.count() == 1


def test_it_reads_one_message_from_stdin(requester, monkeypatch):
    output = run("-", stdin=(FIXTURES / "new_ticket.eml").read_bytes(), monkeypatch=monkeypatch)
    assert "created: 1" in output
    assert EmailReceipt.objects.get().source == "stdin"


def test_it_reads_unread_messages_of_a_maildir_and_marks_them_read(requester, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for name in ("new_ticket.eml", "reply_in_reply_to.eml", "bounce.eml"):
        box.add((FIXTURES / name).read_bytes())
    output = run("--maildir", str(tmp_path / "Maildir"))
    assert "Done (bounce: 1, created: 1, replied: 1)." in output
    assert all("S" in box.get_message(key).get_flags() for key in box.iterkeys())
    assert list((tmp_path / "Maildir" / "new").iterdir()) == []
    assert "no messages" in run("--maildir", str(tmp_path / "Maildir"))
    assert "duplicate: 3" in run("--maildir", str(tmp_path / "Maildir"), "--all")
    assert Ticket.objects.count() == 1


def test_unreadable_input_is_reported_and_the_rest_goes_on(requester, tmp_path):
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\x01 not mail at all")
    output = run(str(junk), str(FIXTURES / "new_ticket.eml"))
    assert "junk.eml: not processed" in output
    assert "created: 1" in output and "unreadable: 1" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Nothing to read"),
        (("/nonexistent/message.eml",), "No such file: /nonexistent/message.eml"),
    ],
)
def test_bad_arguments_fail_and_change_nothing(db, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args, str(FIXTURES / "new_ticket.eml")) if args else run()
    assert not EmailReceipt.objects.exists()


def test_a_folder_that_is_not_a_maildir_is_refused(db, tmp_path):
    with pytest.raises(CommandError, match="is not a Maildir"):
        run("--maildir", str(tmp_path))


def test_imap_without_settings_is_a_clear_error(db, settings):
    settings.EMAIL_IMAP_HOST = ""
    with pytest.raises(CommandError, match="EMAIL_IMAP_HOST is not set"):
        run("--imap")


@pytest.fixture
def imap_settings(settings):
    settings.EMAIL_IMAP_HOST = "127.0.0.1"
    settings.EMAIL_IMAP_SSL = False
    settings.EMAIL_IMAP_USER = "desk"
    settings.EMAIL_IMAP_PASSWORD = "secret"
    settings.EMAIL_IMAP_TIMEOUT_SECONDS = 5
    return settings


def test_it_reads_unread_imap_messages_and_flags_them_seen(requester, imap_settings):
    from integrations.email.tests.fake_imap import FakeImap

    messages = [(FIXTURES / name).read_bytes() for name in ("new_ticket.eml", "reply_in_reply_to.eml")]
    with FakeImap(messages) as server:
        imap_settings.EMAIL_IMAP_PORT = server.port
        output = run("--imap")
        assert server.seen == {1, 2}
        assert "Done (created: 1, replied: 1)." in output
        assert "no messages" in run("--imap")  # nothing unread any more
    assert Comment.objects.count() == 1


def test_a_failure_while_handling_leaves_the_imap_message_unread(requester, imap_settings, monkeypatch):
    from integrations.email import imap
    from integrations.email.tests.fake_imap import FakeImap

    def database_down(raw):
        raise OSError("database unavailable")

    with FakeImap([(FIXTURES / "new_ticket.eml").read_bytes()]) as server:
        imap_settings.EMAIL_IMAP_PORT = server.port
        with pytest.raises(OSError):
            imap.fetch_unseen(database_down)
        assert server.seen == set()
        assert "UID STORE" not in server.commands


def test_bad_imap_credentials_are_a_clear_error(db, imap_settings):
    from integrations.email.tests.fake_imap import FakeImap

    with FakeImap([], password="other") as server:
        imap_settings.EMAIL_IMAP_PORT = server.port
        with pytest.raises(CommandError, match="IMAP: .*Invalid credentials"):
            run("--imap")

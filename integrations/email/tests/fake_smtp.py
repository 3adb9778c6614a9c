"""A tiny SMTP server on 127.0.0.1: what ``smtplib`` (Django's SMTP backend) needs to hand over a
message (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT). ``stop()`` closes the port (the mail server
is down: connections are refused); ``start()`` opens the same port again."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class FakeSmtp:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}  # recipient -> the server's answer to RCPT ("550 no such user")
        self.connections = 0
        self.lock = threading.Lock()
        self.port = 0
        self.server: _Server | None = None

    def start(self) -> FakeSmtp:
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def send(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                with fake.lock:
                    fake.connections += 1
                self.send("220 fake-smtp ready")
                sender, recipients = "", []
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    command = raw.decode(errors="replace").strip()
                    verb = command[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.send("250 fake-smtp")
                    elif verb == "MAIL":
                        sender, recipients = command.partition(":")[2].strip(" <>"), []
                        self.send("250 OK")
                    elif verb == "RCPT":
                        recipient = command.partition(":")[2].strip(" <>")
                        if recipient in fake.refuse:
                            self.send(fake.refuse[recipient])
                        else:
                            recipients.append(recipient)
                            self.send("250 OK")
                    elif verb == "DATA":
                        self.send("354 end with <CRLF>.<CRLF>")
                        lines = []
                        while (line := self.rfile.readline()) not in (b".\r\n", b""):
                            lines.append(line[1:] if line.startswith(b"..") else line)
                        with fake.lock:
                            fake.received.append(Received(sender, recipients, b"".join(lines)))
                        self.send("250 OK queued")
                    elif verb in ("RSET", "NOOP"):
                        self.send("250 OK")
                    elif verb == "QUIT":
                        self.send("221 bye")
                        return
                    else:
                        self.send("502 not implemented")

        self.server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

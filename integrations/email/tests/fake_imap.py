"""A tiny IMAP4rev1 server on 127.0.0.1 for the ingest tests: just what ``imaplib`` needs to log in,
select a mailbox, search unread messages, fetch them and flag them ``\\Seen``."""

from __future__ import annotations

import re
import socketserver
import threading


class FakeImap:
    def __init__(self, messages: list[bytes], *, user: str = "desk", password: str = "secret") -> None:  # noqa: S107
        self.messages = {uid: message for uid, message in enumerate(messages, start=1)}
        self.seen: set[int] = set()
        self.user, self.password = user, password
        self.commands: list[str] = []
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def send(self, line: str | bytes) -> None:
                self.wfile.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")

            def handle(self) -> None:
                self.send("* OK [CAPABILITY IMAP4rev1] fake IMAP ready")
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    tag, _, rest = raw.decode().strip().partition(" ")
                    command = rest.upper()
                    fake.commands.append(
                        command.split(" ", 2)[0]
                        if not command.startswith("UID")
                        else " ".join(command.split(" ", 2)[:2])
                    )
                    if command.startswith("CAPABILITY"):
                        self.send("* CAPABILITY IMAP4rev1")
                        self.send(f"{tag} OK CAPABILITY completed")
                    elif command.startswith("LOGIN"):
                        _, user, password = rest.split(" ", 2)
                        if (user.strip('"'), password.strip('"')) == (fake.user, fake.password):
                            self.send(f"{tag} OK LOGIN completed")
                        else:
                            self.send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
                    elif command.startswith("SELECT"):
                        self.send(f"* {len(fake.messages)} EXISTS")
                        self.send(f"{tag} OK [READ-WRITE] SELECT completed")
                    elif command.startswith("UID SEARCH"):
                        unseen = " ".join(str(uid) for uid in fake.messages if uid not in fake.seen)
                        self.send(f"* SEARCH {unseen}".rstrip())
                        self.send(f"{tag} OK SEARCH completed")
                    elif command.startswith("UID FETCH"):
                        uid = int(re.split(r"\s+", command)[2])
                        body = fake.messages[uid]
                        self.send(
                            f"* {uid} FETCH (UID {uid} BODY[] {{{len(body)}}}".encode()
                            + b"\r\n"
                            + body
                            + b")\r\n"
                        )
                        self.send(f"{tag} OK FETCH completed")
                    elif command.startswith("UID STORE"):
                        uid = int(re.split(r"\s+", command)[2])
                        fake.seen.add(uid)
                        self.send(f"* {uid} FETCH (UID {uid} FLAGS (\\Seen))")
                        self.send(f"{tag} OK STORE completed")
                    elif command.startswith("LOGOUT"):
                        self.send("* BYE logging out")
                        self.send(f"{tag} OK LOGOUT completed")
                        return
                    else:
                        self.send(f"{tag} BAD unknown command")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self) -> FakeImap:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

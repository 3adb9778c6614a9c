"""A small Jira Cloud on 127.0.0.1 that behaves as the contracts document.

Basic auth (email + API token, else 401 with no specified body), ``POST /rest/api/3/issue``
(201 ``{id, key, self}``; 400 ``ErrorCollection`` for refused fields), ``GET`` issue (404
ErrorCollection), comments (POST 201; GET with ``startAt``/``maxResults``/``total``), transitions
(GET list, POST 204), ``POST /rest/api/3/search/jql`` with ``nextPageToken`` pagination (absent
on the last page; 400 on a bad token or a ``startAt`` key), ``POST
/rest/api/3/search/approximate-count``, JSM ``/rest/servicedeskapi/request/{key}/sla``. Scripted
failures (429 with ``Retry-After``, 503, …) and slow answers are queued per path prefix.

Search understands the JQL the product sends: ``project = K`` / ``project in ("A", "B")``,
``labels = "x"``, ``updated >= "YYYY-MM-DD[ HH:MM]"`` and the relative ``updated >= "-Nm"``
(minutes before ``now``; while a test leaves ``now`` unset, a relative window matches every
issue), joined by ``AND``, then ``ORDER BY updated ASC`` (ties by id); anything else is a 400
"Invalid JQL". It returns only the ``fields`` asked for (``["id"]``: ids only, up to 5000 a
page; otherwise at most 100 a page, as Jira may return fewer than asked). Embedded comments
are cut to ``embedded_comments`` (``total`` says how many there are), as a long thread is.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EMAIL = "sync-bot@example.com"
TOKEN = "api-token-123"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Failure:
    method: str
    prefix: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    times: int = 1


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


class FakeJira:
    def __init__(self) -> None:
        self.issues: dict[str, dict] = {}
        self.slas: dict[str, list[dict]] = {}
        self.transitions: list[dict] = fixture("jira-get-transitions-response.json")["transitions"]
        self.requests: list[Seen] = []
        self.failures: list[Failure] = []
        self.slow: dict[str, float] = {}
        self.refuse_fields: dict[str, str] = {}
        self.required: list[str] = []
        self.next_id = 10100
        self.next_comment_id = 20100
        # The instant relative JQL windows ("-Nm") are measured from; None: they match everything.
        self.now: datetime | None = None
        self.embedded_comments: int | None = None
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeJira:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def down(self) -> None:
        """Jira unreachable: the port is closed, connections are refused (the issues are kept)."""
        self.server.shutdown()
        self.server.server_close()

    def up(self) -> None:
        """Back after ``down()``, on the same port, with the same issues."""
        self.server = ThreadingHTTPServer(self.server.server_address, self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    # --- scripting --------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        prefix: str,
        status: int,
        *,
        times: int = 1,
        headers: dict | None = None,
        body: Any = None,
    ) -> None:
        self.failures.append(Failure(method, prefix, status, headers or {}, body, times))

    def add_issue(
        self,
        key: str,
        *,
        issue_id: str | None = None,
        summary: str = "An issue",
        updated: str = "2025-03-14T10:00:00.000+0000",
        status: str = "Waiting for support",
        category: str = "new",
        priority: str = "Medium",
        **fields: Any,
    ) -> dict:
        issue_id = issue_id or str(self._new_id())
        issue = {
            "id": issue_id,
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{issue_id}",
            "fields": {
                "summary": summary,
                "description": {
                    "type": "doc",
                    "version": 1,
                    "content": [
                        {"type": "paragraph", "content": [{"type": "text", "text": f"Description of {key}"}]}
                    ],
                },
                "status": {"name": status, "id": "1", "statusCategory": {"key": category}},
                "priority": {"name": priority, "id": "3"},
                "issuetype": {"name": "[System] Incident", "id": "10006"},
                "project": {"key": key.split("-")[0], "id": "10002"},
                "labels": [],
                "components": [],
                "assignee": None,
                "created": "2025-03-14T09:00:00.000+0000",
                "updated": updated,
                "comment": {"comments": [], "maxResults": 0, "total": 0, "startAt": 0},
                **fields,
            },
        }
        with self.lock:
            self.issues[key] = issue
        return issue

    def add_comment(
        self,
        key: str,
        body: Any,
        *,
        public: bool | None = True,
        author: str = "Alex Agent",
        created: str = "2025-03-14T10:05:00.000+0000",
        properties: list[dict] | None = None,
    ) -> dict:
        """A comment on an issue as JSM stores it (``jsdPublic``; ``public=None`` leaves it out)."""
        with self.lock:
            self.next_comment_id += 1
            comment_id = str(self.next_comment_id)
        comment: dict[str, Any] = {
            "self": f"{self.url}/rest/api/3/issue/{self.issues[key]['id']}/comment/{comment_id}",
            "id": comment_id,
            "author": {"accountId": f"acc-{author.lower().replace(' ', '-')}", "displayName": author},
            "body": body,
            "created": created,
            "updated": created,
        }
        if public is not None:
            comment["jsdPublic"] = public
        if properties is not None:
            comment["properties"] = properties
        comments = self.issues[key]["fields"]["comment"]
        comments["comments"].append(comment)
        comments["total"] = comments["maxResults"] = len(comments["comments"])
        return comment

    def delete_issue(self, key: str) -> dict:
        with self.lock:
            return self.issues.pop(key)

    def requests_to(self, method: str, prefix: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.method == method and seen.path.startswith(prefix)]

    def _new_id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    # --- the HTTP side ----------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        jira = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def _serve(self, method: str) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                jira.requests.append(
                    Seen(method, parsed.path, parse_qs(parsed.query), body, dict(self.headers))
                )
                for prefix, seconds in jira.slow.items():
                    if parsed.path.startswith(prefix):
                        jira.release.wait(seconds)
                if not self._authorised():
                    return self._send(401, None)
                for failure in jira.failures:
                    if failure.times and failure.method == method and parsed.path.startswith(failure.prefix):
                        failure.times -= 1
                        return self._send(failure.status, failure.body, failure.headers)
                status, answer = jira.route(method, parsed.path, parse_qs(parsed.query), body)
                self._send(status, answer)

            def _authorised(self) -> bool:
                header = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
                return header == expected

            def _send(self, status: int, body: Any, headers: dict | None = None) -> None:
                payload = b"" if body is None or status == 204 else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                try:
                    self.end_headers()
                    if payload:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout tests make it)

        return Handler

    def route(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        parts = [part for part in path.split("/") if part]
        not_found = {
            "errorMessages": ["Issue does not exist or you do not have permission to see it."],
            "errors": {},
        }
        if path == "/rest/api/3/issue" and method == "POST":
            return self.create(body)
        if path == "/rest/api/3/search/jql" and method == "POST":
            return self.search(body)
        if path == "/rest/api/3/search/approximate-count" and method == "POST":
            return self.approximate_count(body)
        if path.startswith("/rest/api/3/search") and path != "/rest/api/3/search/jql":
            return 410, {
                "errorMessages": [
                    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
                ],
                "errors": {},
            }
        if parts[:4] == ["rest", "api", "3", "issue"] and len(parts) >= 5:
            issue = self.issues.get(parts[4]) or next(
                (item for item in self.issues.values() if item["id"] == parts[4]), None
            )
            if issue is None:
                return 404, not_found
            if len(parts) == 5 and method == "GET":
                return 200, copy.deepcopy(issue)
            if parts[5:] == ["comment"] and method == "POST":
                return self.comment(issue, body)
            if parts[5:] == ["comment"] and method == "GET":
                return self.comments_page(issue, query)
            if parts[5:6] == ["comment"] and len(parts) == 7 and method == "PUT":
                return self.edit_comment(issue, parts[6], body)
            if parts[5:] == ["transitions"] and method == "GET":
                return 200, {"expand": "transitions", "transitions": copy.deepcopy(self.transitions)}
            if parts[5:] == ["transitions"] and method == "POST":
                return self.transition(issue, body)
        if parts[:3] == ["rest", "servicedeskapi", "request"] and parts[4:5] == ["sla"]:
            if parts[3] not in self.slas:
                return 404, not_found
            values = self.slas[parts[3]]
            start = int((query.get("start") or ["0"])[0])
            limit = int((query.get("limit") or ["50"])[0])
            page = values[start : start + limit]
            return 200, {
                "size": len(page),
                "start": start,
                "limit": limit,
                "isLastPage": start + limit >= len(values),
                "values": page,
                "_links": {},
            }
        return 404, {"errorMessages": [f"No route {method} {path}"], "errors": {}}

    def create(self, body: Any) -> tuple[int, Any]:
        fields = (body or {}).get("fields") or {}
        errors = {name: message for name, message in self.refuse_fields.items() if name in fields}
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        missing = [name for name in self.required if name not in fields]
        if errors or missing:
            return 400, {
                "errorMessages": [f"Field '{name}' is required" for name in missing],
                "errors": errors,
            }
        issue_id = str(self._new_id())
        key = f"{fields['project']['key']}-{len(self.issues) + 1}"
        self.add_issue(
            key,
            issue_id=issue_id,
            summary=fields["summary"],
            description=fields.get("description"),
            labels=fields.get("labels", []),
        )
        return 201, {"id": issue_id, "key": key, "self": f"{self.url}/rest/api/3/issue/{issue_id}"}

    def comment(self, issue: dict, body: Any) -> tuple[int, Any]:
        if not isinstance((body or {}).get("body"), dict):
            return 400, {"errorMessages": ["Comment body can not be empty!"], "errors": {}}
        with self.lock:
            self.next_comment_id += 1
            comment_id = str(self.next_comment_id)
        answer = copy.deepcopy(fixture("jira-add-comment-response.json"))
        answer.update({"id": comment_id, "body": body["body"]})
        issue["fields"]["comment"]["comments"].append(answer)
        return 201, answer

    def edit_comment(self, issue: dict, comment_id: str, body: Any) -> tuple[int, Any]:
        """``PUT …/comment/{id}``: 400 without an ADF body, 404 for a comment not on the issue."""
        if not isinstance((body or {}).get("body"), dict):
            return 400, {"errorMessages": ["Comment body can not be empty!"], "errors": {}}
        for comment in issue["fields"]["comment"]["comments"]:
            if str(comment.get("id")) == comment_id:
                comment["body"] = body["body"]
                comment["updated"] = "2025-03-14T12:00:00.000+0000"
                return 200, copy.deepcopy(comment)
        return 404, {
            "errorMessages": ["Can not find a comment for the id: " + comment_id + "."],
            "errors": {},
        }

    def transition(self, issue: dict, body: Any) -> tuple[int, Any]:
        wanted = str(((body or {}).get("transition") or {}).get("id") or "")
        for transition in self.transitions:
            if transition["id"] == wanted:
                issue["fields"]["status"] = {
                    "name": transition["to"]["name"],
                    "id": transition["to"]["id"],
                    "statusCategory": transition["to"]["statusCategory"],
                }
                return 204, None
        return 400, {
            "errorMessages": [f"Transition id '{wanted}' is not valid for this issue."],
            "errors": {},
        }

    def comments_page(self, issue: dict, query: dict) -> tuple[int, Any]:
        comments = issue["fields"]["comment"]["comments"]
        start = int((query.get("startAt") or ["0"])[0])
        size = min(100, int((query.get("maxResults") or ["100"])[0]))
        return 200, {
            "comments": copy.deepcopy(comments[start : start + size]),
            "startAt": start,
            "maxResults": size,
            "total": len(comments),
        }

    def matching(self, jql: str) -> list[dict] | None:
        """The issues a JQL selects, in its order; None when the JQL is not understood."""
        parts = re.split(r"\s+order\s+by\s+", jql.strip(), maxsplit=1, flags=re.IGNORECASE)
        where, order = parts[0], parts[1] if len(parts) > 1 else ""
        if order and not re.fullmatch(r"updated\s+asc(\s*,\s*id\s+asc)?", order.strip(), re.IGNORECASE):
            return None
        tests = []
        for clause in re.split(r"\s+AND\s+", where.strip(), flags=re.IGNORECASE):
            test = self._clause(clause.strip())
            if test is None:
                return None
            tests.append(test)
        issues = [issue for issue in self.issues.values() if all(test(issue) for test in tests)]
        return sorted(issues, key=lambda issue: (issue["fields"]["updated"], int(issue["id"])))

    def _clause(self, clause: str) -> Any:
        match = re.fullmatch(r"project\s*=\s*\"?([A-Z][A-Z0-9_]*)\"?", clause, re.IGNORECASE)
        if match:
            key = match.group(1).upper()
            return lambda issue: issue["fields"]["project"]["key"] == key
        match = re.fullmatch(r"project\s+in\s*\(([^)]*)\)", clause, re.IGNORECASE)
        if match:
            keys = {part.strip().strip('"').upper() for part in match.group(1).split(",") if part.strip()}
            return lambda issue: issue["fields"]["project"]["key"] in keys
        match = re.fullmatch(r"labels\s*=\s*\"([^\"]*)\"", clause, re.IGNORECASE)
        if match:
            label = match.group(1)
            return lambda issue: label in (issue["fields"].get("labels") or [])
        match = re.fullmatch(r"updated\s*>=\s*\"-(\d+)m\"", clause, re.IGNORECASE)
        if match:
            if self.now is None:
                return lambda issue: True
            since = self.now - timedelta(minutes=int(match.group(1)))
            return lambda issue: _jira_time(issue["fields"]["updated"]) >= since
        match = re.fullmatch(
            r"updated\s*>=\s*\"(\d{4}-\d{2}-\d{2})(?: (\d{2}:\d{2}))?\"", clause, re.IGNORECASE
        )
        if match:
            since = datetime.fromisoformat(f"{match.group(1)}T{match.group(2) or '00:00'}:00+00:00")
            return lambda issue: _jira_time(issue["fields"]["updated"]) >= since
        return None

    def search(self, body: Any) -> tuple[int, Any]:
        body = body or {}
        if "startAt" in body or not body.get("jql"):
            return 400, {
                "errorMessages": [
                    "Invalid request payload. Refer to the REST API documentation and try again."
                ]
            }
        issues = self.matching(str(body["jql"]))
        if issues is None:
            return 400, {"errorMessages": ["Invalid JQL. Bad request."], "errors": {}}
        fields = body.get("fields")
        ids_only = fields is not None and set(fields) <= {"id", "key"}
        size = min(int(body.get("maxResults") or 50), 5000 if ids_only else 100)
        token = body.get("nextPageToken")
        offset = 0
        if token is not None:
            if not str(token).startswith("page-"):
                return 400, {"errorMessages": ["Invalid format of nextPageToken"], "errors": {}}
            offset = int(str(token)[5:])
        page = [self._shaped(issue, fields) for issue in issues[offset : offset + size]]
        answer: dict[str, Any] = {"issues": page, "isLast": offset + size >= len(issues)}
        if not answer["isLast"]:
            answer["nextPageToken"] = f"page-{offset + size}"
        return 200, answer

    def _shaped(self, issue: dict, fields: list[str] | None) -> dict:
        """An issue as search returns it: only the fields asked for (``id`` alone for ids only)."""
        if fields is not None and set(fields) <= {"id", "key"}:
            return {name: issue[name] for name in ("id", *fields) if name in issue}
        shaped = copy.deepcopy(issue)
        if fields is not None and "*all" not in fields:
            shaped["fields"] = {name: value for name, value in shaped["fields"].items() if name in fields}
        comment = shaped["fields"].get("comment")
        if self.embedded_comments is not None and isinstance(comment, dict):
            comment["comments"] = comment["comments"][: self.embedded_comments]
            comment["maxResults"] = len(comment["comments"])
        return shaped

    def approximate_count(self, body: Any) -> tuple[int, Any]:
        issues = self.matching(str((body or {}).get("jql") or ""))
        if issues is None:
            return 400, {"errorMessages": ["Invalid JQL. Bad request."], "errors": {}}
        return 200, {"count": len(issues)}


def _jira_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)

"""Jira Cloud REST v3 (and the JSM request API) calls the integration makes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.conf import settings

from integrations.jira.transport import JiraError, Transport

# What reconcile asks of each issue (the search endpoint returns only ``id`` by default).
SEARCH_FIELDS = [
    "summary",
    "description",
    "status",
    "priority",
    "issuetype",
    "project",
    "assignee",
    "reporter",
    "created",
    "updated",
    "labels",
    "components",
    "resolution",
    "comment",
]


def is_configured() -> bool:
    """Outbound calls possible: base URL and credentials set."""
    return bool(settings.JIRA_BASE_URL and settings.JIRA_EMAIL and settings.JIRA_API_TOKEN)


@dataclass
class SearchPage:
    issues: list[dict]
    next_page_token: str | None
    is_last: bool


class JiraClient:
    def __init__(self, transport: Transport | None = None) -> None:
        self.transport = transport or Transport.from_settings()

    # --- issues -------------------------------------------------------------------------
    def create_issue(self, fields: dict[str, Any]) -> dict:
        """``POST /rest/api/3/issue`` → ``{"id", "key", "self"}``."""
        return self.transport.request("POST", "/rest/api/3/issue", json={"fields": fields, "update": {}})

    def get_issue(self, key: str, *, fields: str = "*all") -> dict:
        return self.transport.request("GET", f"/rest/api/3/issue/{quote(key)}", params={"fields": fields})

    def add_comment(self, key: str, body_adf: dict) -> dict:
        """``POST /rest/api/3/issue/{key}/comment`` (201, the comment)."""
        return self.transport.request(
            "POST", f"/rest/api/3/issue/{quote(key)}/comment", json={"body": body_adf}
        )

    def update_comment(self, key: str, comment_id: str, body_adf: dict) -> dict:
        """``PUT /rest/api/3/issue/{key}/comment/{id}`` (200, the comment)."""
        return self.transport.request(
            "PUT", f"/rest/api/3/issue/{quote(key)}/comment/{quote(comment_id)}", json={"body": body_adf}
        )

    def get_transitions(self, key: str) -> list[dict]:
        body = self.transport.request("GET", f"/rest/api/3/issue/{quote(key)}/transitions") or {}
        transitions = body.get("transitions") or []
        return [transition for transition in transitions if isinstance(transition, dict)]

    def transition(self, key: str, transition_id: str, *, fields: dict | None = None) -> None:
        """``POST /rest/api/3/issue/{key}/transitions`` (204, no body)."""
        payload: dict[str, Any] = {"transition": {"id": str(transition_id)}}
        if fields:
            payload["fields"] = fields
        self.transport.request("POST", f"/rest/api/3/issue/{quote(key)}/transitions", json=payload)

    # --- search (token pagination) ------------------------------------------------------
    def search_page(
        self,
        jql: str,
        *,
        fields: list[str] | None = None,
        max_results: int = 50,
        next_page_token: str | None = None,
    ) -> SearchPage:
        """One page of ``POST /rest/api/3/search/jql``; send only documented keys (no startAt)."""
        payload: dict[str, Any] = {"jql": jql, "fields": fields or SEARCH_FIELDS, "maxResults": max_results}
        if next_page_token:
            payload["nextPageToken"] = next_page_token
        body = self.transport.request("POST", "/rest/api/3/search/jql", json=payload) or {}
        issues = [issue for issue in body.get("issues") or [] if isinstance(issue, dict)]
        token = body.get("nextPageToken") or None
        # The last page has no token (absent, not null); isLast says so too.
        is_last = bool(body.get("isLast", token is None)) or token is None
        return SearchPage(issues=issues, next_page_token=token, is_last=is_last)

    def search(
        self, jql: str, *, fields: list[str] | None = None, max_results: int = 50, max_pages: int = 1000
    ) -> Iterator[SearchPage]:
        token: str | None = None
        for _page in range(max_pages):
            page = self.search_page(jql, fields=fields, max_results=max_results, next_page_token=token)
            yield page
            if page.is_last:
                return
            if page.next_page_token == token:
                raise JiraError("Jira returned the same nextPageToken twice; stopping the search.")
            token = page.next_page_token

    def approximate_count(self, jql: str) -> int | None:
        """``POST /rest/api/3/search/approximate-count``: an estimate (for progress), or None."""
        body = self.transport.request("POST", "/rest/api/3/search/approximate-count", json={"jql": jql})
        count = (body or {}).get("count") if isinstance(body, dict) else None
        return count if isinstance(count, int) and count >= 0 else None

    def search_ids(self, jql: str, *, max_results: int = 5000, max_pages: int = 10000) -> Iterator[list[str]]:
        """The ids of the issues matching ``jql``, a page at a time (up to 5000 a page when only
        ``id`` is asked for)."""
        for page in self.search(jql, fields=["id"], max_results=max_results, max_pages=max_pages):
            yield [str(issue["id"]) for issue in page.issues if issue.get("id")]

    def get_comments(self, key: str, *, page_size: int = 100) -> list[dict]:
        """Every comment of an issue: ``GET /rest/api/3/issue/{key}/comment`` (offset pagination,
        ``startAt``/``maxResults``/``total``), with their properties (``sd.public.comment``)."""
        comments: list[dict] = []
        for _page in range(1000):
            body = (
                self.transport.request(
                    "GET",
                    f"/rest/api/3/issue/{quote(key)}/comment",
                    params={"startAt": len(comments), "maxResults": page_size, "expand": "properties"},
                )
                or {}
            )
            page = [comment for comment in body.get("comments") or [] if isinstance(comment, dict)]
            comments.extend(page)
            total = body.get("total")
            if not page or not isinstance(total, int) or len(comments) >= total:
                break
        return comments

    # --- JSM ----------------------------------------------------------------------------
    def get_request_slas(self, key: str, *, limit: int = 50) -> list[dict]:
        """``GET /rest/servicedeskapi/request/{key}/sla``, all pages (``start``/``limit``/``isLastPage``)."""
        values: list[dict] = []
        start = 0
        for _page in range(100):
            body = (
                self.transport.request(
                    "GET",
                    f"/rest/servicedeskapi/request/{quote(key)}/sla",
                    params={"start": start, "limit": limit},
                )
                or {}
            )
            page = [value for value in body.get("values") or [] if isinstance(value, dict)]
            values.extend(page)
            if body.get("isLastPage", True) or not page:
                break
            start += len(page)
        return values

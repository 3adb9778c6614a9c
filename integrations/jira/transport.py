"""HTTP to Jira Cloud: basic auth (email + API token), timeouts, retries and rate limits.

- 5xx, timeouts and connection errors are retried with exponential backoff and jitter.
- 429 (and a 5xx carrying ``Retry-After``) waits the number of seconds Jira asks for; a wait
  longer than ``JIRA_MAX_RETRY_AFTER_SECONDS`` is not slept in-process: ``JiraUnavailable``
  carries it so the worker reschedules the job instead of blocking.
- Errors come back as ``ErrorCollection`` (``errorMessages`` and ``errors``), parsed defensively.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


class JiraError(Exception):
    """Jira answered with an error (or not at all)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_messages: list[str] | None = None,
        errors: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.error_messages = error_messages or []
        self.errors = errors or {}
        super().__init__(message)


class JiraNotConfigured(JiraError):
    """JIRA_BASE_URL, JIRA_EMAIL or JIRA_API_TOKEN is missing."""


class JiraUnavailable(JiraError):
    """Transient: 5xx, 429, timeout, connection refused. Try again later (``retry_after`` seconds)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class JiraAuthError(JiraError):
    """401/403: the email or API token is wrong, or lacks permission. Retried later (an admin fixes it)."""


class JiraBadRequest(JiraError):
    """400/409/413/422: Jira refused this request; sending it again as is will not help."""


class JiraNotFound(JiraError):
    """404: the issue does not exist, or we may not see it."""


def parse_error_body(response: requests.Response) -> tuple[list[str], dict[str, str]]:
    """``{errorMessages: [...], errors: {field: message}}``, either key possibly missing."""
    try:
        body = response.json()
    except ValueError:
        return ([response.text[:300]] if response.text else []), {}
    if not isinstance(body, dict):
        return [], {}
    messages = body.get("errorMessages") or []
    errors = body.get("errors") or {}
    if not isinstance(messages, list):
        messages = [str(messages)]
    if not isinstance(errors, dict):
        errors = {}
    return [str(message) for message in messages], {str(key): str(value) for key, value in errors.items()}


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` is seconds (Jira's documented form) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def describe(status: int, messages: list[str], errors: dict[str, str]) -> str:
    parts = list(messages) + [f"{name}: {text}" for name, text in errors.items()]
    return f"Jira answered {status}" + (": " + "; ".join(parts) if parts else "")


@dataclass
class Transport:
    base_url: str
    email: str
    api_token: str
    timeout: float = 10.0
    max_retries: int = 3
    backoff: float = 1.0
    max_retry_after: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def from_settings(cls, **overrides: Any) -> Transport:
        if not (settings.JIRA_BASE_URL and settings.JIRA_EMAIL and settings.JIRA_API_TOKEN):
            raise JiraNotConfigured(
                "Jira is not configured: set JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN."
            )
        options: dict[str, Any] = {
            "base_url": settings.JIRA_BASE_URL,
            "email": settings.JIRA_EMAIL,
            "api_token": settings.JIRA_API_TOKEN,
            "timeout": settings.JIRA_TIMEOUT_SECONDS,
            "max_retries": settings.JIRA_MAX_RETRIES,
            "backoff": settings.JIRA_BACKOFF_SECONDS,
            "max_retry_after": settings.JIRA_MAX_RETRY_AFTER_SECONDS,
        }
        options.update(overrides)
        return cls(**options)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session.auth = (self.email, self.api_token)
        self.session.headers.update(
            {"Accept": "application/json", "User-Agent": "itsm-platform/1.0 (jira sync)"}
        )

    def backoff_for(self, attempt: int) -> float:
        """Exponential backoff with full jitter, as Atlassian recommends."""
        return self.backoff * (2**attempt) * (0.5 + random.random() / 2)

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        """Send one call; returns the decoded JSON body (``None`` for 204/empty)."""
        url = f"{self.base_url}{path}"
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self.session.request(method, url, json=json, params=params, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as error:
                failure = JiraUnavailable(
                    f"Jira did not answer ({error.__class__.__name__}) for {method} {path}"
                )
            else:
                status = response.status_code
                if status < 400:
                    if status == 204 or not response.content:
                        return None
                    try:
                        return response.json()
                    except ValueError as error:
                        raise JiraUnavailable(
                            f"Jira sent a body that is not JSON for {method} {path}", status=status
                        ) from error
                messages, errors = parse_error_body(response)
                text = describe(status, messages, errors)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if status == 429 or status >= 500:
                    failure = JiraUnavailable(
                        text, status=status, retry_after=retry_after, error_messages=messages, errors=errors
                    )
                elif status in (401, 403):
                    raise JiraAuthError(text, status=status, error_messages=messages, errors=errors)
                elif status == 404:
                    raise JiraNotFound(text, status=status, error_messages=messages, errors=errors)
                else:
                    raise JiraBadRequest(text, status=status, error_messages=messages, errors=errors)
            if attempt >= self.max_retries:
                raise failure
            wait = retry_after if retry_after is not None else self.backoff_for(attempt)
            if wait > self.max_retry_after:
                # Sleeping minutes inside a worker blocks other jobs: let the queue wait instead.
                raise failure
            logger.info("Jira %s %s failed (%s); retrying in %.1fs", method, path, failure, wait)
            self.sleep(wait)
            attempt += 1

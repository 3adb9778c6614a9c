"""The one HTTP client of the AI providers: JSON POSTs with a timeout and retries.

OpenAI-compatible servers (OpenAI, Groq, Ollama, vLLM, llama.cpp server) answer 429 when rate
limited and 5xx when overloaded; both, like a timeout or a refused connection, are worth
another try after a pause. Any other 4xx is our mistake (bad model name, bad key) and is not
retried.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import requests

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


class ProviderUnavailable(Exception):
    """The provider did not give a usable answer (after the retries); callers fall back."""


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str = ""
    timeout: float = 30.0
    retries: int = 2
    backoff: float = 1.0

    def url(self, path: str) -> str:
        """``http://host/v1`` and ``http://host`` both work: ``/v1`` is added when missing."""
        base = self.base_url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        return f"{base}/{path.lstrip('/')}"

    @property
    def host(self) -> str:
        """What /healthz may show: the address without credentials or path."""
        parsed = requests.utils.urlparse(self.base_url)
        return f"{parsed.scheme}://{parsed.hostname}{f':{parsed.port}' if parsed.port else ''}"


def post_json(endpoint: Endpoint, path: str, payload: dict, *, sleep=time.sleep) -> dict:
    """POST ``payload``; retries timeouts, connection errors, 429 and 5xx with exponential backoff."""
    headers = {"Content-Type": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    url = endpoint.url(path)
    attempts = max(0, endpoint.retries) + 1
    last_error = ""
    for attempt in range(attempts):
        if attempt:
            sleep(endpoint.backoff * 2 ** (attempt - 1))
        try:
            response = requests.post(url, json=payload, headers=headers, timeout=endpoint.timeout)
        except (requests.Timeout, requests.ConnectionError) as error:
            last_error = f"{error.__class__.__name__} calling {endpoint.host}"
            logger.warning("AI provider: %s (attempt %s/%s)", last_error, attempt + 1, attempts)
            continue
        if response.status_code in RETRYABLE_STATUSES:
            last_error = f"HTTP {response.status_code} from {endpoint.host}"
            logger.warning("AI provider: %s (attempt %s/%s)", last_error, attempt + 1, attempts)
            continue
        if response.status_code >= 400:
            raise ProviderUnavailable(
                f"HTTP {response.status_code} from {endpoint.host}: {response.text[:200]}"
            )
        try:
            body = response.json()
        except ValueError as error:
            raise ProviderUnavailable(f"{endpoint.host} answered something that is not JSON") from error
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"{endpoint.host} answered an unexpected JSON shape")
        return body
    raise ProviderUnavailable(last_error or f"{endpoint.host} did not answer")

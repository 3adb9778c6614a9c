"""Text generation through an OpenAI-compatible ``/v1/chat/completions`` endpoint, when configured.

Without ``AI_LLM_BASE_URL`` there is no generator and callers use their local extractive path;
with one, a failure after the retries raises ``ProviderUnavailable`` and callers fall back the
same way. Nothing here decides what to say: prompts are built by the feature that asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from ai.providers.http import Endpoint, ProviderUnavailable, post_json


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass
class ChatProvider:
    endpoint: Endpoint
    model: str
    max_tokens: int = 700
    temperature: float = 0.2
    name: str = "openai"
    sleep: Callable[[float], None] | None = field(default=None, repr=False)

    def complete(self, messages: list[Message]) -> str:
        payload = {
            "model": self.model,
            "messages": [message.as_dict() for message in messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": False,
        }
        kwargs = {"sleep": self.sleep} if self.sleep else {}
        body = post_json(self.endpoint, "chat/completions", payload, **kwargs)
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as error:
            raise ProviderUnavailable(
                f"{self.endpoint.host} answered without choices[0].message.content"
            ) from error
        if not isinstance(content, str) or not content.strip():
            raise ProviderUnavailable(f"{self.endpoint.host} answered an empty completion")
        return content.strip()

    def describe(self) -> dict[str, object]:
        return {"provider": self.name, "model": self.model, "url": self.endpoint.host}


def get_generator() -> ChatProvider | None:
    """The configured chat provider, or None: the local extractive path then answers."""
    if not settings.AI_LLM_BASE_URL:
        return None
    endpoint = Endpoint(
        base_url=settings.AI_LLM_BASE_URL,
        api_key=settings.AI_LLM_API_KEY,
        timeout=settings.AI_LLM_TIMEOUT,
        retries=settings.AI_LLM_RETRIES,
        backoff=settings.AI_LLM_RETRY_BACKOFF,
    )
    return ChatProvider(
        endpoint=endpoint,
        model=settings.AI_LLM_MODEL or "default",
        max_tokens=settings.AI_LLM_MAX_TOKENS,
        temperature=settings.AI_LLM_TEMPERATURE,
    )


def describe_generator() -> dict[str, object]:
    generator = get_generator()
    if generator is None:
        return {"provider": "local-extractive", "model": None}
    return generator.describe()

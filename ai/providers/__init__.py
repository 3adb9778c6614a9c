"""AI providers: text embeddings (local MiniLM or an OpenAI-compatible endpoint) and text
generation (an OpenAI-compatible chat endpoint, when configured).

Features ask for what they need through these functions and never construct clients:

- ``embed_texts(texts)`` / ``embed_text(text)``: 384-dimension, L2-normalised vectors.
- ``get_generator()``: a ``ChatProvider`` or ``None`` (no LLM configured: answer extractively);
  ``ChatProvider.complete(messages)`` raises ``ProviderUnavailable`` after its retries.
- ``describe()``: what ``/healthz`` shows.
"""

from ai.providers.embeddings import DIMENSIONS, embed_text, embed_texts, get_embedder
from ai.providers.generation import ChatProvider, Message, describe_generator, get_generator
from ai.providers.http import ProviderUnavailable


def describe() -> dict[str, object]:
    """The providers in use, for ``/healthz`` (no credentials)."""
    try:
        embeddings = get_embedder().describe()
    except ProviderUnavailable as error:
        embeddings = {"error": str(error)}
    return {"embeddings": embeddings, "generation": describe_generator()}


__all__ = [
    "DIMENSIONS",
    "ChatProvider",
    "Message",
    "ProviderUnavailable",
    "describe",
    "embed_text",
    "embed_texts",
    "get_embedder",
    "get_generator",
]

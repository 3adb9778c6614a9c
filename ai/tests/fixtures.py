"""Fixtures shared by the tests of ai (providers) and ai.knowledge."""

import pytest

from ai.tests.fakes import FakeOpenAI


@pytest.fixture(scope="session")
def minilm():
    """The local MiniLM, loaded once for the whole test session (as once per process in production).

    The model is deterministic, so its vectors are remembered per text for the session: tests
    that build the same little corpus do not pay for embedding it again on a busy machine.
    """
    from ai.providers.embeddings import LocalEmbeddings, load_local_model

    model = load_local_model()
    original = LocalEmbeddings.embed
    memory: dict[str, list[float]] = {}

    def embed(self, texts):
        missing = [text for text in dict.fromkeys(texts) if text not in memory]
        if missing:
            memory.update(zip(missing, original(self, missing), strict=True))
        return [list(memory[text]) for text in texts]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalEmbeddings, "embed", embed)
        yield model


@pytest.fixture
def fake_openai():
    server = FakeOpenAI()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def llm(settings, fake_openai):
    """Generation pointed at the fake server, with short timeouts and no pause between retries."""
    settings.AI_LLM_BASE_URL = fake_openai.base_url
    settings.AI_LLM_API_KEY = "sk-test-key"
    settings.AI_LLM_MODEL = "fake-model"
    settings.AI_LLM_TIMEOUT = 0.5
    settings.AI_LLM_RETRIES = 2
    settings.AI_LLM_RETRY_BACKOFF = 0
    return fake_openai

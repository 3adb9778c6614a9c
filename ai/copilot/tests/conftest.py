from ai.tests.fixtures import fake_openai, llm, minilm  # noqa: F401 - fixtures

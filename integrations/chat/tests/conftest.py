import pytest


@pytest.fixture
def fast_chat(settings):
    settings.CHAT_TIMEOUT_SECONDS = 0.5
    settings.CHAT_MAX_ATTEMPTS = 3
    settings.CHAT_BACKOFF_BASE_SECONDS = 30
    settings.CHAT_BACKOFF_MAX_SECONDS = 3600
    return settings

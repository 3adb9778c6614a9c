"""Fixtures shared by the integrations' tests (webhooks, chat, email): fake receivers, fast retries."""

import pytest

from integrations.webhooks.tests.fakes import FakeService, empty_queue


@pytest.fixture
def service():
    """``service(*replies)`` starts a local fake receiver; all are stopped after the test."""
    started: list[FakeService] = []

    def start(*replies):
        fake = FakeService(*replies).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def clean_queue(transactional_db):
    yield
    empty_queue()


@pytest.fixture
def fast_webhooks(settings):
    # Short enough for the tests of a receiver that never answers, long enough for a local
    # fake one to answer on a loaded two-core CI machine (0.5 s timed out there once).
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 30
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    return settings


@pytest.fixture
def fast_chat(settings):
    settings.CHAT_TIMEOUT_SECONDS = 2  # as above
    settings.CHAT_MAX_ATTEMPTS = 3
    settings.CHAT_BACKOFF_BASE_SECONDS = 30
    settings.CHAT_BACKOFF_MAX_SECONDS = 3600
    return settings

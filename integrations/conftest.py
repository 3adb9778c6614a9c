"""Fixtures shared by the integrations' tests (webhooks, chat, email)."""

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

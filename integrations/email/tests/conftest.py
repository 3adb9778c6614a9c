import pytest

from integrations.webhooks.tests.fakes import empty_queue


@pytest.fixture
def clean_queue(transactional_db):
    yield
    empty_queue()

"""Fixtures shared by the ticket tests (the project-wide ones are in the root conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def agent_client(client, agent):
    """Django's test client signed in as the agent."""
    client.force_login(agent)
    return client

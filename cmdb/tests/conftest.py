from __future__ import annotations

import pytest

from cmdb import actions
from cmdb.models import CmdbSettings, ConfigurationItem


@pytest.fixture
def make_item(db):
    """``make_item(name, type="server", **fields)``: an item made through the real action."""

    def make(name: str, type: str = "server", **fields) -> ConfigurationItem:
        return actions.do_create_item(actor=None, name=name, type=type, **fields)

    return make


@pytest.fixture
def estate(db):
    """The items of the labelled extraction set, by name."""
    from cmdb.tests.extraction_cases import ITEMS

    return {values["name"]: actions.do_create_item(actor=None, **values) for values in ITEMS}


@pytest.fixture
def auto_link(db):
    settings_row = CmdbSettings.load()
    settings_row.link_exact_matches = True
    settings_row.save()
    return settings_row

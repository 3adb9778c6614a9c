"""The queue page's filter bar and bulk form, kept in the list cache (itsm/lib/listcache.py)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from itsm.lib import listcache
from itsm.models import Team
from tickets.models import Category, Macro

pytestmark = pytest.mark.django_db

LIST = reverse("tickets:ticket-list")


def cache_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM itsm_cache")
        return cursor.fetchone()[0]


def frame(html: str) -> tuple[str, str]:
    """The filter bar and the bulk form of a queue page."""
    filters = re.search(r'<form class="filters".*?</form>', html, re.S).group(0)
    bulk = re.search(r'<fieldset class="bulk-actions">.*?</fieldset>', html, re.S).group(0)
    return filters, bulk


def page(client, **params) -> str:
    response = client.get(LIST, params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_cached_frame_is_what_the_page_renders_without_the_cache(agent_client, settings, team):
    Category.objects.create(name="Printers")
    settings.LIST_CACHE_SECONDS = 0
    uncached = frame(page(agent_client, status="new", team=str(team.pk), sort="-priority"))
    settings.LIST_CACHE_SECONDS = 300
    stored = frame(page(agent_client, status="new", team=str(team.pk), sort="-priority"))
    with CaptureQueriesContext(connection) as queries:
        served = frame(page(agent_client, status="new", team=str(team.pk), sort="-priority"))
    assert uncached == stored == served
    assert f'<option value="{team.pk}" selected>Service Desk</option>' in served[0]
    assert "Printers" in served[0]
    # Served: no choice list read, one cache read for both forms.
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "tickets_category" not in sql and "tickets_macro" not in sql
    assert sum('FROM "itsm_cache"' in query["sql"] for query in queries.captured_queries) == 1


def test_a_new_or_renamed_team_shows_at_once(agent_client, team, django_capture_on_commit_callbacks):
    page(agent_client)
    with django_capture_on_commit_callbacks(execute=True):
        Team.objects.create(name="Databases")
    filters, bulk = frame(page(agent_client))
    assert "Databases" in filters and "Databases" in bulk
    team.name = "First line"
    team.save()  # the same request-less transaction: the version moved before the commit
    filters, bulk = frame(page(agent_client))
    assert "First line" in filters and "First line" in bulk and "Service Desk" not in filters


def test_categories_agents_and_macros_renew_the_frame(agent_client, agent, other_agent, team):
    page(agent_client)
    Category.objects.create(name="Badges")
    other_agent.full_name = "Carol Renamed"
    other_agent.save()
    Macro.objects.create(name="Reset password", visibility="shared")
    filters, bulk = frame(page(agent_client))
    assert "Badges" in filters
    assert "Carol Renamed" in bulk and "Reset password" in bulk
    Category.objects.filter(name="Badges").delete()
    assert "Badges" not in frame(page(agent_client))[0]


def test_joining_a_team_offers_its_macros(agent_client, agent, other_team):
    Macro.objects.create(name="Network reboot", visibility="team", team=other_team)
    assert "Network reboot" not in frame(page(agent_client))[1]
    other_team.members.add(agent)
    assert "Network reboot" in frame(page(agent_client))[1]


def test_each_agent_gets_their_own_macros(client, agent, other_agent):
    Macro.objects.create(name="Bob own macro", owner=agent)
    Macro.objects.create(name="Carol own macro", owner=other_agent)
    client.force_login(agent)
    assert "Bob own macro" in frame(page(client))[1]
    client.force_login(other_agent)
    bulk = frame(page(client))[1]
    assert "Carol own macro" in bulk and "Bob own macro" not in bulk


def test_a_sign_in_keeps_the_frame(agent_client, agent, rf):
    page(agent_client)
    version = cache.get(listcache.VERSION_KEY)
    user_logged_in.send(sender=type(agent), request=rf.get("/"), user=agent)  # saves last_login
    assert cache.get(listcache.VERSION_KEY) == version


def test_search_words_do_not_fill_the_cache(agent_client):
    page(agent_client, search="printer")
    rows = cache_rows()
    html = page(agent_client, search="scanner on floor 3")
    assert cache_rows() == rows
    assert 'value="scanner on floor 3"' in html


def test_filters_with_errors_are_shown_and_never_kept(agent_client):
    page(agent_client)
    rows = cache_rows()
    html = page(agent_client, created_after="not a date")
    assert "Some filters are not valid" in html
    assert 'class="errorlist"' in frame(html)[0]
    assert cache_rows() == rows  # the bulk form was read from the cache, the filter bar not kept


def test_each_language_has_its_frame(agent_client):
    english = frame(page(agent_client))[0]
    french = frame(agent_client.get(LIST, HTTP_ACCEPT_LANGUAGE="fr").content.decode())[0]
    assert "More filters" in english and "Plus de filtres" in french


def test_a_cache_that_does_not_answer_leaves_the_page_whole(agent_client, team, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_many", down)
    monkeypatch.setattr(cache, "set_many", down)
    filters, bulk = frame(page(agent_client))
    assert "Service Desk" in filters and "Service Desk" in bulk
    assert "list cache is unavailable" in caplog.text


def test_without_the_cache_nothing_is_stored(agent_client, settings):
    settings.LIST_CACHE_SECONDS = 0
    rows = cache_rows()
    frame(page(agent_client))
    assert cache_rows() == rows

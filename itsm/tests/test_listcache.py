"""Choice lists kept in the shared cache (itsm/lib/listcache.py, itsm/lib/choices.py)."""

from __future__ import annotations

import pytest
from django import forms
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itsm.lib import listcache
from itsm.lib.choices import CachedModelChoiceField, ListedModelChoiceField, read_choices
from itsm.models import Role, Team, User

pytestmark = pytest.mark.django_db


def agents():
    return User.objects.filter(role=Role.AGENT, is_active=True).order_by("full_name")


class CachedForm(forms.Form):
    agent = CachedModelChoiceField(queryset=agents(), required=False, empty_label="Nobody")
    team = CachedModelChoiceField(queryset=Team.objects.order_by("name"))


class ListedForm(forms.Form):
    agent = ListedModelChoiceField(queryset=agents(), required=False, empty_label="Nobody")
    team = ListedModelChoiceField(queryset=Team.objects.order_by("name"))


def tables_read(html_of) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        html = html_of()
    return html, [query["sql"] for query in queries.captured_queries]


def test_a_cached_select_is_the_html_of_the_listed_one_and_reads_no_table(
    agent, other_agent, team, other_team
):
    initial = {"agent": other_agent.pk, "team": team.pk}
    listed = str(ListedForm(initial=initial))
    assert str(CachedForm(initial=initial)) == listed  # computed and kept
    html, sql = tables_read(lambda: str(CachedForm(initial=initial)))
    assert html == listed
    assert f'<option value="{other_agent.pk}" selected>Carol Network</option>' in html
    assert not any("itsm_user" in query or "itsm_team" in query for query in sql)
    assert len(sql) == 2 and all('FROM "itsm_cache"' in query for query in sql)  # one read per list


def test_a_change_to_the_rows_shows_at_once(agent, other_agent, team, django_capture_on_commit_callbacks):
    str(CachedForm())
    other_agent.full_name = "Carol Renamed"
    other_agent.save()
    with django_capture_on_commit_callbacks(execute=True):
        Team.objects.create(name="Databases")
    html = str(CachedForm())
    assert "Carol Renamed" in html and "Databases" in html
    agent.is_active = False
    agent.save()
    assert "Bob Agent" not in str(CachedForm())


def test_joining_a_team_renews_the_version_once(agent, other_team):
    before = cache.get(listcache.VERSION_KEY) or listcache._new_version()
    versions = []
    original = listcache._new_version
    listcache_new = lambda: versions.append(1) or original()  # noqa: E731
    try:
        listcache._new_version = listcache_new
        other_team.members.add(agent)
    finally:
        listcache._new_version = original
    assert cache.get(listcache.VERSION_KEY) != before
    assert len(versions) == 1  # post_add only (its on-commit twin waits for a commit)


def test_a_choice_is_still_checked_against_the_table(agent, other_agent, team, settings):
    str(CachedForm())
    # Behind the ORM's back (no signal): the kept list still offers Carol until it expires...
    User.objects.filter(pk=other_agent.pk).update(is_active=False)
    assert "Carol Network" in str(CachedForm())
    # ...but choosing her is refused: validation reads the queryset.
    form = CachedForm({"agent": other_agent.pk, "team": team.pk})
    assert not form.is_valid() and "agent" in form.errors
    form = CachedForm({"agent": agent.pk, "team": team.pk})
    assert form.is_valid() and form.cleaned_data["agent"] == agent


def test_a_sign_in_keeps_the_lists(agent, client):
    str(CachedForm())
    version = cache.get(listcache.VERSION_KEY)
    client.force_login(agent)  # writes last_login
    assert cache.get(listcache.VERSION_KEY) == version


def test_without_the_cache_every_form_reads_its_tables(agent, team, settings):
    settings.LIST_CACHE_SECONDS = 0
    str(CachedForm())
    html, sql = tables_read(lambda: str(CachedForm()))
    assert "Bob Agent" in html
    assert any("itsm_user" in query for query in sql) and not any("itsm_cache" in query for query in sql)


def test_a_cache_that_does_not_answer_costs_only_speed(agent, team, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_many", down)
    monkeypatch.setattr(cache, "set_many", down)
    html = str(CachedForm())
    assert "Bob Agent" in html and "Service Desk" in html
    assert "list cache is unavailable" in caplog.text


def test_an_empty_list_is_falsy_without_a_query_once_kept(team):
    field = CachedForm().fields["agent"]
    field.empty_label = None
    assert not field.choices and len(field.choices) == 0
    _html, sql = tables_read(lambda: bool(field.choices))
    assert all("itsm_user" not in query for query in sql)


def test_a_cache_that_does_not_keep_still_gives_the_lists(agent, team, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise ConnectionError("cache full")

    monkeypatch.setattr(cache, "set_many", down)
    html = str(CachedForm())
    assert "Bob Agent" in html and "Service Desk" in html
    records = [r for r in caplog.records if "not keeping what was computed" in r.getMessage()]
    assert len(records) == 2 and all(r.exc_info[0] is ConnectionError for r in records)  # one a list


def test_a_cache_that_does_not_answer_logs_why(agent, team, monkeypatch, caplog):
    monkeypatch.setattr(cache, "get_many", lambda *args, **kwargs: 1 / 0)
    assert "Bob Agent" in str(CachedForm())
    records = [r for r in caplog.records if "computing without it" in r.getMessage()]
    assert len(records) == 2 and all(r.exc_info[0] is ZeroDivisionError for r in records)


def test_watching_a_relation_then_a_model_watches_both(agent, monkeypatch):
    from django.db.models.signals import post_save

    from tickets.models import Category

    uid = f"listcache.{Category._meta.label_lower}.save"
    post_save.disconnect(sender=Category, dispatch_uid=uid)
    try:
        listcache.watch(Team.members.through, Category)  # the relation first
        version = listcache._new_version()
        Category.objects.create(name="Badges")
        assert cache.get(listcache.VERSION_KEY) != version
    finally:
        listcache.watch(Category)


def test_a_required_select_without_an_empty_choice_reads_its_list_once(agent, team):
    class Required(forms.Form):
        team = CachedModelChoiceField(queryset=Team.objects.order_by("name"), empty_label=None)

    str(Required())
    html, sql = tables_read(lambda: str(Required(initial={"team": team.pk})))
    assert f'<option value="{team.pk}" selected>Service Desk</option>' in html
    assert len(sql) == 1  # the widget looks at the first choice, then renders them all
    form = Required()
    Team.objects.create(name="Databases")  # a new version: the next form reads it
    assert "Databases" in str(Required()) and "Databases" in str(form)


def test_a_named_listing_is_kept_under_its_name_without_compiling_its_query(
    agent, other_agent, team, compiled_models
):
    class Named(forms.Form):
        agent = CachedModelChoiceField(queryset=User.objects.none(), required=False)

        def __init__(self, *args, queryset=None, name="agents", **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["agent"].offer(agents() if queryset is None else queryset, name)

    str(Named())  # kept under its name
    with compiled_models() as compiled:
        html = str(Named(initial={"agent": other_agent.pk}))
    assert f'<option value="{other_agent.pk}" selected>Carol Network</option>' in html
    assert User not in compiled  # neither read nor compiled: its name is the key
    # Another queryset under another name is another list; set directly, a queryset is keyed by its SQL.
    only_bob = User.objects.filter(pk=agent.pk)
    assert "Carol Network" not in str(Named(queryset=only_bob, name="bob"))
    form = Named()
    form.fields["agent"].queryset = only_bob
    assert form.fields["agent"].listing_name is None
    assert "Carol Network" not in str(form) and "Bob Agent" in str(form)


def test_the_lists_of_a_page_are_read_at_once(agent, other_agent, team, other_team):
    initial = {"agent": other_agent.pk, "team": team.pk}
    expected = str(ListedForm(initial=initial))
    str(CachedForm(initial=initial))  # the two lists kept, each on its own
    macros_of = ((agent.pk,), lambda: ["Reset a password", "Close as duplicate"])
    listcache.cached({"ticket-macros": macros_of})  # and the page's own
    forms_ = [CachedForm(initial=initial), CachedForm()]
    with CaptureQueriesContext(connection) as queries:
        more = read_choices(forms_, **{"ticket-macros": macros_of})
    # Two forms of two lists and a list of the page's own: one read of the cache, nothing computed
    # again for the lists kept on their own (``name@tag`` entries share the entries of ``name``).
    assert [query["sql"].split(" WHERE")[0] for query in queries.captured_queries] == [
        'SELECT "cache_key", "value", "expires" FROM "itsm_cache"'
    ]
    assert more == {"ticket-macros": ["Reset a password", "Close as duplicate"]}
    with CaptureQueriesContext(connection) as queries:
        assert str(forms_[0]) == expected
        assert 'value="" selected>Nobody' in str(forms_[1])
    assert queries.captured_queries == []  # the forms render what was read for them

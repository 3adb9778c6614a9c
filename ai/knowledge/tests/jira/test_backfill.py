"""jira_kb_backfill: pages, rate limits, resuming after a failure, ADF, bad input."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from ai.knowledge.management.commands import jira_kb_backfill
from ai.knowledge.models import Chunk, JiraIssue, JiraIssueComment, JiraKnowledgeProject, SourceType
from ai.knowledge.search import hybrid_search
from ai.knowledge.tests.jira.conftest import PROJECT, adf

pytestmark = pytest.mark.django_db

SEARCH = "/rest/api/3/search/jql"


@pytest.fixture
def five_issues(add_resolved):
    return [
        add_resolved(
            number,
            f"Problem number {number}",
            f"Users report problem {number} with the expense tool.",
            f"Fixed problem {number} by clearing the expense cache.",
            updated=f"2025-03-14T10:0{number}:00.000+0000",
        )
        for number in range(1, 6)
    ]


def searched_tokens(fake_jira):
    return [seen.body.get("nextPageToken") for seen in fake_jira.requests_to("POST", SEARCH)]


def test_it_reads_every_page_and_indexes_each_issue_once(kb_project, five_issues, backfill, fake_jira):
    fake_jira.add_issue("ITSUP-1", summary="A ticket project issue")  # not a knowledge project
    output = backfill("--project", PROJECT, "--page-size", "2")
    assert searched_tokens(fake_jira) == [None, "page-2", "page-4"]
    first = fake_jira.requests_to("POST", SEARCH)[0].body
    assert first["jql"] == 'project = "HIST" ORDER BY updated ASC, id ASC'
    assert {"summary", "description", "status", "resolution", "resolutiondate", "comment"} <= set(
        first["fields"]
    )
    assert sorted(JiraIssue.objects.values_list("key", flat=True)) == [f"HIST-{n}" for n in range(1, 6)]
    assert set(
        Chunk.objects.filter(source_type=SourceType.JIRA_ISSUE).values_list("source_id", flat=True)
    ) == {
        70001,
        70002,
        70003,
        70004,
        70005,
    }
    assert "HIST [" in output and "5/5 (100%)" in output  # the progress bar, with Jira's approximate count
    assert "HIST: 5 issues read in 3 page(s), 5 written" in output and "0 skipped, 0 failed" in output
    project = JiraKnowledgeProject.objects.get()
    assert project.cursor_jql == "" and project.backfill_finished_at and project.synced_until

    again = backfill("--project", PROJECT)
    assert "5 issues read in 1 page(s), 0 written, 0 chunks embedded, 5 skipped" in again


def test_it_waits_as_long_as_jira_asks_on_a_rate_limit(
    kb_project, five_issues, backfill, fake_jira, monkeypatch
):
    waits = []
    monkeypatch.setattr(jira_kb_backfill, "pause", waits.append)
    fake_jira.fail("POST", SEARCH, 429, headers={"Retry-After": "17", "X-RateLimit-Remaining": "0"})
    output = backfill("--project", PROJECT, "--page-size", "5")
    assert waits == [17.0]
    assert "Jira asked us to wait: retrying in 17s" in output
    assert JiraIssue.objects.count() == 5


def test_a_rate_limit_longer_than_max_wait_stops_resumably(
    kb_project, five_issues, backfill, fake_jira, monkeypatch
):
    monkeypatch.setattr(jira_kb_backfill, "pause", lambda seconds: None)
    fake_jira.fail("POST", SEARCH, 429, headers={"Retry-After": "3600"})
    with pytest.raises(CommandError, match="--resume"):
        backfill("--project", PROJECT, "--max-wait", "60")
    assert JiraIssue.objects.count() == 0


def test_a_server_error_mid_backfill_then_resume_finishes_without_rereading(
    kb_project,
    five_issues,
    backfill,
    fake_jira,
):
    real_search = fake_jira.search
    calls = {"n": 0}

    def failing_second_page(body):
        calls["n"] += 1
        if body.get("nextPageToken") == "page-2" and calls["n"] <= 4:
            return 500, {"errorMessages": ["Internal server error"], "errors": {}}
        return real_search(body)

    fake_jira.search = failing_second_page
    with pytest.raises(CommandError) as error:
        backfill("--project", PROJECT, "--page-size", "2")
    assert "stopped after 2 issues" in str(error.value) and "--resume" in str(error.value)
    assert "Jira answered 500" in str(error.value)
    project = JiraKnowledgeProject.objects.get()
    assert (project.cursor_token, project.cursor_done) == ("page-2", 2)
    assert "500" in project.last_error
    assert JiraIssue.objects.count() == 2

    output = backfill("--project", PROJECT, "--resume")
    assert "resumed after 2" in output and "3 issues read" in output
    # The first page was read once; the second failed 3 attempts, then the resume read the rest.
    assert searched_tokens(fake_jira) == [None, "page-2", "page-2", "page-2", "page-2"]
    assert JiraIssue.objects.count() == 5
    project.refresh_from_db()
    assert project.cursor_jql == "" and project.last_error == ""


def test_an_expired_cursor_searches_again_from_the_last_issue_done(
    kb_project, five_issues, backfill, fake_jira
):
    JiraKnowledgeProject.objects.filter(pk=kb_project.pk).update(
        cursor_jql='project = "HIST" ORDER BY updated ASC, id ASC',
        cursor_token="CAEaAggD",  # not a token this Jira gave: 400 "Invalid format of nextPageToken"
        cursor_done=3,
        cursor_updated="2025-03-14T10:03:00+00:00",
    )
    output = backfill("--project", PROJECT, "--resume")
    jqls = [seen.body["jql"] for seen in fake_jira.requests_to("POST", SEARCH)]
    assert jqls[0] == 'project = "HIST" ORDER BY updated ASC, id ASC'
    assert 'updated >= "-' in jqls[-1]
    assert "resumed after 3" in output
    assert JiraIssue.objects.count() == 5  # the fake ignores relative windows unless told the time


def test_adf_tables_code_and_mentions_become_searchable_text(kb_project, backfill, fake_jira):
    description = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Reported by "},
                    {"type": "mention", "attrs": {"id": "acc-1", "text": "@Lee Wong"}},
                ],
            },
            {
                "type": "table",
                "content": [
                    {
                        "type": "tableRow",
                        "content": [
                            {
                                "type": "tableCell",
                                "content": [
                                    {"type": "paragraph", "content": [{"type": "text", "text": "Device"}]}
                                ],
                            },
                            {
                                "type": "tableCell",
                                "content": [
                                    {
                                        "type": "paragraph",
                                        "content": [{"type": "text", "text": "ThinkPad T14"}],
                                    }
                                ],
                            },
                        ],
                    }
                ],
            },
            {
                "type": "codeBlock",
                "content": [{"type": "text", "text": "SNCERR_GSSAPI: no credentials\nline two"}],
            },
        ],
    }
    fake_jira.add_issue(
        "HIST-9",
        issue_id="70009",
        summary="SAP logon fails",
        description=description,
        resolution={"name": "Fixed"},
        status="Resolved",
        category="done",
    )
    backfill("--project", PROJECT)
    issue = JiraIssue.objects.get(key="HIST-9")
    assert (
        issue.description
        == "Reported by @Lee Wong\n\nDevice | ThinkPad T14\n\nSNCERR_GSSAPI: no credentials\nline two"
    )
    assert (issue.status, issue.resolution, issue.is_resolved) == ("Resolved", "Fixed", True)
    chunk = Chunk.objects.get(source_type=SourceType.JIRA_ISSUE, source_id=70009)
    assert chunk.title == "HIST-9 SAP logon fails"
    assert "Device | ThinkPad T14" in chunk.text and "SNCERR_GSSAPI" in chunk.text
    assert "Status: Resolved. Resolution: Fixed." in chunk.text


def test_internal_comments_are_stored_apart_and_long_threads_are_read_whole(
    kb_project,
    add_resolved,
    backfill,
    fake_jira,
    agent,
):
    add_resolved(
        1,
        "VPN certificate expired",
        "AnyConnect says certificate validation failure.",
        "Renew the VPN certificate in the self-service portal.",
        internal="Internal: the auto-renewal GPO is broken on remote laptops.",
    )
    for number in range(3):
        fake_jira.add_comment(
            "HIST-1",
            adf(f"Extra note {number}"),
            public=None,
            properties=[{"key": "sd.public.comment", "value": {"internal": True}}],
        )
    fake_jira.embedded_comments = 2  # the search returns 2 of the 5 comments
    backfill("--project", PROJECT)
    assert fake_jira.requests_to("GET", "/rest/api/3/issue/HIST-1/comment")
    comments = JiraIssueComment.objects.filter(issue__key="HIST-1")
    assert comments.count() == 5
    assert sorted(comment.body for comment in comments.filter(internal=False)) == [
        "Renew the VPN certificate in the self-service portal."
    ]
    public = Chunk.objects.filter(source_type=SourceType.JIRA_ISSUE, is_public=True)
    private = Chunk.objects.filter(source_type=SourceType.JIRA_ISSUE, is_public=False)
    assert all("auto-renewal GPO" not in chunk.text and "Extra note" not in chunk.text for chunk in public)
    assert any("auto-renewal GPO" in chunk.text for chunk in private)
    # Agents find the issue by what only the internal note says.
    result = hybrid_search(agent, "auto-renewal GPO broken on remote laptops", k=3, sources=["jira_issue"])
    assert [hit.key for hit in result.hits] == ["HIST-1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--project", "NOPE"), "NOPE is not an enabled Jira knowledge project (configured: HIST)"),
        (("--since", "2025-13-45"), "Invalid --since: '2025-13-45' is not a date"),
        (("--since", "yesterday"), "Invalid --since"),
        (("--since", "2099-01-01"), "since is in the future"),
        (("--since", "2025-01-01", "--resume"), "--since cannot be combined with --resume"),
        (("--page-size", "500"), "--page-size must be from 1 to 100"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_nothing_is_written(
    kb_project,
    five_issues,
    backfill,
    fake_jira,
    args,
    message,
):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        backfill(*args)
    assert fake_jira.requests == []
    assert not JiraIssue.objects.exists() and not Chunk.objects.exists()
    project = JiraKnowledgeProject.objects.get()
    assert project.backfill_started_at is None and project.cursor_jql == ""


def test_without_jira_or_without_a_project_it_says_what_to_configure(settings, db):
    settings.JIRA_BASE_URL = ""
    with pytest.raises(CommandError, match="Jira is not configured"):
        call_command("jira_kb_backfill")
    settings.JIRA_BASE_URL, settings.JIRA_EMAIL, settings.JIRA_API_TOKEN = "http://127.0.0.1:9", "a@b.c", "t"
    with pytest.raises(CommandError, match="No Jira knowledge project is enabled"):
        call_command("jira_kb_backfill")
    JiraKnowledgeProject.objects.create(key="OFF", enabled=False)
    with pytest.raises(CommandError, match="OFF is not an enabled Jira knowledge project"):
        call_command("jira_kb_backfill", "--project", "off")


def test_a_second_backfill_of_the_same_project_is_refused_while_one_runs(kb_project, five_issues, backfill):
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:  # another process (the worker) holds the project's backfill
            cursor.execute("SELECT pg_advisory_lock(hashtextextended('kb-jira-backfill:HIST', 0))")
        with pytest.raises(CommandError, match="A backfill of HIST is running already"):
            backfill("--project", PROJECT)
        assert not JiraIssue.objects.exists()
        with other.cursor() as cursor:  # the worker finishes; unlocking answers once the lock is free
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended('kb-jira-backfill:HIST', 0))")
    finally:
        other.close()  # a closed backend lets go of its locks only as it exits, a moment later
    assert "5 issues read" in backfill("--project", PROJECT)

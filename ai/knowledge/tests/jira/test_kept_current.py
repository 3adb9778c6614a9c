"""Knowledge issues kept current: webhooks (issue and comment events) in the worker, even for a
project no ticket is synchronised with, and the periodic reconcile by ``updated``."""

import copy
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from ai.knowledge.jira.sync import reconcile_due_projects
from ai.knowledge.models import Chunk, JiraIssue, JiraIssueComment, JiraKnowledgeProject, SourceType
from ai.knowledge.search import hybrid_search
from ai.knowledge.tests.jira.conftest import PROJECT, adf
from integrations.jira.models import WebhookReceipt
from integrations.jira.tests.fakejira import fixture
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

APPLY = "ai.knowledge.tasks.apply_jira_delivery"
INDEX = "ai.knowledge.tasks.index_source"


def in_project(name, project=PROJECT, **fields):
    """A contract delivery moved to ``project`` (issue 10042 becomes PROJECT-42)."""
    data = copy.deepcopy(fixture(name))
    data["issue"]["key"] = f"{project}-42"
    data["issue"]["fields"]["project"] = {"key": project, "id": "10100"}
    data["issue"]["fields"].update(fields)
    return data


@pytest.fixture
def worker(process, run_jobs, django_capture_on_commit_callbacks, minilm):
    """Runs what the worker would after deliveries: the Jira receipts, the knowledge jobs they
    queued, and the index jobs queued after those commit."""

    def run():
        outcomes = process()
        with django_capture_on_commit_callbacks(execute=True):
            applied = run_jobs(APPLY)
        run_jobs(INDEX)
        return outcomes, applied

    return run


def jira_keys(user, query, **options):
    return [hit.key for hit in hybrid_search(user, query, sources=["jira_issue"], **options).hits]


def test_a_knowledge_only_project_is_stored_and_indexed_never_ticketed(kb_project, deliver, worker, agent):
    response = deliver(in_project("jira-webhook-issue-created.json"))
    assert response.status_code == 202
    receipt = WebhookReceipt.objects.get()
    assert receipt.for_tickets is False
    outcomes, applied = worker()
    assert [outcome.result for outcome in outcomes] == ["listeners"]
    assert applied == ["created HIST-42"]
    assert Ticket.objects.count() == 0
    issue = JiraIssue.objects.get(key="HIST-42")
    assert issue.description.startswith("Users on floor 3 cannot connect to the VPN")  # from wiki markup
    assert jira_keys(agent, "VPN times out on floor 3") == ["HIST-42"]


def test_other_projects_are_still_refused(kb_project, deliver):
    assert deliver(in_project("jira-webhook-issue-created.json", project="PAY")).status_code == 403


def test_comments_created_updated_and_deleted_refresh_the_chunks(kb_project, deliver, worker, agent):
    deliver(in_project("jira-webhook-issue-created.json"))
    deliver(in_project("jira-webhook-comment-created.json"))
    deliver(in_project("jira-webhook-comment-created-internal.json"))
    worker()
    texts = {chunk.is_public: chunk.text for chunk in Chunk.objects.filter(source_type=SourceType.JIRA_ISSUE)}
    assert "restarting the VPN concentrator now! ETA 15 min" in texts[True]
    assert "vpn-gw-2 has a bad certificate" in texts[False]
    assert "vpn-gw-2" not in texts[True]

    deliver(in_project("jira-webhook-comment-updated.json"))
    worker()
    public = Chunk.objects.get(source_type=SourceType.JIRA_ISSUE, is_public=True).text
    updated_body = fixture("jira-webhook-comment-updated.json")["comment"]["body"].split("\\")[0].strip()
    assert updated_body[:30] in public

    deliver(in_project("jira-webhook-comment-deleted.json"))
    worker()
    assert "concentrator" not in Chunk.objects.get(source_type=SourceType.JIRA_ISSUE, is_public=True).text
    assert JiraIssueComment.objects.get(pk=10310).deleted_at is not None
    # A late redelivery of the creation does not bring the deleted comment back.
    deliver(in_project("jira-webhook-comment-created.json"), identifier="late-redelivery")
    worker()
    assert JiraIssueComment.objects.get(pk=10310).body == ""


def test_an_issue_deleted_in_jira_disappears_from_results(kb_project, deliver, worker, agent):
    deliver(in_project("jira-webhook-issue-created.json"))
    worker()
    assert jira_keys(agent, "VPN times out on floor 3") == ["HIST-42"]
    deliver(in_project("jira-webhook-issue-deleted.json"))
    worker()
    assert jira_keys(agent, "VPN times out on floor 3") == []
    assert not Chunk.objects.filter(source_type=SourceType.JIRA_ISSUE).exists()
    issue = JiraIssue.objects.get(pk=10042)
    assert issue.deleted_at is not None and issue.description == ""
    # An update delivered late changes nothing: the tombstone holds.
    deliver(in_project("jira-webhook-issue-updated.json"), identifier="late-update")
    worker()
    assert jira_keys(agent, "VPN times out on floor 3") == []


def test_an_older_update_than_the_one_held_changes_nothing(kb_project, deliver, worker):
    deliver(
        in_project(
            "jira-webhook-issue-updated.json",
            summary="Newest summary",
            updated="2025-03-14T12:00:00.000+0000",
        )
    )
    deliver(
        in_project(
            "jira-webhook-issue-updated.json", summary="Older summary", updated="2025-03-14T09:00:00.000+0000"
        )
    )
    worker()
    assert JiraIssue.objects.get().summary == "Newest summary"


def test_a_comment_on_an_unknown_issue_reads_the_whole_issue(kb_project, deliver, worker, fake_jira):
    fake_jira.add_issue(
        f"{PROJECT}-42",
        issue_id="10042",
        summary="VPN connection times out",
        description=adf("Full ADF description from REST."),
        status="Resolved",
        category="done",
        resolution={"name": "Done"},
    )
    fake_jira.add_comment(f"{PROJECT}-42", adf("Earlier public answer."), public=True)
    deliver(in_project("jira-webhook-comment-created.json"))
    worker()
    assert fake_jira.requests_to("GET", f"/rest/api/3/issue/{PROJECT}-42")
    issue = JiraIssue.objects.get()
    assert (issue.description, issue.resolution) == ("Full ADF description from REST.", "Done")
    assert sorted(comment.body[:20] for comment in issue.comments.all()) == [
        "Earlier public answe",
        "Hi Sam, we are resta",
    ]


def test_a_project_synced_to_tickets_and_used_as_knowledge_gets_both_and_appears_once(
    deliver, worker, agent, django_capture_on_commit_callbacks, run_jobs
):
    JiraKnowledgeProject.objects.create(key="ITSUP")
    deliver(in_project("jira-webhook-issue-created.json", project="ITSUP"))
    resolved = in_project(
        "jira-webhook-issue-updated.json",
        project="ITSUP",
        status={"name": "Resolved", "statusCategory": {"key": "done"}},
        resolution={"name": "Done"},
        updated="2025-03-14T12:00:00.000+0000",
    )
    deliver(resolved)
    with django_capture_on_commit_callbacks(execute=True):
        worker()
    ticket = Ticket.objects.get(external_key="ITSUP-42")
    assert ticket.status == "resolved"
    run_jobs(INDEX)  # the resolved ticket's own index job
    assert Chunk.objects.filter(source_type=SourceType.TICKET, source_id=ticket.pk).exists()
    assert Chunk.objects.filter(source_type=SourceType.JIRA_ISSUE, source_id=10042).exists()
    hits = hybrid_search(agent, "VPN connection times out for users on floor 3", k=10).hits
    same = [hit for hit in hits if hit.key == "ITSUP-42" or hit.source_id in (ticket.pk, 10042)]
    assert len(same) == 1
    (hit,) = same
    assert hit.key == "ITSUP-42" and hit.status == "Resolved" and hit.resolution == "Done"
    assert (
        hit.source_type == "jira_issue"
        and hit.linked_ticket_id == ticket.pk
        or (hit.source_type == "ticket" and hit.source_id == ticket.pk)
    )


def test_the_reconcile_reads_what_changed_since_the_last_run_and_forgets_deleted_issues(
    kb_project, add_resolved, backfill, fake_jira, settings, agent
):
    settings.JIRA_KB_RECONCILE_INTERVAL_SECONDS = 900
    add_resolved(1, "Excel crashes on start", "Excel closes at start.", "Disable the PDF add-in.")
    add_resolved(2, "Printer queue stuck", "Jobs wait in the queue.", "Restart the spooler.")
    backfill("--project", PROJECT)
    project = JiraKnowledgeProject.objects.get()
    now = project.synced_until + timedelta(minutes=20)
    fake_jira.now = now
    fake_jira.issues[f"{PROJECT}-1"]["fields"].update(
        summary="Excel crashes when the PDF add-in loads",
        updated=(now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    )
    fake_jira.delete_issue(f"{PROJECT}-2")  # its deletion webhook was missed
    JiraIssue.objects.update(fetched_at=timezone.now() - timedelta(hours=2))

    with time_machine.travel(now, tick=False):
        outcome = reconcile_due_projects(now=now)

    assert outcome[PROJECT]["read"] == 1 and outcome[PROJECT]["removed"] == 1
    window = fake_jira.requests_to("POST", "/rest/api/3/search/jql")[-2].body["jql"]
    assert window.startswith('project = "HIST" AND updated >= "-') and window.endswith(
        "ORDER BY updated ASC, id ASC"
    )
    assert JiraIssue.objects.get(key=f"{PROJECT}-1").summary == "Excel crashes when the PDF add-in loads"
    assert not JiraIssue.objects.filter(key=f"{PROJECT}-2").exists()
    assert f"{PROJECT}-2" not in jira_keys(agent, "printer queue stuck spooler")
    project.refresh_from_db()
    assert project.synced_until > now - timedelta(minutes=1)
    # Not due again before the interval has passed.
    assert reconcile_due_projects(now=now + timedelta(minutes=1)) == {}


def test_the_reconcile_waits_for_a_first_load_and_can_be_turned_off(kb_project, fake_jira, settings):
    settings.JIRA_KB_RECONCILE_INTERVAL_SECONDS = 900
    assert reconcile_due_projects() == {}  # never loaded: the backfill comes first
    settings.JIRA_KB_RECONCILE_INTERVAL_SECONDS = 0
    assert reconcile_due_projects() == {"status": "disabled"}
    assert fake_jira.requests == []


def test_a_disabled_project_leaves_search_at_once_and_its_chunks_go(
    kb_project, add_resolved, backfill, agent, run_jobs, django_capture_on_commit_callbacks
):
    add_resolved(1, "Excel crashes on start", "Excel closes at start.", "Disable the PDF add-in.")
    backfill("--project", PROJECT)
    assert jira_keys(agent, "Excel crashes") == ["HIST-1"]
    project = JiraKnowledgeProject.objects.get()
    project.enabled = False
    with django_capture_on_commit_callbacks(execute=True):
        project.save()
    assert jira_keys(agent, "Excel crashes") == []
    assert run_jobs("ai.knowledge.tasks.index_jira_project") == [{"issues": 1, "embedded": 0, "deleted": 1}]
    assert not Chunk.objects.filter(source_type=SourceType.JIRA_ISSUE).exists()
    project.enabled = True
    with django_capture_on_commit_callbacks(execute=True):
        project.save()
    assert run_jobs("ai.knowledge.tasks.index_jira_project")[0]["embedded"] >= 1
    assert jira_keys(agent, "Excel crashes") == ["HIST-1"]

"""The generated corpus of resolved issues (fake Jira data for the knowledge benchmark) is
deterministic and shaped like Jira Cloud's issues."""

from integrations.jira.mapper import IssueView, is_internal_comment, rich_to_text
from integrations.jira.tests.corpus import FAMILIES, generate_issues, generate_new_tickets


def test_the_same_seed_gives_the_same_corpus_and_another_seed_another():
    first, families = generate_issues(240)
    again, _ = generate_issues(240)
    assert first == again
    assert generate_issues(240, seed=99)[0] != first
    assert generate_new_tickets() == generate_new_tickets()
    assert len(first) == 240 and set(families.values()) == {family.name for family in FAMILIES}


def test_issues_are_resolved_jsm_incidents_with_rich_adf_and_an_internal_note():
    issues, families = generate_issues(len(FAMILIES))
    for issue in issues:
        view = IssueView.parse(issue)
        assert view.status_category == "done" and view.resolution
        kinds = {node["type"] for node in issue["fields"]["description"]["content"]}
        assert {"paragraph", "bulletList", "table", "codeBlock"} <= kinds
        assert "@" in view.description and " | " in view.description  # a mention, a table row
        comments = view.comments
        assert [is_internal_comment(comment) for comment in comments] == [False, True, False]
        fix = rich_to_text(comments[-1]["body"])
        family = next(family for family in FAMILIES if family.name == families[view.key])
        assert all(step in fix for step in family.fix_steps)


def test_new_tickets_do_not_reuse_the_issues_words():
    issues, _ = generate_issues(len(FAMILIES))
    summaries = {issue["fields"]["summary"].lower() for issue in issues}
    for ticket in generate_new_tickets():
        assert ticket.title.lower() not in summaries
        assert ticket.family in {family.name for family in FAMILIES}

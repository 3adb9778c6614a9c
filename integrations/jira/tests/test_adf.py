"""ADF ⇄ text, and the wiki markup of webhook bodies, against the contracts' examples."""

import json

import pytest

from integrations.jira.adf import adf_to_text, text_to_adf, wiki_to_text
from integrations.jira.tests.fakejira import fixture

CASES = fixture("adf-examples.json")["cases"]


def text_nodes(node):
    if isinstance(node, dict):
        if node.get("type") == "text":
            yield node
        for child in node.get("content") or []:
            yield from text_nodes(child)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_it_renders_every_contract_example(case):
    assert adf_to_text(case["adf"]) == case["expected_text"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_it_round_trips_the_contract_examples(case):
    text = adf_to_text(case["adf"], link_urls=True)
    document = text_to_adf(text)
    assert adf_to_text(document, link_urls=True) == text
    assert document["type"] == "doc" and document["version"] == 1
    assert all(node["text"] for node in text_nodes(document)), "ADF forbids empty text nodes"


def test_it_keeps_headings_lists_code_links_and_mentions_readable():
    text = (
        "## Steps\n\n1. Open the VPN client\n2. Click Connect\n\n- floor 3 only\n\n"
        "```text\nERR_TIMEOUT after 30s\n\nretry\n```\n\n@Alex Agent see https://status.example.com/42."
    )
    document = text_to_adf(text)
    kinds = [block["type"] for block in document["content"]]
    assert kinds == ["heading", "orderedList", "bulletList", "codeBlock", "paragraph"]
    assert document["content"][0]["attrs"] == {"level": 2}
    assert document["content"][3]["content"][0]["text"] == "ERR_TIMEOUT after 30s\n\nretry"
    link = [node for node in text_nodes(document) if node.get("marks")][0]
    assert link["text"] == "https://status.example.com/42"
    assert link["marks"] == [{"type": "link", "attrs": {"href": "https://status.example.com/42"}}]
    assert adf_to_text(document) == (
        "Steps\n\n1. Open the VPN client\n2. Click Connect\n\n- floor 3 only\n\nERR_TIMEOUT after 30s\n\nretry\n\n"
        "@Alex Agent see https://status.example.com/42."
    )


def test_it_renders_link_targets_when_asked():
    document = fixture("adf-examples.json")["cases"][3]["adf"]
    assert adf_to_text(document, link_urls=True) == "Hello world see docs (https://example.com/docs)"


def test_an_empty_text_gives_an_empty_document():
    assert text_to_adf("") == {"version": 1, "type": "doc", "content": []}
    assert text_to_adf("\n\n  \n") == {"version": 1, "type": "doc", "content": []}


def test_it_survives_unknown_and_malformed_nodes():
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "mysteryBlock",
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "inside"}]}],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "mysteryInline", "attrs": {}, "content": [{"type": "text", "text": "deep"}]},
                    "not a node",
                    {"type": "text"},
                ],
            },
            {
                "type": "orderedList",
                "attrs": {"order": "x"},
                "content": [
                    {
                        "type": "listItem",
                        "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": "one"}]},
                            {
                                "type": "bulletList",
                                "content": [
                                    {
                                        "type": "listItem",
                                        "content": [
                                            {
                                                "type": "paragraph",
                                                "content": [{"type": "text", "text": "nested"}],
                                            }
                                        ],
                                    }
                                ],
                            },
                        ],
                    }
                ],
            },
            {
                "type": "table",
                "content": [
                    {
                        "type": "tableRow",
                        "content": [
                            {
                                "type": "tableHeader",
                                "content": [
                                    {"type": "paragraph", "content": [{"type": "text", "text": "a"}]}
                                ],
                            },
                            {
                                "type": "tableCell",
                                "content": [
                                    {"type": "paragraph", "content": [{"type": "text", "text": "b"}]}
                                ],
                            },
                        ],
                    }
                ],
            },
        ],
    }
    assert adf_to_text(document) == "inside\n\ndeep\n\n1. one\n   - nested\n\na | b"
    assert adf_to_text(None) == ""
    assert adf_to_text({"type": "doc", "content": "nope"}) == ""


def test_it_reads_the_wiki_markup_of_webhook_descriptions():
    description = fixture("jira-webhook-issue-updated.json")["issue"]["fields"]["description"]
    assert wiki_to_text(description) == (
        "Users on floor 3 cannot connect to the VPN since 09:00.\n\nSteps to reproduce\n"
        "1. Open the VPN client\n2. Click Connect\n3. Observe ERR_TIMEOUT after 30s\n\n"
        "See status page (https://status.example.com) for details."
    )


def test_it_reads_the_wiki_markup_of_webhook_comments():
    body = fixture("jira-webhook-comment-created.json")["comment"]["body"]
    assert wiki_to_text(body) == (
        "Hi Sam, we are restarting the VPN concentrator now! ETA 15 min.\n\nWorkaround: use the guest Wi-Fi."
    )


def test_it_reads_wiki_blocks_tables_and_mentions():
    markup = (
        "h2. Title\n* a\n** b\n* c\n{code:java}\nx = *y*;\n{code}\n||h1||h2||\n|a|b|\n"
        "line\\\\break [~accountid:5b10] _it_ snake_case_name {color:red}red{color}"
    )
    assert wiki_to_text(markup, mention=lambda account: "@Alex") == (
        "Title\n- a\n  - b\n- c\nx = *y*;\nh1 | h2\na | b\nline\nbreak @Alex it snake_case_name red"
    )


def test_a_plain_text_round_trip_through_jira_wiki_rendering_is_stable():
    # What Jira sends back for a description we pushed: wiki markup with escapes.
    ours = "Printer jammed!\n\n- tray 2\n- tray 3"
    jira_rendering = "Printer jammed\\!\n\n* tray 2\n* tray 3"
    assert wiki_to_text(jira_rendering) == ours
    assert json.dumps(text_to_adf(ours))  # serialisable as sent

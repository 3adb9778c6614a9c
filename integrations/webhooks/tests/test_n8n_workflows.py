"""The n8n workflows in docs/n8n/: valid exports, with the source-verified parameter names of the
contracts, wired correctly, and reading fields our webhook bodies really carry."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings

from integrations.webhooks.actions import render_body
from integrations.webhooks.events import Event
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from problems.models import Problem
from problems.signals import problem_detected

WORKFLOWS = sorted((Path(settings.BASE_DIR) / "docs" / "n8n").glob("*.json"))
TYPE_VERSIONS = {
    "n8n-nodes-base.webhook": {2},
    "n8n-nodes-base.if": {2.2},
    "n8n-nodes-base.httpRequest": {4.2},
    "n8n-nodes-base.emailSend": {2.1},
}
# Parameter names from the n8n sources named in shared/contracts (§4.2, §4.3) and EmailSend v2.
PARAMETERS = {
    "n8n-nodes-base.webhook": {
        "httpMethod",
        "path",
        "authentication",
        "responseMode",
        "responseCode",
        "options",
    },
    "n8n-nodes-base.if": {"conditions", "options"},
    "n8n-nodes-base.httpRequest": {
        "method",
        "url",
        "authentication",
        "genericAuthType",
        "nodeCredentialType",
        "sendQuery",
        "specifyQuery",
        "queryParameters",
        "jsonQuery",
        "sendHeaders",
        "specifyHeaders",
        "headerParameters",
        "jsonHeaders",
        "sendBody",
        "contentType",
        "specifyBody",
        "bodyParameters",
        "jsonBody",
        "options",
    },
    "n8n-nodes-base.emailSend": {
        "resource",
        "operation",
        "fromEmail",
        "toEmail",
        "subject",
        "emailFormat",
        "text",
        "html",
        "options",
    },
}
# A field path, stopping before a method call (".incidents.map(…)" reads "incidents").
BODY_REFERENCE = re.compile(
    r"(\$json|\$\('ITSM event'\)\.item\.json)\.body((?:\.[a-z_]+(?![A-Za-z_(])|\[\d+\])+)"
)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def nodes_by_name(workflow: dict) -> dict[str, dict]:
    return {node["name"]: node for node in workflow["nodes"]}


def test_there_are_the_two_workflows():
    assert [path.name for path in WORKFLOWS] == [
        "critical-ticket-detector.json",
        "problem-launch-notifier.json",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_it_is_a_valid_n8n_export(path):
    workflow = load(path)
    assert {"name", "nodes", "connections", "settings"} <= set(workflow)
    assert workflow["settings"]["executionOrder"] == "v1"
    names = [node["name"] for node in workflow["nodes"]]
    ids = [node["id"] for node in workflow["nodes"]]
    assert len(set(names)) == len(names)
    assert len(set(ids)) == len(ids)
    for node in workflow["nodes"]:
        assert node["type"] in TYPE_VERSIONS, node["type"]
        assert node["typeVersion"] in TYPE_VERSIONS[node["type"]]
        assert set(node["parameters"]) <= PARAMETERS[node["type"]], (node["name"], set(node["parameters"]))
        assert len(node["position"]) == 2


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_it_is_wired_from_our_webhook_to_every_node(path):
    workflow = load(path)
    nodes = nodes_by_name(workflow)
    (trigger,) = [n for n in workflow["nodes"] if n["type"] == "n8n-nodes-base.webhook"]
    assert trigger["parameters"]["httpMethod"] == "POST"
    assert trigger["parameters"]["authentication"] == "headerAuth"
    assert "httpHeaderAuth" in trigger["credentials"]
    assert trigger["webhookId"]
    reached, frontier = {trigger["name"]}, [trigger["name"]]
    for source, outputs in workflow["connections"].items():
        assert source in nodes
        for output in outputs["main"]:
            for link in output:
                assert link["node"] in nodes and link["type"] == "main" and link["index"] == 0
    while frontier:
        for output in workflow["connections"].get(frontier.pop(), {}).get("main", []):
            for link in output:
                if link["node"] not in reached:
                    reached.add(link["node"])
                    frontier.append(link["node"])
    assert reached == set(nodes)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_calls_to_our_api_use_a_token_header_and_v4_parameter_names(path):
    workflow = load(path)
    api_calls = [
        n
        for n in workflow["nodes"]
        if n["type"] == "n8n-nodes-base.httpRequest" and "/api/" in n["parameters"]["url"]
    ]
    assert api_calls
    for node in api_calls:
        parameters = node["parameters"]
        assert parameters["authentication"] == "genericCredentialType"
        assert parameters["genericAuthType"] == "httpHeaderAuth"
        assert "httpHeaderAuth" in node["credentials"]
        assert parameters["method"] in {"GET", "POST"}
        assert "requestMethod" not in parameters and "specifyBodyType" not in parameters
        if parameters["method"] == "POST":
            assert parameters["url"].endswith("/comments/")
            body = json.loads(fill_expressions(parameters["jsonBody"]))
            assert body["internal"] is True and body["body"]
    emails = [n for n in workflow["nodes"] if n["type"] == "n8n-nodes-base.emailSend"]
    assert len(emails) == 1 and "smtp" in emails[0]["credentials"]
    assert emails[0]["parameters"]["emailFormat"] == "text"


def fill_expressions(template: str) -> str:
    """A JSON body template with n8n expressions replaced by sample values."""
    text = template[1:] if template.startswith("=") else template
    text = re.sub(r"\{\{\s*JSON\.stringify\(.*?\)\s*\}\}", '"sample"', text)
    return re.sub(r"\{\{.*?\}\}", "sample", text)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_it_posts_an_adaptive_card_in_the_teams_workflows_envelope(path):
    (teams,) = [n for n in load(path)["nodes"] if "logic.azure.com" in n["parameters"].get("url", "")]
    card = json.loads(fill_expressions(teams["parameters"]["jsonBody"]))
    assert card["type"] == "message"
    (attachment,) = card["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard"
    assert attachment["content"]["version"] == "1.4"


@pytest.fixture
def real_bodies(db, make_ticket):
    """The bodies our webhooks send for the events the workflows receive."""
    subscription = WebhookSubscription.objects.create(
        name="n8n", url="http://127.0.0.1:9/", events=[str(e) for e in Event]
    )
    incidents = [make_ticket(f"Wi-Fi drops {n}", impact="high", urgency="high") for n in range(3)]
    problem = Problem.objects.create(title="Recurring: Wi-Fi drops")
    problem_detected.send(sender=Problem, problem=problem, incidents=incidents, trace_id="")
    bodies = {}
    for delivery in WebhookDelivery.objects.filter(subscription=subscription):
        import uuid

        bodies[delivery.event] = json.loads(render_body(delivery, run_id=uuid.uuid4(), attempt=1))
    return bodies


def resolve(body: dict, path: str) -> object:
    value: object = body
    for step in re.findall(r"\.([a-z_]+)|\[(\d+)\]", path):
        key, index = step
        value = value[key] if key else value[int(index)]
    return value


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_field_the_workflow_reads_is_in_our_webhook_body(path, real_bodies):
    workflow = load(path)
    nodes = nodes_by_name(workflow)
    (event,) = {
        c["rightValue"]
        for n in workflow["nodes"]
        if n["type"] == "n8n-nodes-base.if"
        for c in n["parameters"]["conditions"]["conditions"]
        if c["id"] == "event"
    }
    assert event in Event.values
    body = real_bodies[event]
    # $json.body is the webhook item only up to the first HTTP call; later nodes name the trigger.
    passthrough = {"ITSM event"} | {n for n in nodes if nodes[n]["type"] == "n8n-nodes-base.if"}
    direct = {
        link["node"]
        for source in passthrough
        for output in workflow["connections"].get(source, {}).get("main", [])
        for link in output
    }
    references = 0
    for node in workflow["nodes"]:
        for match in BODY_REFERENCE.finditer(json.dumps(node["parameters"])):
            kind, field_path = match.groups()
            if kind == "$json":
                assert node["name"] in direct, f"{node['name']} reads $json.body after an HTTP call"
            resolve(body, field_path)  # KeyError/IndexError when the field does not exist
            references += 1
    assert references >= 8
    assert body["event"] == event


def evaluate(template: str, body: dict) -> str:
    """n8n's rendering of a template whose expressions only read fields of our webhook body."""
    text = template[1:] if template.startswith("=") else template

    def value(match: re.Match) -> str:
        expression = match.group(1).strip()
        reference = BODY_REFERENCE.fullmatch(expression)
        assert reference, f"not a plain field reference: {expression}"
        return str(resolve(body, reference.group(2)))

    return re.sub(r"\{\{(.*?)\}\}", value, text)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_its_calls_back_to_our_api_work_with_an_agent_token(path, real_bodies, agent, api_for):
    workflow = load(path)
    (event,) = {
        c["rightValue"]
        for n in workflow["nodes"]
        if n["type"] == "n8n-nodes-base.if"
        for c in n["parameters"]["conditions"]["conditions"]
        if c["id"] == "event"
    }
    body = real_bodies[event]
    client = api_for(agent)  # n8n's httpHeaderAuth credential: Authorization: Token <key>
    calls = [
        n
        for n in workflow["nodes"]
        if n["type"] == "n8n-nodes-base.httpRequest" and "/api/" in n["parameters"]["url"]
    ]
    for node in calls:
        parameters = node["parameters"]
        url = evaluate(parameters["url"], body).replace("https://itsm.example.com", "")
        if parameters["method"] == "GET":
            response = client.get(url)
            assert response.status_code == 200, (url, response.content[:300])
        else:
            payload = json.loads(evaluate(parameters["jsonBody"], body))
            response = client.post(url, payload, format="json")
            assert response.status_code == 201, (url, response.content[:300])
            comment = response.json()
            assert comment["internal"] is True
            assert comment["body"].startswith("n8n: ")

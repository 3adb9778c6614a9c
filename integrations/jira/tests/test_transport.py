"""The Jira client against a fake Jira: auth, errors, retries, Retry-After, timeouts, pagination."""

import pytest

from integrations.jira.client import JiraClient
from integrations.jira.tests.fakejira import EMAIL, TOKEN
from integrations.jira.transport import (
    JiraAuthError,
    JiraBadRequest,
    JiraNotConfigured,
    JiraNotFound,
    JiraUnavailable,
    Transport,
    parse_retry_after,
)


@pytest.fixture
def slept():
    return []


@pytest.fixture
def transport(fake_jira, slept):
    return Transport(
        base_url=fake_jira.url,
        email=EMAIL,
        api_token=TOKEN,
        timeout=2,
        max_retries=3,
        backoff=1.0,
        max_retry_after=60,
        sleep=slept.append,
    )


def test_it_sends_basic_auth_and_reads_json(fake_jira, transport):
    fake_jira.add_issue("ITSUP-1", summary="Printer")
    issue = JiraClient(transport).get_issue("ITSUP-1")
    assert issue["fields"]["summary"] == "Printer"
    assert fake_jira.requests[0].headers["Authorization"].startswith("Basic ")


def test_wrong_credentials_raise_an_auth_error_without_retrying(fake_jira, slept):
    transport = Transport(base_url=fake_jira.url, email=EMAIL, api_token="wrong", sleep=slept.append)
    with pytest.raises(JiraAuthError) as error:
        transport.request("GET", "/rest/api/3/issue/ITSUP-1")
    assert error.value.status == 401
    assert len(fake_jira.requests) == 1
    assert slept == []


def test_it_parses_the_error_collection_of_a_400(fake_jira, transport):
    fake_jira.refuse_fields = {"priority": "Priority name 'Urgentest' is not valid"}
    with pytest.raises(JiraBadRequest) as error:
        JiraClient(transport).create_issue(
            {"project": {"key": "ITSUP"}, "summary": "x", "priority": {"name": "U"}}
        )
    assert error.value.status == 400
    assert error.value.errors == {"priority": "Priority name 'Urgentest' is not valid"}
    assert "priority: Priority name 'Urgentest' is not valid" in str(error.value)
    assert len(fake_jira.requests) == 1  # a 400 is not retried


def test_it_parses_an_error_body_without_the_errors_key(fake_jira, transport):
    fake_jira.fail(
        "POST",
        "/rest/api/3/search/jql",
        400,
        body={"errorMessages": ["Invalid request payload. Refer to the REST API documentation."]},
    )
    with pytest.raises(JiraBadRequest) as error:
        JiraClient(transport).search_page("project = ITSUP")
    assert error.value.error_messages == ["Invalid request payload. Refer to the REST API documentation."]
    assert error.value.errors == {}


def test_a_missing_issue_is_not_found(fake_jira, transport):
    with pytest.raises(JiraNotFound) as error:
        JiraClient(transport).get_issue("ITSUP-9999")
    assert "Issue does not exist" in str(error.value)


def test_it_waits_what_retry_after_says_on_a_429(fake_jira, transport, slept):
    fake_jira.add_issue("ITSUP-1")
    fake_jira.fail(
        "GET", "/rest/api/3/issue/ITSUP-1", 429, headers={"Retry-After": "17", "X-RateLimit-Remaining": "0"}
    )
    assert JiraClient(transport).get_issue("ITSUP-1")["key"] == "ITSUP-1"
    assert slept == [17.0]
    assert len(fake_jira.requests) == 2


def test_it_backs_off_exponentially_on_503_then_gives_up(fake_jira, transport, slept):
    fake_jira.add_issue("ITSUP-1")
    fake_jira.fail("GET", "/rest/api/3/issue/ITSUP-1", 503, times=10)
    with pytest.raises(JiraUnavailable) as error:
        JiraClient(transport).get_issue("ITSUP-1")
    assert error.value.status == 503
    assert len(fake_jira.requests) == 4  # the first call and three retries
    assert len(slept) == 3
    assert 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0 and 2.0 <= slept[2] <= 4.0


def test_a_503_with_retry_after_waits_that_long(fake_jira, transport, slept):
    fake_jira.add_issue("ITSUP-1")
    fake_jira.fail("GET", "/rest/api/3/issue/ITSUP-1", 503, headers={"Retry-After": "5"})
    JiraClient(transport).get_issue("ITSUP-1")
    assert slept == [5.0]


def test_a_long_retry_after_is_left_to_the_queue(fake_jira, transport, slept):
    fake_jira.fail("GET", "/rest/api/3/issue/ITSUP-1", 429, headers={"Retry-After": "120"})
    with pytest.raises(JiraUnavailable) as error:
        JiraClient(transport).get_issue("ITSUP-1")
    assert error.value.retry_after == 120.0
    assert slept == []
    assert len(fake_jira.requests) == 1


def test_slow_answers_time_out_and_are_retried(fake_jira, slept):
    fake_jira.add_issue("ITSUP-1")
    fake_jira.slow["/rest/api/3/issue/ITSUP-1"] = 5
    transport = Transport(
        base_url=fake_jira.url,
        email=EMAIL,
        api_token=TOKEN,
        timeout=0.2,
        max_retries=1,
        backoff=0.01,
        sleep=slept.append,
    )
    with pytest.raises(JiraUnavailable) as error:
        transport.request("GET", "/rest/api/3/issue/ITSUP-1")
    assert "did not answer" in str(error.value)
    assert len(slept) == 1


def test_a_refused_connection_is_unavailable(slept):
    transport = Transport(
        base_url="http://127.0.0.1:9",
        email=EMAIL,
        api_token=TOKEN,
        timeout=0.5,
        max_retries=1,
        backoff=0.0,
        sleep=slept.append,
    )
    with pytest.raises(JiraUnavailable):
        transport.request("GET", "/rest/api/3/myself")
    assert len(slept) == 1


def test_search_follows_the_next_page_token_until_the_last_page(fake_jira, transport):
    for number in range(1, 6):
        fake_jira.add_issue(f"ITSUP-{number}", updated=f"2025-03-14T10:0{number}:00.000+0000")
    pages = list(JiraClient(transport).search("project = ITSUP ORDER BY updated ASC", max_results=2))
    assert [len(page.issues) for page in pages] == [2, 2, 1]
    assert [page.is_last for page in pages] == [False, False, True]
    bodies = [seen.body for seen in fake_jira.requests_to("POST", "/rest/api/3/search/jql")]
    assert [body.get("nextPageToken") for body in bodies] == [None, "page-2", "page-4"]
    assert all("startAt" not in body and isinstance(body["fields"], list) for body in bodies)


def test_search_reads_the_contract_pages(fake_jira, transport):
    first = __import__("integrations.jira.tests.fakejira", fromlist=["fixture"]).fixture(
        "jira-search-jql-response.json"
    )
    fake_jira.fail("POST", "/rest/api/3/search/jql", 200, body=first)
    page = JiraClient(transport).search_page("project = ITSUP")
    assert [issue["key"] for issue in page.issues] == ["ITSUP-40", "ITSUP-41"]
    assert page.next_page_token == "CAEaAggD" and page.is_last is False


def test_the_client_needs_its_settings(settings):
    with pytest.raises(JiraNotConfigured):
        JiraClient()


def test_retry_after_is_seconds_or_an_http_date():
    assert parse_retry_after("17") == 17.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None

"""Nothing a second web node needs lives in one process: a session made on one gunicorn server is
honoured by another, and ended on one it is ended on both (sessions live in PostgreSQL).
The login lockout across processes is itsm/tests/test_login_rate_limit.py."""

from __future__ import annotations

import pytest
import requests
from allauth.account.models import EmailAddress
from django.conf import settings

from conftest import PASSWORD
from itsm.tests.test_login_rate_limit import sign_in, web_servers


def test_sessions_are_kept_in_the_database():
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_session_from_one_web_node_works_on_the_other(agent):
    EmailAddress.objects.create(user=agent, email=agent.email, verified=True, primary=True)
    with web_servers(2) as (first, second):
        response = sign_in(first, agent.email, PASSWORD)
        assert response.status_code == 302
        browser = requests.Session()
        browser.headers["Host"] = "localhost"
        browser.cookies.update({"sessionid": response.cookies["sessionid"]})

        page = browser.get(f"{second}/tickets/", allow_redirects=False, timeout=10)
        assert page.status_code == 200
        assert agent.email in page.text or "Bob Agent" in page.text

        # Signed out on the second node: the first one no longer knows the session either.
        token = browser.get(f"{second}/accounts/logout/", timeout=10).text
        csrf = token.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        browser.post(f"{second}/accounts/logout/", data={"csrfmiddlewaretoken": csrf}, timeout=10)
        replay = requests.Session()
        replay.headers["Host"] = "localhost"
        replay.cookies.update({"sessionid": response.cookies["sessionid"]})  # the old cookie
        page = replay.get(f"{first}/tickets/", allow_redirects=False, timeout=10)
        assert page.status_code == 302 and "/accounts/login/" in page.headers["Location"]

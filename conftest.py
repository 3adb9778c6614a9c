"""Shared test fixtures: the named personas every app's tests use, API clients, a browser."""

from __future__ import annotations

import shutil

import pytest
from rest_framework.test import APIClient

from itsm.models import ApiToken, Organisation, Role, Team, User

PASSWORD = "correct-horse-battery"


@pytest.fixture
def organisation(db) -> Organisation:
    return Organisation.objects.create(name="Acme", tier="standard")


@pytest.fixture
def enterprise(db) -> Organisation:
    return Organisation.objects.create(name="BigCorp", tier="enterprise")


@pytest.fixture
def team(db) -> Team:
    return Team.objects.create(name="Service Desk", skills=["general"])


@pytest.fixture
def other_team(db) -> Team:
    return Team.objects.create(name="Network", skills=["network"])


def make_user(email: str, role: str, **extra: object) -> User:
    return User.objects.create_user(email=email, password=PASSWORD, role=role, **extra)


@pytest.fixture
def admin_user(db) -> User:
    return make_user("alice.admin@example.com", Role.ADMIN, full_name="Alice Admin")


@pytest.fixture
def agent(db, team) -> User:
    user = make_user("bob.agent@example.com", Role.AGENT, full_name="Bob Agent", skills=["general"])
    team.members.add(user)
    return user


@pytest.fixture
def other_agent(db, other_team) -> User:
    user = make_user("carol.agent@example.com", Role.AGENT, full_name="Carol Network", skills=["network"])
    other_team.members.add(user)
    return user


@pytest.fixture
def requester(db, organisation) -> User:
    return make_user(
        "dave.user@example.com", Role.USER, full_name="Dave Requester", organisation=organisation
    )


@pytest.fixture
def other_requester(db, organisation) -> User:
    return make_user(
        "erin.user@example.com", Role.USER, full_name="Erin Requester", organisation=organisation
    )


@pytest.fixture
def viewer(db) -> User:
    return make_user("vic.viewer@example.com", Role.VIEWER, full_name="Vic Viewer")


def api_client_for(user: User) -> APIClient:
    _token, key = ApiToken.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api_for():
    """``api_for(user)`` gives an APIClient authenticated with a fresh token of that user."""
    return api_client_for


@pytest.fixture
def browser_page(live_server, monkeypatch):
    """A Playwright page in Debian's Chromium, headless, against the live test server."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between page actions are still synchronous and safe here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # for this test only
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        context = browser.new_context(base_url=live_server.url)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def make_ticket(db, requester):
    """``make_ticket(title=…, **fields)``: a ticket created through the real action."""
    from tickets.actions import do_create_ticket

    def make(title: str = "Printer on floor 3 is jammed", *, actor=None, **fields):
        fields.setdefault("requester", requester)
        return do_create_ticket(actor=actor, title=title, **fields)

    return make


@pytest.fixture(autouse=True)
def _fresh_security_state():
    """Each test starts with the default security settings in force (no query: the row a previous
    test saved was rolled back). Login lockouts (the database cache) and API throttle counters
    (``RateCounter``) live in the database: a test's rows roll back with it, and transactional
    tests are cleaned after (the flush, and ``_empty_the_queue_after_transactional_tests``)."""
    from itsm.security.models import SecuritySettings

    SecuritySettings.remember(SecuritySettings())
    yield
    SecuritySettings.remember(SecuritySettings())


@pytest.fixture(autouse=True)
def _empty_the_queue_after_transactional_tests(request):
    """procrastinate's tables are not flushed between transactional tests (Django flushes
    only its managed tables), so jobs deferred by one test would be seen by the next."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not (marker.kwargs.get("transaction") or "live_server" in request.fixturenames):
        return
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, "
            "procrastinate_workers RESTART IDENTITY CASCADE"
        )
    # The flush also removed rows that data migrations created (built-in SLA calendar and
    # default policies); later tests on this database expect them.
    from sla.defaults import ensure_defaults

    ensure_defaults()
    # The shared cache (a table without a model: not flushed) holds rate-limit counters.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _language_of_the_desk():
    """Each test starts in the desk's language: a request of a French user activates French in
    the test's thread (LocaleMiddleware), and the next test on that worker would inherit it."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture
def run_worker():
    """Runs a real procrastinate worker until the queue is empty (needs a transactional test)."""
    from procrastinate.contrib.django import app

    def run(queues: list[str] | None = None) -> None:
        with app.replace_connector(app.connector.get_worker_connector()):
            app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False, queues=queues)

    return run


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1 (``integrations/email/tests/fake_smtp.py``) that Django's
    SMTP backend sends to; ``stop()`` and ``start()`` it to take the mail server down and up
    on the same port."""
    from integrations.email.tests.fake_smtp import FakeSmtp

    server = FakeSmtp().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture
def compiled_models():
    """``with compiled_models() as models:`` records the model of every query Django compiles
    inside, whether it runs or not (a query found empty is compiled, then skipped)."""
    from contextlib import contextmanager
    from unittest import mock

    from django.db.models.sql.compiler import SQLCompiler

    as_sql = SQLCompiler.as_sql

    @contextmanager
    def recording():
        models: list = []

        def counting(compiler, *args, **kwargs):
            models.append(compiler.query.model)
            return as_sql(compiler, *args, **kwargs)

        with mock.patch.object(SQLCompiler, "as_sql", counting):
            yield models

    return recording

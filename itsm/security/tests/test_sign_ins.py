"""The sign-in log, unusual sign-ins, sessions, and lockouts."""

from __future__ import annotations

import json

import pytest
from allauth.usersessions.models import UserSession
from django.core import mail
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import reverse

from itsm.lib.useragents import family
from itsm.models import Notification
from itsm.security import signins
from itsm.security.models import FailureReason, SecurityAction, SecurityEvent, SignInEvent
from itsm.security.tests.conftest import password_sign_in, signed_in_user_id

pytestmark = pytest.mark.django_db

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = CHROME_WINDOWS + " Edg/131.0.0.0"


@pytest.mark.parametrize(
    ("agent_string", "expected"),
    [
        (FIREFOX_LINUX, "Firefox (Linux)"),
        (CHROME_WINDOWS, "Chrome (Windows)"),
        (SAFARI_IPHONE, "Safari (iOS)"),
        (EDGE_WINDOWS, "Edge (Windows)"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0 Safari/537.36",
            "Chrome (Linux)",
        ),
        ("curl/8.5.0", "curl"),
        ("", ""),
    ],
)
def test_browser_families(agent_string, expected):
    assert family(agent_string) == expected


def browser(ip: str = "203.0.113.10", agent_string: str = FIREFOX_LINUX) -> Client:
    return Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent_string)


@pytest.mark.parametrize("persona", ["admin_user", "agent", "requester", "viewer"])
def test_a_password_sign_in_is_recorded_for_every_role(request, persona):
    user = request.getfixturevalue(persona)
    password_sign_in(browser(), user)
    event = SignInEvent.objects.get(user=user)
    assert (event.result, event.method, event.email, event.ip) == (
        "success",
        "password",
        user.email,
        "203.0.113.10",
    )
    assert (event.site, event.agent_family) == ("203.0.113.0/24", "Firefox (Linux)")
    assert not event.unusual  # nothing to compare the first sign-in with


def test_failures_are_recorded_with_the_attempted_email(agent):
    password_sign_in(browser(), agent, password="wrong-password")
    browser().post(reverse("account_login"), {"login": "nobody@example.com", "password": "x"})
    known, unknown = SignInEvent.objects.order_by("id")
    assert (known.user_id, known.email, known.result, known.reason) == (
        agent.pk,
        agent.email,
        "failure",
        FailureReason.BAD_CREDENTIALS,
    )
    assert (unknown.user_id, unknown.email, unknown.reason) == (
        None,
        "nobody@example.com",
        FailureReason.BAD_CREDENTIALS,
    )


def test_a_wrong_second_factor_code_is_recorded(agent):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import generate_totp_secret

    Authenticator.objects.create(user=agent, type="totp", data={"secret": generate_totp_secret()})
    client = browser()
    assert password_sign_in(client, agent)["Location"] == reverse("mfa_authenticate")
    client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert signed_in_user_id(client) is None
    assert SignInEvent.objects.filter(user=agent, reason=FailureReason.SECOND_FACTOR).exists()


def test_the_lockout_is_recorded_and_an_admin_lifts_it(client, admin_user, agent):
    attacker = browser(ip="198.51.100.66")
    for _ in range(5):
        password_sign_in(attacker, agent, password="guess")
    # The right password is now refused too: the email is locked out.
    response = password_sign_in(attacker, agent)
    assert response.status_code == 200 and signed_in_user_id(attacker) is None
    assert SignInEvent.objects.filter(email=agent.email, reason=FailureReason.RATE_LIMITED).exists()
    assert signins.is_locked_out(email=agent.email)

    client.force_login(admin_user)
    page = client.get(reverse("admin:security_signinevent_failures")).content.decode()
    assert agent.email in page and "198.51.100.66" in page and "Lift lockout" in page
    lifted = client.post(
        reverse("admin:security_signinevent_lift"), {"email": agent.email}, REMOTE_ADDR="203.0.113.5"
    )
    assert lifted.status_code == 302
    assert not signins.is_locked_out(email=agent.email)
    event = SecurityEvent.objects.get(action=SecurityAction.LOCKOUT_LIFTED)
    assert (event.actor_id, event.ip, event.target_label) == (admin_user.pk, "203.0.113.5", agent.email)
    password_sign_in(attacker, agent)
    assert signed_in_user_id(attacker) == str(agent.pk)


def test_an_address_locked_out_is_lifted_by_address(settings, client, admin_user, agent, other_agent):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip,50/5m/key"}
    attacker = browser(ip="198.51.100.77")
    for user in (agent, other_agent, agent):
        password_sign_in(attacker, user, password="guess")
    assert signins.is_locked_out(ip="198.51.100.77")
    client.force_login(admin_user)
    client.post(reverse("admin:security_signinevent_lift"), {"ip": "198.51.100.77"})
    assert not signins.is_locked_out(ip="198.51.100.77")


def test_lifting_needs_an_admin_and_a_post(client, agent, admin_user):
    client.force_login(agent)
    assert client.post(reverse("admin:security_signinevent_lift"), {"ip": "1.2.3.4"}).status_code == 302
    client.force_login(admin_user)
    assert client.get(reverse("admin:security_signinevent_lift")).status_code == 405
    empty = client.post(reverse("admin:security_signinevent_lift"), {}, follow=True)
    assert "Say which email or address" in empty.content.decode()
    assert not SecurityEvent.objects.filter(action=SecurityAction.LOCKOUT_LIFTED).exists()


def test_a_new_place_or_browser_notifies_the_user(agent):
    password_sign_in(browser(ip="203.0.113.10"), agent)
    password_sign_in(browser(ip="203.0.113.99"), agent)  # same /24, same browser: usual
    assert not Notification.objects.filter(recipient=agent, verb="security.unusual_sign_in").exists()
    password_sign_in(browser(ip="198.51.100.3"), agent)  # a new range
    password_sign_in(browser(ip="203.0.113.10", agent_string=CHROME_WINDOWS), agent)  # a new browser
    notes = Notification.objects.filter(recipient=agent, verb="security.unusual_sign_in").order_by("id")
    assert [note.title for note in notes] == [
        "New sign-in to your account from 198.51.100.3",
        "New sign-in to your account from 203.0.113.10",
    ]
    assert "Chrome (Windows)" in notes[1].body
    assert SignInEvent.objects.filter(user=agent, unusual=True).count() == 2


def test_the_unusual_sign_in_notice_is_in_the_users_language_and_mailed(
    agent, django_capture_on_commit_callbacks
):
    from procrastinate.contrib.django.models import ProcrastinateJob

    agent.language = "fr"
    agent.save(update_fields=["language"])
    password_sign_in(browser(ip="203.0.113.10"), agent)
    with django_capture_on_commit_callbacks(execute=True):
        password_sign_in(browser(ip="198.51.100.3"), agent)
    note = Notification.objects.get(recipient=agent, verb="security.unusual_sign_in")
    assert note.title == "Nouvelle connexion à votre compte depuis 198.51.100.3"
    job = ProcrastinateJob.objects.get(task_name__endswith="send_notification_email")
    assert job.args["notification_id"] == note.pk


def test_unusual_sign_ins_can_be_left_unnotified(agent):
    from itsm.security.tests.conftest import save_settings

    save_settings(notify_unusual_sign_ins=False)
    password_sign_in(browser(ip="203.0.113.10"), agent)
    password_sign_in(browser(ip="198.51.100.3"), agent)
    assert SignInEvent.objects.filter(user=agent, unusual=True).exists()
    assert not Notification.objects.filter(recipient=agent).exists()
    assert not mail.outbox


def test_the_sign_in_log_is_append_only(agent):
    password_sign_in(browser(), agent)
    event = SignInEvent.objects.get(user=agent)
    with pytest.raises(DatabaseError), transaction.atomic():
        SignInEvent.objects.filter(pk=event.pk).update(result="failure")
    with pytest.raises(DatabaseError), transaction.atomic():
        SignInEvent.objects.filter(pk=event.pk).delete()
    assert SignInEvent.objects.get(pk=event.pk).result == "success"


# --- The account page ---


def test_the_account_page_shows_sign_ins_and_sessions(agent):
    laptop, phone = browser(ip="203.0.113.10"), browser(ip="198.51.100.3", agent_string=SAFARI_IPHONE)
    password_sign_in(laptop, agent)
    password_sign_in(phone, agent)
    password_sign_in(browser(), agent, password="wrong")
    html = laptop.get(reverse("security:account")).content.decode()
    assert html.count('id="session-') == 2
    assert "This session" in html
    assert "198.51.100.3" in html and "Safari (iOS)" in html
    assert "Wrong email or password" in html
    assert "New place or browser" in html


def test_ending_the_other_sessions_signs_them_out(agent):
    laptop, phone, tablet = browser(), browser(ip="198.51.100.3"), browser(ip="192.0.2.4")
    for device in (laptop, phone, tablet):
        password_sign_in(device, agent)
    response = laptop.post(reverse("security:end-other-sessions"), REMOTE_ADDR="203.0.113.10")
    assert response.status_code == 302
    assert laptop.get(reverse("home")).status_code == 200
    assert phone.get(reverse("home")).status_code == 302
    assert tablet.get(reverse("home")).status_code == 302
    assert UserSession.objects.filter(user=agent).count() == 1
    event = SecurityEvent.objects.get(action=SecurityAction.SESSIONS_ENDED)
    assert event.after == {"sessions_ended": 2}


def test_ending_one_session_with_htmx_removes_its_row(agent):
    laptop, phone = browser(), browser(ip="198.51.100.3")
    password_sign_in(laptop, agent)
    password_sign_in(phone, agent)
    other = UserSession.objects.get(user=agent, ip="198.51.100.3")
    response = laptop.post(reverse("security:end-session", args=[other.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    assert json.loads(response["HX-Trigger"]) == {"sessionsChanged": {}}
    assert phone.get(reverse("home")).status_code == 302
    current = UserSession.objects.get(user=agent)
    refused = laptop.post(reverse("security:end-session", args=[current.pk]), follow=True)
    assert "session you are using" in refused.content.decode()
    assert laptop.get(reverse("home")).status_code == 200


def test_nobody_ends_another_persons_session(agent, other_agent):
    mine, theirs = browser(), browser(ip="198.51.100.3")
    password_sign_in(mine, agent)
    password_sign_in(theirs, other_agent)
    session = UserSession.objects.get(user=other_agent)
    assert mine.post(reverse("security:end-session", args=[session.pk])).status_code == 404
    assert theirs.get(reverse("home")).status_code == 200


def test_the_account_pages_need_a_session_and_the_right_method(client, agent):
    assert client.get(reverse("security:account")).status_code == 302
    client.force_login(agent)
    assert client.post(reverse("security:account")).status_code == 405
    assert client.get(reverse("security:end-other-sessions")).status_code == 405


@pytest.mark.parametrize("persona", ["admin_user", "agent", "requester", "viewer"])
def test_the_account_page_costs_a_fixed_number_of_queries(request, persona, django_assert_num_queries):
    user = request.getfixturevalue(persona)
    devices = [browser(ip=f"198.51.100.{n}") for n in range(1, 4)]
    for device in devices:
        password_sign_in(device, user)
    devices[0].get(reverse("security:account"))
    # session, user, authenticator, sign-ins, sessions, unread notifications
    with django_assert_num_queries(6):
        response = devices[0].get(reverse("security:account"))
    assert response.content.decode().count('id="session-') == 3

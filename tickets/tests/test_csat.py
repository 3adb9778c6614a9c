"""Satisfaction surveys: sent on resolve in the resolution mail, answered once through a signed
link without signing in, changed within a week, low scores followed up."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from itsm import kpis, tasks
from itsm.models import Notification
from tickets.actions import do_add_comment, do_merge_tickets, do_transition_ticket
from tickets.actions.autoclose import do_auto_close_resolved
from tickets.actions.csat import do_answer_survey, do_send_survey, survey_for_token, survey_token
from tickets.models import DeskSettings, SatisfactionSurvey, TicketStatus
from tickets.tasks import auto_close_resolved

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(make_ticket, team):
    return make_ticket("VPN drops every hour", description="Payroll VPN details", team=team)


def resolve(ticket, agent):
    return do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="New VPN profile")


def link(survey) -> str:
    return reverse("tickets:survey", args=[survey_token(survey)])


@pytest.fixture
def mails(monkeypatch):
    """What the worker would be asked to mail: (template, context) per notification."""
    sent = []
    monkeypatch.setattr(tasks.send_notification_email, "defer", lambda **kwargs: sent.append(kwargs))
    return sent


def test_resolving_sends_one_survey_linked_from_the_resolution_mail(
    ticket, agent, requester, mails, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        resolve(ticket, agent)
    survey = SatisfactionSurvey.objects.get(ticket=ticket)
    assert survey.requester == requester and survey.score is None
    [sent] = mails
    assert sent["template"] == "tickets/email/resolved"
    body = render_to_string("tickets/email/resolved.txt", {**sent["context"], "recipient": requester})
    token = body.split("/tickets/survey/")[1].split("/")[0]
    assert survey_for_token(token) == survey and "How did we do?" in body
    # reopened and resolved again: still one survey
    do_transition_ticket(ticket, TicketStatus.OPEN, actor=agent)
    resolve(ticket, agent)
    assert SatisfactionSurvey.objects.filter(ticket=ticket).count() == 1


def test_settings_turn_surveys_off_or_sample_them(make_ticket, agent, team):
    policy = DeskSettings.load()
    policy.survey_enabled = False
    policy.save()
    first = make_ticket("One", team=team)
    resolve(first, agent)
    assert not SatisfactionSurvey.objects.exists()
    policy.survey_enabled, policy.survey_sample_percent = True, 30
    policy.save()
    tickets = [make_ticket(f"Ticket {index}", team=team) for index in range(40)]
    for ticket in tickets:
        resolve(ticket, agent)
    surveyed = SatisfactionSurvey.objects.count()
    assert 0 < surveyed < 40
    # the same ticket always gets the same decision (a re-sent signal changes nothing)
    assert all(do_send_survey(ticket) is None for ticket in tickets if not hasattr(ticket, "survey"))


def test_merged_tickets_get_no_survey(make_ticket, agent, team):
    target, source = make_ticket("Target", team=team), make_ticket("Source", team=team)
    do_merge_tickets(target, [source], actor=agent)
    assert not SatisfactionSurvey.objects.filter(ticket=source).exists()


def test_the_link_shows_only_number_and_title_and_takes_one_answer(client, ticket, agent):
    resolve(ticket, agent)
    survey = SatisfactionSurvey.objects.get()
    page = client.get(link(survey))  # not signed in
    html = page.content.decode()
    assert page.status_code == 200 and ticket.number in html and ticket.title in html
    assert "Payroll VPN details" not in html and "New VPN profile" not in html and "dave" not in html.lower()
    response = client.post(link(survey), {"score": "4", "comment": "Quick, thanks"})
    assert response.status_code == 200 and 'data-testid="survey-saved"' in response.content.decode()
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (4, "Quick, thanks")
    first_answer = survey.answered_at
    # a second click shows the answer given; a changed mind within 7 days updates it
    assert "You answered 4 out of 5." in client.get(link(survey)).content.decode()
    client.post(link(survey), {"score": "5", "comment": "Even better"})
    survey.refresh_from_db()
    assert survey.score == 5 and survey.answered_at == first_answer
    with time_machine.travel(first_answer + datetime.timedelta(days=8)):
        late = client.post(link(survey), {"score": "1"})
        assert late.status_code == 400
    survey.refresh_from_db()
    assert survey.score == 5


@pytest.mark.parametrize("score", ["0", "6", "", "four", "4.5", "-1"])
def test_bad_scores_change_nothing(client, ticket, agent, score):
    resolve(ticket, agent)
    survey = SatisfactionSurvey.objects.get()
    assert client.post(link(survey), {"score": score}).status_code == 400
    survey.refresh_from_db()
    assert survey.score is None and survey.answered_at is None


def test_forged_and_expired_links_are_refused(client, ticket, agent):
    resolve(ticket, agent)
    survey = SatisfactionSurvey.objects.get()
    assert client.get(reverse("tickets:survey", args=["forged:token"])).status_code == 404
    assert (
        client.post(reverse("tickets:survey", args=[survey_token(survey) + "x"]), {"score": "1"}).status_code
        == 404
    )
    url = link(survey)
    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=31)):
        assert client.post(url, {"score": "1"}).status_code == 404
    survey.refresh_from_db()
    assert survey.score is None


def test_a_low_score_tells_the_team_lead_and_reopens_per_setting(ticket, agent, team, other_agent):
    team.lead = other_agent
    team.save()
    policy = DeskSettings.load()
    policy.reopen_at_or_below = 2
    policy.save()
    resolve(ticket, agent)
    survey = SatisfactionSurvey.objects.get()
    do_answer_survey(survey, score=1, comment="Still broken")
    assert Notification.objects.filter(recipient=other_agent, verb="csat_low").count() == 1
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.reopen_count == 1
    # the same answer again (a double click) changes nothing
    do_answer_survey(survey, score=1, comment="Still broken")
    assert Notification.objects.filter(recipient=other_agent, verb="csat_low").count() == 1


def test_good_scores_leave_the_ticket_alone(ticket, agent, team, other_agent):
    team.lead = other_agent
    team.save()
    resolve(ticket, agent)
    do_answer_survey(SatisfactionSurvey.objects.get(), score=5)
    assert not Notification.objects.filter(verb="csat_low").exists()
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED


def test_the_answer_is_checked_in_the_action_too(ticket, agent):
    resolve(ticket, agent)
    survey = SatisfactionSurvey.objects.get()
    for score in (True, None, 0, 6, "x", 3.5):
        with pytest.raises(ValidationError):
            do_answer_survey(survey, score=score)
    with pytest.raises(ValidationError):
        do_answer_survey(survey, score=3, comment="x" * 2001)


def test_the_ticket_page_shows_the_score_to_agents(client, agent, ticket):
    resolve(ticket, agent)
    do_answer_survey(SatisfactionSurvey.objects.get(), score=2, comment="Slow")
    client.force_login(agent)
    html = client.get(reverse("tickets:ticket-detail", args=[ticket.pk])).content.decode()
    assert 'data-testid="survey-score"' in html and "2/5" in html


def test_the_kpis_average_and_response_rate(make_ticket, agent, team):
    tickets = [make_ticket(f"Ticket {index}", team=team) for index in range(4)]
    for ticket in tickets:
        resolve(ticket, agent)
    surveys = list(SatisfactionSurvey.objects.order_by("pk"))
    do_answer_survey(surveys[0], score=5)
    do_answer_survey(surveys[1], score=2)
    start = timezone.now() - datetime.timedelta(days=1)
    end = timezone.now() + datetime.timedelta(minutes=1)
    result = kpis.compute(["csat_average", "csat_response_rate"], start, end, user=agent)
    assert result.value("csat_average") == 3.5
    assert result.value("csat_response_rate") == 0.5
    by_team = kpis.compute(["csat_average"], start, end, group_by="team", user=agent)
    assert by_team.value("csat_average", group=team.name) == 3.5


def test_a_requester_reply_on_a_resolved_ticket_reopens_it(ticket, agent, requester, other_requester):
    resolve(ticket, agent)
    do_add_comment(ticket, actor=agent, body="Anything else?")  # the desk's reply leaves it resolved
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    do_add_comment(ticket, actor=requester, body="It drops again since this morning.")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.reopen_count == 1


def test_resolved_tickets_close_after_the_set_days_unless_the_requester_replied(
    make_ticket, team, agent, requester, client
):
    quiet, answered, recent = (make_ticket(title, team=team) for title in ("Quiet", "Answered", "Recent"))
    with time_machine.travel(timezone.now() - datetime.timedelta(days=8)):
        resolve(quiet, agent)
        resolve(answered, agent)
    resolve(recent, agent)
    do_add_comment(answered, actor=requester, body="Still broken")  # reopens it
    client.force_login(requester)
    html = client.get(reverse("tickets:portal-ticket", args=[recent.pk])).content.decode()
    assert 'data-testid="closes-at"' in html
    assert auto_close_resolved() == 1
    assert do_auto_close_resolved() == 0  # run again: nothing more
    statuses = {
        ticket.title: ticket.status
        for ticket in type(quiet).objects.filter(pk__in=[quiet.pk, answered.pk, recent.pk])
    }
    assert statuses == {"Quiet": "closed", "Answered": "open", "Recent": "resolved"}
    policy = DeskSettings.load()
    policy.auto_close_days = 0
    policy.save()
    with time_machine.travel(timezone.now() + datetime.timedelta(days=30)):
        assert do_auto_close_resolved() == 0

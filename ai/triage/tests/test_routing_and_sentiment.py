"""Routing to the least loaded skilled agent; sentiment of requester messages."""

import pytest

from ai.triage.actions import do_score_sentiment
from ai.triage.models import MessageSentiment, SentimentAction, TriageSettings
from ai.triage.routing import suggest_assignee
from ai.triage.sentiment import score_text
from itsm.models import AutomationEvent, User
from tickets.actions import do_add_comment, do_assign_ticket, do_create_ticket
from tickets.models import TicketAudit


def make_user(email, role, **extra):
    return User.objects.create_user(email=email, password="x-pass-123", role=role, **extra)


# --- routing ----------------------------------------------------------------------------------------
@pytest.fixture
def network_team(db, other_team):
    members = {
        "busy": make_user(
            "busy@example.com", "agent", full_name="Busy Skilled", skills=["network"], capacity=5
        ),
        "idle": make_user(
            "idle@example.com", "agent", full_name="Idle Skilled", skills=["Network"], capacity=5
        ),
        "generalist": make_user("gen@example.com", "agent", full_name="Gen Eralist", skills=["general"]),
        "away": make_user(
            "away@example.com", "agent", full_name="Away Skilled", skills=["network"], is_available=False
        ),
        "requester": make_user("req@example.com", "user", full_name="Not An Agent", skills=["network"]),
    }
    other_team.members.add(*members.values())
    return members


def load(user, count, requester):
    for index in range(count):
        ticket = do_create_ticket(actor=None, requester=requester, title=f"load {user.email} {index}")
        do_assign_ticket(ticket, actor=None, assignee=user, actor_label="system:test")


def test_it_routes_to_the_least_loaded_available_agent_with_the_skill(
    network_team, other_team, network, requester
):
    load(network_team["busy"], 3, requester)
    load(network_team["idle"], 1, requester)
    suggestion = suggest_assignee(other_team, network)
    assert suggestion.user == network_team["idle"]
    assert "Idle Skilled" in suggestion.reasoning
    assert "skill network" in suggestion.reasoning
    assert "1 open tickets of a capacity of 5" in suggestion.reasoning
    assert "least loaded of 2" in suggestion.reasoning  # busy and idle; away is unavailable
    emails = {candidate.user.email for candidate in suggestion.candidates}
    assert "away@example.com" not in emails and "req@example.com" not in emails


def test_it_skips_agents_at_capacity(network_team, other_team, network, requester):
    load(network_team["idle"], 5, requester)  # capacity 5 reached
    load(network_team["busy"], 2, requester)
    assert suggest_assignee(other_team, network).user == network_team["busy"]


def test_it_falls_back_to_the_team_when_nobody_has_the_skill(network_team, other_team, requester):
    from tickets.models import Category

    storage = Category.objects.create(name="Storage")
    load(network_team["busy"], 1, requester)
    load(network_team["idle"], 1, requester)
    suggestion = suggest_assignee(other_team, storage)
    assert suggestion.user.email in {"gen@example.com", "carol.agent@example.com"}
    assert "nobody available in Network has the skill storage" in suggestion.reasoning


def test_it_says_when_nobody_can_take_it(db, requester):
    from itsm.models import Team

    empty = Team.objects.create(name="Empty")
    suggestion = suggest_assignee(empty)
    assert suggestion.user is None
    assert "Nobody in Empty" in suggestion.reasoning


# --- sentiment lexicon --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("This is UNACCEPTABLE, third time I ask and still broken!!! Useless support.", "very_negative"),
        ("C'est inadmissible, toujours pas résolu, vraiment nul !", "very_negative"),
        ("The printer does not print.", "neutral"),
        ("Thanks a lot, great and quick help!", "positive"),
        ("Merci beaucoup, parfait.", "positive"),
        ("I am not happy with this", "negative"),
    ],
)
def test_the_lexicon_reads_english_and_french(text, label):
    assert score_text(text).label == label


def test_negation_flips_a_word():
    assert score_text("not good").score < 0 < score_text("good").score


# --- sentiment on tickets ----------------------------------------------------------------------------------
ANGRY = "This is unacceptable! Third time this week, your support is useless and I am furious."


@pytest.fixture
def enterprise_requester(db, enterprise):
    return make_user("ceo@bigcorp.example", "user", full_name="Big Customer", organisation=enterprise)


def test_a_very_negative_enterprise_requester_raises_the_ticket(enterprise_requester):
    ticket = do_create_ticket(actor=enterprise_requester, title="Still broken", description=ANGRY)
    row = do_score_sentiment(ticket)
    ticket.refresh_from_db()
    assert row.label == "very_negative"
    assert row.raised_attention is True
    assert "attention" in ticket.tags
    event = AutomationEvent.objects.get(subject_id=str(ticket.pk), action="ai.sentiment.attention")
    assert event.actor == "system:ai"
    assert "attention" in event.after["tags"]


def test_raising_the_priority_is_an_org_setting(enterprise_requester):
    settings_row = TriageSettings.load()
    settings_row.sentiment_action = SentimentAction.RAISE_PRIORITY
    settings_row.save()
    ticket = do_create_ticket(actor=enterprise_requester, title="Still broken", description=ANGRY)
    assert ticket.priority == "medium"
    do_score_sentiment(ticket)
    ticket.refresh_from_db()
    assert ticket.priority == "high"
    assert "attention" not in ticket.tags
    audit = TicketAudit.objects.filter(pgh_obj=ticket, priority="high").latest("pgh_id")
    assert audit.pgh_context["actor"] == "system:ai"


def test_other_tiers_and_calm_messages_raise_nothing(requester, enterprise_requester):
    standard = do_create_ticket(actor=requester, title="Still broken", description=ANGRY)
    calm = do_create_ticket(
        actor=enterprise_requester, title="Printer", description="The printer needs toner."
    )
    assert do_score_sentiment(standard).raised_attention is False
    assert do_score_sentiment(calm).raised_attention is False
    standard.refresh_from_db()
    calm.refresh_from_db()
    assert standard.tags == [] and calm.tags == []
    assert not AutomationEvent.objects.exists()


def test_a_ticket_is_raised_once_and_each_message_scored_once(enterprise_requester):
    ticket = do_create_ticket(actor=enterprise_requester, title="Still broken", description=ANGRY)
    first = do_score_sentiment(ticket)
    assert do_score_sentiment(ticket).pk == first.pk
    reply = do_add_comment(
        ticket, actor=enterprise_requester, body="Furious. Unacceptable, useless, worst service!"
    )
    second = do_score_sentiment(ticket, reply)
    assert second.comment == reply and second.raised_attention is False
    assert MessageSentiment.objects.filter(ticket=ticket).count() == 2
    assert AutomationEvent.objects.filter(action="ai.sentiment.attention").count() == 1


def test_agent_notes_and_replies_are_not_scored(enterprise_requester, agent):
    ticket = do_create_ticket(actor=enterprise_requester, title="Printer", description="toner")
    note = do_add_comment(
        ticket, actor=agent, body="This customer is furious and unacceptable", internal=True
    )
    assert do_score_sentiment(ticket, note) is None
    assert not MessageSentiment.objects.filter(comment=note).exists()

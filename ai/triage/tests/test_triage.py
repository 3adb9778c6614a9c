"""Triage of tickets: rules before history, trained models after, the three modes, outcomes."""

import pytest
from django.core.exceptions import PermissionDenied

from ai.triage import predict
from ai.triage.actions import (
    SuggestionNotPending,
    do_accept_suggestion,
    do_record_outcome,
    do_reject_suggestion,
    do_train_models,
    do_triage_ticket,
)
from ai.triage.models import SuggestionStatus, TriageModel, TriageResult
from itsm.models import AutomationEvent
from tickets.actions import do_transition_ticket, do_update_ticket
from tickets.models import TicketAudit


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    predict.forget_cached_bundle()
    yield
    predict.forget_cached_bundle()


def results_by_field(ticket):
    return {result.field: result for result in TriageResult.objects.filter(ticket=ticket)}


# --- rules, before any history -------------------------------------------------------------------
def test_it_uses_the_category_keywords_and_says_so_without_history(
    make_ticket, network, printing, other_team
):
    ticket = make_ticket("VPN down", description="The vpn gateway refuses me, firewall change?")
    do_triage_ticket(ticket)
    results = results_by_field(ticket)
    category = results["category"]
    assert category.predicted_value == str(network.pk)
    assert category.method == "rules"
    assert category.model_version == "rules-v1"
    assert "No trained model yet" in category.reasoning
    assert "vpn" in category.reasoning and "firewall" in category.reasoning
    assert results["team"].predicted_value == str(other_team.pk)
    assert "team of the predicted category" in results["team"].reasoning
    assert category.status == SuggestionStatus.PENDING  # default mode: assist
    assert category.confidence <= 0.7


def test_it_reads_urgency_words_in_english_and_french(make_ticket):
    ticket = make_ticket("URGENT: production down", description="Tout le monde est bloqué, c'est urgent")
    do_triage_ticket(ticket)
    results = results_by_field(ticket)
    assert results["urgency"].predicted_value == "high"
    assert results["impact"].predicted_value == "high"
    assert "urgent" in results["urgency"].reasoning


def test_it_suggests_nothing_for_the_category_when_no_keyword_matches(make_ticket, network):
    ticket = make_ticket("Something odd", description="It does a weird thing.")
    do_triage_ticket(ticket)
    assert "category" not in results_by_field(ticket)


def test_triage_is_stored_once(make_ticket, network):
    ticket = make_ticket("VPN down")
    first = do_triage_ticket(ticket)
    second = do_triage_ticket(ticket)
    assert {r.pk for r in first} == {r.pk for r in second}
    assert TriageResult.objects.filter(ticket=ticket, field="category").count() == 1


# --- modes ---------------------------------------------------------------------------------------
def test_assist_mode_suggests_and_an_agent_accepts_as_themselves(make_ticket, network, agent, other_agent):
    ticket = make_ticket("VPN down", description="vpn client error")
    do_triage_ticket(ticket)
    suggestion = results_by_field(ticket)["category"]
    assert ticket.category_id is None
    do_accept_suggestion(suggestion, actor=agent)
    ticket.refresh_from_db()
    suggestion.refresh_from_db()
    assert ticket.category_id == network.pk
    assert suggestion.status == SuggestionStatus.ACCEPTED
    assert suggestion.decided_by == agent
    audit = TicketAudit.objects.filter(pgh_obj=ticket, category=network.pk).latest("pgh_id")
    assert audit.pgh_context["actor"] == agent.email
    assert not AutomationEvent.objects.filter(subject_id=str(ticket.pk)).exists()


def test_a_suggestion_is_accepted_once(make_ticket, network, agent):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    suggestion = results_by_field(ticket)["category"]
    do_accept_suggestion(suggestion, actor=agent)
    version = type(ticket).objects.get(pk=ticket.pk).version
    with pytest.raises(SuggestionNotPending):
        do_accept_suggestion(suggestion, actor=agent)
    with pytest.raises(SuggestionNotPending):
        do_reject_suggestion(suggestion, actor=agent)
    assert type(ticket).objects.get(pk=ticket.pk).version == version


def test_rejecting_changes_nothing_on_the_ticket(make_ticket, network, agent):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    suggestion = results_by_field(ticket)["category"]
    do_reject_suggestion(suggestion, actor=agent)
    ticket.refresh_from_db()
    suggestion.refresh_from_db()
    assert ticket.category_id is None
    assert suggestion.status == SuggestionStatus.REJECTED


@pytest.mark.parametrize("who", ["requester", "viewer"])
def test_only_agents_decide_suggestions(make_ticket, network, request, who):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    suggestion = results_by_field(ticket)["category"]
    with pytest.raises(PermissionDenied):
        do_accept_suggestion(suggestion, actor=request.getfixturevalue(who))
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.PENDING


def test_shadow_mode_records_without_suggesting_or_applying(make_ticket, network, field_mode):
    field_mode("category", "shadow")
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    result = results_by_field(ticket)["category"]
    ticket.refresh_from_db()
    assert result.status == SuggestionStatus.RECORDED
    assert result.mode == "shadow"
    assert ticket.category_id is None


def test_auto_mode_applies_a_confident_prediction_as_the_system(make_ticket, network, field_mode):
    field_mode("category", "auto", threshold=0.5)
    ticket = make_ticket("VPN down", description="vpn and firewall")  # two keywords: 0.6
    do_triage_ticket(ticket)
    result = results_by_field(ticket)["category"]
    ticket.refresh_from_db()
    assert ticket.category_id == network.pk
    assert result.applied is True
    assert result.status == SuggestionStatus.APPLIED
    event = AutomationEvent.objects.get(
        subject_type="ticket", subject_id=str(ticket.pk), action="ai.triage.applied"
    )
    assert event.actor == "system:ai"
    assert event.before == {"category": ""}
    assert event.after["category"] == str(network.pk)
    audit = TicketAudit.objects.filter(pgh_obj=ticket, category=network.pk).latest("pgh_id")
    assert audit.pgh_context["actor"] == "system:ai"


def test_auto_mode_leaves_an_unsure_prediction_as_a_suggestion(make_ticket, network, field_mode):
    field_mode("category", "auto", threshold=0.9)
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    result = results_by_field(ticket)["category"]
    ticket.refresh_from_db()
    assert ticket.category_id is None
    assert result.status == SuggestionStatus.PENDING
    assert not AutomationEvent.objects.filter(subject_id=str(ticket.pk)).exists()


def test_auto_mode_never_overrides_a_value_a_person_chose(make_ticket, network, printing, field_mode):
    field_mode("category", "auto", threshold=0.1)
    ticket = make_ticket("VPN down", category=printing)
    do_triage_ticket(ticket)
    ticket.refresh_from_db()
    assert ticket.category_id == printing.pk
    assert results_by_field(ticket)["category"].status == SuggestionStatus.PENDING


def test_auto_mode_assigns_the_routed_agent(make_ticket, network, other_agent, field_mode):
    for field in ("team", "assignee"):
        field_mode(field, "auto", threshold=0.1)
    ticket = make_ticket("VPN down", description="vpn firewall wifi")
    do_triage_ticket(ticket)
    ticket.refresh_from_db()
    assert ticket.team == network.default_team
    assert ticket.assignee == other_agent
    assert AutomationEvent.objects.filter(subject_id=str(ticket.pk), action="ai.triage.applied").count() == 2


def test_auto_mode_applies_its_suggestions_as_one_edit(make_ticket, network, other_agent, field_mode):
    for field in ("category", "urgency", "team", "assignee"):
        field_mode(field, "auto", threshold=0.1)
    ticket = make_ticket("VPN down", description="vpn firewall wifi, urgent please")
    rows = TicketAudit.objects.filter(pgh_obj=ticket).count()
    do_triage_ticket(ticket)
    ticket.refresh_from_db()
    assert (ticket.category, ticket.team, ticket.assignee) == (network, network.default_team, other_agent)
    assert ticket.version == 2
    (edit,) = TicketAudit.objects.filter(pgh_obj=ticket).order_by("pgh_id")[rows:]
    assert (edit.category_id, edit.team_id, edit.assignee_id) == (
        network.pk,
        network.default_team_id,
        other_agent.pk,
    )
    assert edit.pgh_context["actor"] == "system:ai"
    applied = AutomationEvent.objects.filter(subject_id=str(ticket.pk), action="ai.triage.applied")
    assert {event.after["label"] for event in applied} >= {network.name}
    assert (
        applied.count() == TriageResult.objects.filter(ticket=ticket, status=SuggestionStatus.APPLIED).count()
    )


# --- outcomes --------------------------------------------------------------------------------------
def test_resolving_compares_predictions_with_the_final_values(make_ticket, network, printing, agent):
    ticket = make_ticket("VPN down", description="vpn error")
    do_triage_ticket(ticket)
    do_update_ticket(ticket, actor=agent, fields={"category": printing})  # the agent disagreed
    do_transition_ticket(ticket, "resolved", actor=agent, resolution="fixed")
    results = results_by_field(ticket)
    assert results["category"].correct is False
    assert results["category"].final_value == str(printing.pk)
    assert results["urgency"].correct is True  # medium stayed medium
    assert results["urgency"].evaluated_at is not None
    assert do_record_outcome(ticket) == 0  # nothing changed since: nothing rewritten


# --- trained models -----------------------------------------------------------------------------------
def test_training_on_resolved_tickets_replaces_the_rules(
    history, train_settings, make_ticket, network, other_team
):
    past = history()
    model, outcome = do_train_models()
    assert model is not None and model.version == 1 and model.is_active
    assert model.training_rows["category"] == len(past)
    assert set(outcome.models) == {"category", "urgency", "team"}  # every ticket has impact medium
    assert "impact" in outcome.skipped
    assert 0 <= outcome.metrics["category"]["held_out_accuracy"] <= 1
    ticket = make_ticket("VPN gateway unreachable", description="vpn client cannot connect to the gateway")
    do_triage_ticket(ticket)
    results = results_by_field(ticket)
    category = results["category"]
    assert category.method == "model"
    assert category.model_version == "model-v1"
    assert category.predicted_value == str(network.pk)
    numbers = {t.number for t in past}
    cited = [item["ticket"] for item in category.evidence["similar"]]
    assert cited and set(cited) <= numbers
    assert cited[0] in category.reasoning
    assert "vpn" in category.evidence["terms"]
    assert results["team"].predicted_value == str(other_team.pk)
    assert results["impact"].method == "rules"
    assert "no impact yet" in results["impact"].reasoning
    assert category.latency_ms > 0


def test_training_needs_enough_history(history, make_ticket, network):
    history(copies=1)  # 12 tickets, below the default 50
    model, outcome = do_train_models()
    assert model is None
    assert "category" in outcome.skipped
    assert not TriageModel.objects.exists()


def test_retraining_makes_a_new_version_only_with_new_data(history, train_settings):
    history(copies=2)
    first, _ = do_train_models()
    again, outcome = do_train_models()
    assert again is None and outcome is None  # nothing resolved since
    forced, _ = do_train_models(force=True)
    assert forced.version == first.version + 1
    assert list(TriageModel.objects.active().values_list("version", flat=True)) == [forced.version]


# --- sentence embeddings in the trained models ---------------------------------------------------
@pytest.fixture
def embeddings_down(settings):
    """An OpenAI-compatible embeddings endpoint on a port where nothing listens."""
    settings.AI_EMBEDDINGS_PROVIDER = "openai"
    settings.AI_EMBEDDINGS_BASE_URL = "http://127.0.0.1:9/v1"
    settings.AI_EMBEDDINGS_TIMEOUT = 0.5
    settings.AI_LLM_RETRIES = 0
    settings.AI_LLM_RETRY_BACKOFF = 0
    return settings


def test_trained_models_read_the_ticket_embedding(history, train_settings, make_ticket, network):
    import numpy as np

    from ai.triage.text import ticket_text, title_text

    history()
    model, outcome = do_train_models()
    classifier = outcome.models["category"].classifier
    assert classifier.config.embedding_weight == 1.0
    assert classifier.embedding_dimensions_ == 384
    assert outcome.notes == []
    text = ticket_text("VPN gateway unreachable", "the vpn client cannot connect")
    vector = predict.ticket_vector(text, outcome.models)
    assert vector.shape == (1, 384) and abs(float(np.linalg.norm(vector)) - 1) < 1e-3
    with_vector = classifier.predict_proba([text], [title_text("VPN gateway unreachable")], embeddings=vector)
    without = classifier.predict_proba(
        [text], [title_text("VPN gateway unreachable")], embeddings=np.zeros((1, 384))
    )
    assert not np.allclose(with_vector, without)  # the embedding is evidence the SVM weighs
    ticket = make_ticket("VPN gateway unreachable", description="the vpn client cannot connect")
    do_triage_ticket(ticket)
    assert results_by_field(ticket)["category"].predicted_value == str(network.pk)


def test_training_goes_on_with_words_alone_when_the_embeddings_provider_is_down(
    history, train_settings, make_ticket, network, embeddings_down
):
    history()
    model, outcome = do_train_models()
    assert model is not None
    assert outcome.models["category"].classifier.config.embedding_weight == 0.0
    assert outcome.notes and "without sentence embeddings" in outcome.notes[0]
    assert model.metrics["notes"] == outcome.notes
    ticket = make_ticket("VPN gateway unreachable", description="the vpn client cannot connect")
    do_triage_ticket(ticket)
    category = results_by_field(ticket)["category"]
    assert category.method == "model" and category.predicted_value == str(network.pk)


def test_triage_decides_on_the_words_when_the_provider_goes_down_after_training(
    history, train_settings, make_ticket, network, settings
):
    history()
    do_train_models()
    settings.AI_EMBEDDINGS_PROVIDER = "openai"
    settings.AI_EMBEDDINGS_BASE_URL = "http://127.0.0.1:9/v1"
    settings.AI_EMBEDDINGS_TIMEOUT = 0.5
    settings.AI_LLM_RETRIES = 0
    ticket = make_ticket("VPN gateway unreachable", description="the vpn client cannot connect")
    do_triage_ticket(ticket)
    category = results_by_field(ticket)["category"]
    assert category.method == "model"
    assert category.predicted_value == str(network.pk)

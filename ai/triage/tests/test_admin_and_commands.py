"""The admin screens of triage and the ai_train command."""

import json

import pytest
from django.core.management import CommandError, call_command

from ai.triage import predict
from ai.triage.models import FieldSetting, TriageModel, TriageSettings
from conftest import PASSWORD


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    predict.forget_cached_bundle()
    yield
    predict.forget_cached_bundle()


def test_the_admin_lists_one_mode_per_field_defaulting_to_assist(client, admin_user):
    assert client.login(email=admin_user.email, password=PASSWORD)
    response = client.get("/admin/triage/triagesettings/")
    assert response.status_code == 200
    modes = dict(FieldSetting.objects.values_list("field", "mode"))
    assert modes == {field: "assist" for field in ("category", "impact", "urgency", "team", "assignee")}
    settings_row = TriageSettings.load()
    page = client.get(f"/admin/triage/triagesettings/{settings_row.pk}/change/")
    assert page.status_code == 200
    assert "fields-0-mode" in page.content.decode()


def test_an_admin_switches_a_field_to_auto_and_a_bad_threshold_is_refused(client, admin_user):
    assert client.login(email=admin_user.email, password=PASSWORD)
    client.get("/admin/triage/triagesettings/")
    settings_row = TriageSettings.load()
    rows = list(FieldSetting.objects.order_by("field"))
    form = {
        "min_training_tickets": 50,
        "target_precision": 0.95,
        "retrain_automatically": "on",
        "sentiment_action": "tag",
        "sentiment_threshold": -0.5,
        "sentiment_tiers": "enterprise",
        "attention_tag": "attention",
        "fields-TOTAL_FORMS": len(rows),
        "fields-INITIAL_FORMS": len(rows),
        "fields-MIN_NUM_FORMS": 0,
        "fields-MAX_NUM_FORMS": len(rows),
    }
    for index, row in enumerate(rows):
        form.update(
            {
                f"fields-{index}-id": row.pk,
                f"fields-{index}-triage_settings": settings_row.pk,
                f"fields-{index}-mode": "auto" if row.field == "category" else row.mode,
                f"fields-{index}-threshold": 1.5 if row.field == "category" else row.threshold,
            }
        )
    url = f"/admin/triage/triagesettings/{settings_row.pk}/change/"
    refused = client.post(url, form)
    assert refused.status_code == 200  # the form again, with the error
    assert FieldSetting.for_field("category").mode == "assist"
    index = next(i for i, row in enumerate(rows) if row.field == "category")
    form[f"fields-{index}-threshold"] = 0.93
    assert client.post(url, form).status_code == 302
    category = FieldSetting.for_field("category")
    assert (category.mode, category.threshold) == ("auto", 0.93)


def test_the_admin_shows_models_and_results(client, admin_user, history, train_settings):
    history(copies=2)
    call_command("ai_train")
    assert client.login(email=admin_user.email, password=PASSWORD)
    for url in (
        "/admin/triage/triagemodel/",
        "/admin/triage/triageresult/",
        "/admin/triage/messagesentiment/",
    ):
        assert client.get(url).status_code == 200
    model = TriageModel.objects.get()
    assert client.get(f"/admin/triage/triagemodel/{model.pk}/change/").status_code == 200


def test_ai_train_prints_what_it_learned(history, train_settings, capsys):
    history(copies=2)
    call_command("ai_train")
    out = capsys.readouterr().out
    assert "category: 24 tickets, 2 classes, held-out accuracy" in out
    assert "impact: keyword rules" in out
    assert "Activated model-v1" in out
    call_command("ai_train", "--if-new-data")
    assert "nothing to do" in capsys.readouterr().out
    assert TriageModel.objects.count() == 1


def test_ai_train_json_and_too_little_history(history, capsys):
    history(copies=1)  # 12 tickets; 50 needed by default
    call_command("ai_train", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["version"] is None
    assert "12 resolved tickets with a category, 50 needed" in summary["skipped"]["category"]
    assert not TriageModel.objects.exists()


def test_ai_train_refuses_a_bad_limit():
    with pytest.raises(CommandError, match="--limit must be a positive number"):
        call_command("ai_train", "--limit", "0")


def test_an_admin_rolls_back_to_an_older_version(client, admin_user, history, train_settings):
    history(copies=2)
    call_command("ai_train")
    call_command("ai_train")
    first = TriageModel.objects.get(version=1)
    assert client.login(email=admin_user.email, password=PASSWORD)
    client.post("/admin/triage/triagemodel/", {"action": "activate", "_selected_action": [first.pk]})
    assert list(TriageModel.objects.active().values_list("version", flat=True)) == [1]

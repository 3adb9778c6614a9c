"""The local planner on the evaluation set over the demo data (ai/copilot/evaluation.py)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from ai.copilot import evaluation

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(minilm):
    from sla.defaults import ensure_defaults

    ensure_defaults()
    call_command("seed_demo", verbosity=0)


def describe(score: evaluation.Score) -> str:
    return "\n".join(
        f"{result.question!r}: intent {result.intent} {result.tools} status {result.status}, "
        f"missing {result.missing}, leaked {result.leaked}\n    {result.answer[:300]!r}"
        for result in score.failures()
    )


def test_it_answers_the_in_scope_questions_and_declines_the_others(demo):
    assert len(evaluation.CASES) >= 60
    score = evaluation.evaluate()
    assert score.in_scope_correct >= 0.9, describe(score)
    assert score.intent_accuracy >= 0.9, describe(score)
    assert score.fact_recall >= 0.9, describe(score)
    assert score.declined_out_of_scope == 1.0, describe(score)
    # Whatever else, no case leaks what its asker may not see.
    assert not [result for result in score.results if result.leaked], describe(score)


def test_the_command_prints_the_scores_and_records_the_runs(demo, capsys):
    from ai.copilot.models import CopilotRun

    call_command("copilot_evaluate")
    out = capsys.readouterr().out
    print(out)
    assert "intent accuracy" in out
    assert "answer-fact recall" in out
    assert CopilotRun.objects.count() == len(evaluation.CASES)


def test_the_command_refuses_a_database_without_the_demo(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="seed_demo"):
        call_command("copilot_evaluate")

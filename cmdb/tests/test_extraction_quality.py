"""Extraction measured on the labelled set: precision and recall stay above the floor measured
when the set was written (``bench/cmdb_extract.py`` prints the same figures)."""

import pytest

from cmdb import evaluation, extraction
from cmdb.tests.extraction_cases import CASES, ITEMS

pytestmark = pytest.mark.django_db

# Measured on the 128 texts: items 0.982 / 0.973, unknown hosts 0.933 / 0.824.
ITEMS_PRECISION, ITEMS_RECALL = 0.98, 0.97
HOSTS_PRECISION, HOSTS_RECALL = 0.93, 0.82


def run(text: str) -> tuple[set[str], set[str]]:
    found = extraction.extract({"description": text})
    return found.item_names(), found.host_names()


def test_the_labelled_set_is_large_and_names_only_known_items():
    assert len(CASES) >= 100
    names = {values["name"] for values in ITEMS}
    assert all(expected <= names for _text, expected, _hosts in CASES)
    assert sum(1 for _text, expected, hosts in CASES if not expected and not hosts) >= 20  # near-misses


def test_precision_and_recall_stay_above_the_measured_floor(estate):
    result = evaluation.evaluate(CASES, run)
    print(result.summary())  # noqa: T201 - shown with -s
    assert result.items.precision >= ITEMS_PRECISION, result.mistakes
    assert result.items.recall >= ITEMS_RECALL, result.mistakes
    assert result.hosts.precision >= HOSTS_PRECISION, result.mistakes
    assert result.hosts.recall >= HOSTS_RECALL, result.mistakes


def test_the_figures_count_what_they_should():
    figures = evaluation.Figures()
    figures.add({"a", "b"}, {"b", "c"})
    assert (figures.true_positives, figures.false_positives, figures.false_negatives) == (1, 1, 1)
    assert figures.precision == 0.5 and figures.recall == 0.5

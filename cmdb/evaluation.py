"""Precision and recall of extraction on a labelled set (``cmdb/tests/extraction_cases.py``).

Items are compared by name, unknown hosts by host name, micro-averaged over all cases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class Figures:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0

    def add(self, predicted: set[str], expected: set[str]) -> None:
        self.true_positives += len(predicted & expected)
        self.false_positives += len(predicted - expected)
        self.false_negatives += len(expected - predicted)


@dataclass
class Evaluation:
    cases: int = 0
    items: Figures = field(default_factory=Figures)
    hosts: Figures = field(default_factory=Figures)
    mistakes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.cases} labelled texts: items precision {self.items.precision:.3f} "
            f"recall {self.items.recall:.3f} ({self.items.true_positives} found, "
            f"{self.items.false_positives} wrong, {self.items.false_negatives} missed); unknown hosts "
            f"precision {self.hosts.precision:.3f} recall {self.hosts.recall:.3f} "
            f"({self.hosts.true_positives} found, {self.hosts.false_positives} wrong, "
            f"{self.hosts.false_negatives} missed)"
        )


def evaluate(
    cases: Iterable[tuple[str, set[str], set[str]]], extract: Callable[[str], tuple[set[str], set[str]]]
) -> Evaluation:
    result = Evaluation()
    for text, expected_items, expected_hosts in cases:
        items, hosts = extract(text)
        result.cases += 1
        result.items.add(items, expected_items)
        result.hosts.add(hosts, expected_hosts)
        if items != expected_items or hosts != expected_hosts:
            result.mistakes.append(
                f"{text!r}: items {sorted(items)} (expected {sorted(expected_items)}), "
                f"hosts {sorted(hosts)} (expected {sorted(expected_hosts)})"
            )
    return result

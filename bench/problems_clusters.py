"""Recurrence detection: which similarity finds the clusters of a labelled fixture best.

    .venv/bin/python bench/problems_clusters.py

Loads the labelled incidents of ``problems/tests/cluster_cases.py`` (37 incidents in 9 causes,
each reported in different words and sometimes under different categories, plus 16 unrelated
incidents), then for each combination of trigram similarity (on the title, or title and
description), embeddings (the configured provider, local MiniLM by default, on title and
description) and the same-category rule, prints:

- pair precision and recall (a pair of incidents put in one cluster, against the labels), F1;
- clusters found: causes for which one detected cluster of at least 3 incidents holds at least
  60 % of the cause's incidents with at least 80 % purity; and false clusters (3 or more
  incidents, under 80 % purity).

Runs against the configured database inside one transaction that is rolled back at the end.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from itsm.models import Role, User  # noqa: E402
from problems import similarity  # noqa: E402
from problems.similarity import Method  # noqa: E402
from problems.tests.cluster_cases import CLUSTERS, NOISE, gold_pairs  # noqa: E402
from tickets.actions import do_create_ticket  # noqa: E402
from tickets.models import Category  # noqa: E402

METHODS = [
    Method(trigram=0.5, text="title", same_category=True),  # detection before this measurement
    Method(trigram=0.5, text="title", same_category=False),
    Method(trigram=0.3, text="title", same_category=False),
    Method(trigram=0.3, text="title+description", same_category=False),
    Method(trigram=None, cosine=0.5, same_category=False),
    Method(trigram=None, cosine=0.55, same_category=False),
    Method(trigram=None, cosine=0.6, same_category=False),
    Method(trigram=None, cosine=0.65, same_category=False),
    Method(trigram=None, cosine=0.7, same_category=False),
    Method(trigram=None, cosine=0.8, same_category=False),
    Method(trigram=0.5, text="title", cosine=0.6, same_category=False),
    Method(trigram=0.5, text="title", cosine=0.65, same_category=False),
    Method(trigram=0.5, text="title", cosine=0.7, same_category=False),
    Method(trigram=0.5, text="title", cosine=0.6, same_category=True),
]


class Rollback(Exception):
    pass


def load() -> tuple[dict[str, list[int]], list[int]]:
    requester = User.objects.create_user(email="bench.clusters@example.com", password=None, role=Role.USER)
    categories: dict[str, Category] = {}

    def category(name: str) -> Category:
        if name not in categories:
            categories[name] = Category.objects.get_or_create(name=f"bench {name}")[0]
        return categories[name]

    by_label: dict[str, list[int]] = {}
    for label, category_name, title, description in CLUSTERS:
        ticket = do_create_ticket(
            actor=None,
            requester=requester,
            title=title,
            description=description,
            category=category(category_name),
        )
        by_label.setdefault(label, []).append(ticket.pk)
    noise = []
    for category_name, title, description in NOISE:
        ticket = do_create_ticket(
            actor=None,
            requester=requester,
            title=title,
            description=description,
            category=category(category_name),
        )
        noise.append(ticket.pk)
    return by_label, noise


def measure(method: Method, since, by_label: dict[str, list[int]]) -> dict[str, float]:
    gold = gold_pairs(by_label)
    label_of = {pk: label for label, ids in by_label.items() for pk in ids}
    found = similarity.clusters(similarity.similar_pairs(since, method))
    predicted = set()
    for cluster in found:
        members = sorted(cluster)
        for index, left in enumerate(members):
            for right in members[index + 1 :]:
                predicted.add(frozenset((left, right)))
    true = len(predicted & gold)
    precision = true / len(predicted) if predicted else 0.0
    recall = true / len(gold)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    recovered, false_clusters = set(), 0
    for cluster in found:
        if len(cluster) < 3:
            continue
        labels = [label_of.get(pk) for pk in cluster]
        top = max(set(labels), key=labels.count)
        purity = labels.count(top) / len(cluster)
        if purity < 0.8 or top is None:
            false_clusters += 1
        elif labels.count(top) / len(by_label[top]) >= 0.6:
            recovered.add(top)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "found": len(recovered),
        "false": false_clusters,
    }


def main() -> None:
    since = timezone.now() - timezone.timedelta(minutes=5)
    try:
        with transaction.atomic():
            by_label, noise = load()
            registered = similarity.embedder()
            print(
                f"{sum(len(ids) for ids in by_label.values())} incidents in {len(by_label)} causes, "
                f"{len(noise)} unrelated ({registered.model() if registered else 'no embedder'})"
            )
            print(f"{'method':75} {'precision':>9} {'recall':>7} {'F1':>5} {'found':>6} {'false':>6}")
            for embedded_text in ("title+description", "title"):
                settings.PROBLEM_DETECTION_EMBEDDING_TEXT = embedded_text
                similarity.ensure_vectors([pk for ids in by_label.values() for pk in ids] + noise)
                for method in METHODS:
                    if method.cosine is None and embedded_text != "title+description":
                        continue  # trigram rows do not depend on the embedded text
                    if method.cosine is not None and registered is None:
                        continue
                    figures = measure(method, since, by_label)
                    label = method.label() + (f" [embedded: {embedded_text}]" if method.cosine else "")
                    print(
                        f"{label:75} {figures['precision']:9.2f} {figures['recall']:7.2f} "
                        f"{figures['f1']:5.2f} {figures['found']:>3}/{len(by_label)} {figures['false']:6}"
                    )
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main()

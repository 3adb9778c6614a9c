"""``ai_evaluate`` on small files shaped like the public datasets (the real run is in docs/triage.md)."""

import csv
import json
import random

import pytest
from django.core.management import CommandError, call_command

from ai.triage import evaluation
from ai.triage.classifier import TextClassifier

WORDS = {
    "GRP_0": ["password", "reset", "login", "locked", "account", "outlook"],
    "GRP_8": ["job", "failed", "scheduler", "abended", "batch", "monitoring"],
    "GRP_12": ["drucker", "etiketten", "halle", "scanner", "label", "printer"],
}


def write_ata(directory, rows_per_group=40, caller_leak=False):
    rng = random.Random(7)
    data, splits = [], []
    index = 0
    for group, words in WORDS.items():
        for _ in range(rows_per_group):
            row_id = f"A{index:04d}"
            short = " ".join(rng.sample(words, 3))
            body = f"received from: abcdefgh.ijklmnop@gmail.com\n\n{' '.join(rng.sample(words, 4))} {index}"
            caller = f"caller{group}" if caller_leak else "someone"
            data.append([row_id, short, body, caller, group])
            split = "test" if index % 5 == 0 else ("val" if index % 5 == 1 else "train")
            splits.append([row_id, f"k{index}", index % 100, split])
            index += 1
    with (directory / "ata_input_data.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row_id", "Short description", "Description", "Caller", "Assignment group"])
        writer.writerows(data)
    with (directory / "ata_input_data.splits.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row_id", "text_key", "bucket", "split"])
        writer.writerows(splits)


def write_endava(directory):
    rng = random.Random(3)
    categories = {
        "4": ["access", "permission", "account", "grant"],
        "5": ["laptop", "monitor", "cable", "dock"],
        "6": ["server", "restart", "memory", "cpu"],
    }
    data, splits = [], []
    for index in range(150):
        category = list(categories)[index % 3]
        words = categories[category]
        incident = index % 2 == 0
        urgency = ("1" if "restart" in words else "2") if incident else "3"
        row_id = f"H{index:05d}"
        data.append(
            [
                row_id,
                " ".join(rng.sample(words, 2)),
                " ".join(rng.sample(words, 3)),
                "0" if incident else "1",
                category,
                "1",
                "1",
                "1",
                urgency,
                "3" if incident else "4",
            ]
        )
        split = "test" if index % 5 == 0 else ("val" if index % 5 == 1 else "train")
        splits.append([row_id, f"k{index}", index % 100, split])
    with (directory / "endava_all_tickets_subset.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "row_id",
                "title",
                "body",
                "ticket_type",
                "category",
                "sub_category1",
                "sub_category2",
                "business_service",
                "urgency",
                "impact",
            ]
        )
        writer.writerows(data)
    with (directory / "endava_all_tickets_subset.splits.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row_id", "text_key", "bucket", "split"])
        writer.writerows(splits)


def json_lines(output):
    return [json.loads(line) for line in output.strip().splitlines()]


KEYS = {
    "field",
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "top3_accuracy",
    "threshold",
    "precision_at_threshold",
    "coverage_at_threshold",
    "train_rows",
    "test_rows",
}


def test_it_prints_one_json_object_per_field_for_ata(tmp_path, capsys):
    write_ata(tmp_path)
    call_command("ai_evaluate", "--dataset", "ata", "--data-dir", str(tmp_path), "--json", "--no-embeddings")
    lines = json_lines(capsys.readouterr().out)
    assert len(lines) == 1
    line = lines[0]
    assert set(line) == KEYS
    assert line["field"] == "assignment_group"
    assert line["test_rows"] == 24  # every fifth of 120 rows
    assert line["train_rows"] == 96  # train + val
    assert line["accuracy"] > 0.9  # separable words
    assert 0 <= line["coverage_at_threshold"] <= 1


def test_it_evaluates_category_and_priority_on_incidents_for_endava(tmp_path, capsys):
    write_endava(tmp_path)
    call_command(
        "ai_evaluate", "--dataset", "endava", "--data-dir", str(tmp_path), "--json", "--no-embeddings"
    )
    lines = {line["field"]: line for line in json_lines(capsys.readouterr().out)}
    assert list(lines) == ["category", "urgency", "impact"]
    assert lines["category"]["test_rows"] == 30
    # Urgency and impact: incidents only (every other row).
    assert lines["urgency"]["test_rows"] == 15
    assert lines["impact"]["test_rows"] == 15
    assert lines["urgency"]["top3_accuracy"] is None  # two classes: top-3 says nothing


def test_it_prints_a_readable_report(tmp_path, capsys):
    write_ata(tmp_path, rows_per_group=20)
    call_command("ai_evaluate", "--dataset", "ata", "--data-dir", str(tmp_path), "--no-embeddings")
    out = capsys.readouterr().out
    assert "ata assignment_group: test accuracy" in out
    assert "blend (chosen by cross-validation)" in out


def test_it_never_fits_on_test_rows(tmp_path, monkeypatch):
    write_ata(tmp_path)
    rows = evaluation.load_rows("ata", tmp_path)
    split_of = {row.row_id: row.split for row in rows}
    fitted: list[set[str]] = []
    real_fit = TextClassifier.fit

    def spy(self, texts, titles, labels, keys=None, embeddings=None):
        fitted.append(set(keys or []))
        return real_fit(self, texts, titles, labels, keys=keys, embeddings=embeddings)

    monkeypatch.setattr(TextClassifier, "fit", spy)
    stages = []
    evaluation.evaluate_dataset(
        "ata", tmp_path, on_fit=lambda stage, ids: stages.append((stage, set(ids))), embed=fake_embed
    )
    assert [stage for stage, _ids in stages] == ["tune"] * 5 + ["final"]
    train_and_val = {i for i, split in split_of.items() if split in ("train", "val")}
    # The folds cover train + val, each row held out once; the final fit is on all of it.
    assert all(ids < train_and_val for _stage, ids in stages[:5])
    assert set.union(*[train_and_val - ids for _stage, ids in stages[:5]]) == train_and_val
    assert stages[5][1] == train_and_val
    assert len(fitted) == 6
    for ids in fitted:
        assert ids, "every fit names its rows"
        assert not any(split_of[i] == "test" for i in ids)


def fake_embed(texts):
    """A stand-in sentence model for the small files: one direction per topic word."""
    import numpy as np

    axes = {word: i for i, word in enumerate(sorted({w for words in WORDS.values() for w in words}))}
    vectors = np.full((len(texts), len(axes)), 0.01, dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.split():
            if word in axes:
                vectors[row, axes[word]] += 1
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_embedding_members_take_part_when_vectors_are_given(tmp_path):
    write_ata(tmp_path)
    with_vectors = evaluation.evaluate_dataset("ata", tmp_path, embed=fake_embed)[0]
    without = evaluation.evaluate_dataset("ata", tmp_path)[0]
    assert with_vectors.embeddings and not without.embeddings
    assert "embedding" not in without.blend
    assert with_vectors.accuracy > 0.9


def test_the_same_texts_are_embedded_once_then_read_from_the_cache(tmp_path):
    import numpy as np

    calls = []

    def embed(texts):
        calls.append(len(texts))
        return fake_embed(texts)

    cached = evaluation.cached_embeddings(embed, tmp_path / "cache", "model-a", batch=2)
    first = cached(["job failed", "password reset", "printer label"])
    assert calls == [2, 1]  # in batches
    again = cached(["job failed", "password reset", "printer label"])
    assert calls == [2, 1]
    assert np.array_equal(first, again)
    cached(["job failed", "password reset", "printer labels"])  # one text changed: computed anew
    assert calls == [2, 1, 2, 1]
    evaluation.cached_embeddings(embed, tmp_path / "cache", "model-b", batch=2)(["job failed"])
    assert calls[-1] == 1  # another model never reads the first one's vectors
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3


def test_the_command_embeds_with_the_configured_provider_and_caches(tmp_path, capsys, settings, monkeypatch):
    from ai.triage.management.commands import ai_evaluate

    settings.AI_EVALUATION_CACHE_DIR = str(tmp_path / "cache")
    write_ata(tmp_path, rows_per_group=20)
    seen = []
    monkeypatch.setattr(
        ai_evaluate, "embed_texts", lambda texts: seen.append(len(texts)) or fake_embed(texts)
    )
    call_command("ai_evaluate", "--dataset", "ata", "--data-dir", str(tmp_path), "--jobs", "2")
    out = capsys.readouterr()
    assert "with embeddings" in out.out
    assert sum(seen) == 60
    call_command("ai_evaluate", "--dataset", "ata", "--data-dir", str(tmp_path), "--jobs", "1")
    assert sum(seen) == 60  # read back from the cache
    assert "read from" in capsys.readouterr().err


def test_an_unavailable_embeddings_provider_is_a_clear_error(tmp_path, settings):
    settings.AI_EMBEDDINGS_PROVIDER = "openai"
    settings.AI_EMBEDDINGS_BASE_URL = ""
    write_ata(tmp_path, rows_per_group=5)
    with pytest.raises(CommandError, match="AI_EMBEDDINGS_BASE_URL.*--no-embeddings"):
        call_command("ai_evaluate", "--dataset", "ata", "--data-dir", str(tmp_path))


def test_it_never_reads_the_caller_column(tmp_path):
    write_ata(tmp_path, caller_leak=True)
    rows = evaluation.load_rows("ata", tmp_path)
    assert not any("caller" in row.text for row in rows)
    assert not any("abcdefgh" in row.text for row in rows)  # the sender's address is dropped too
    assert all(set(row.values) == {"Assignment group"} for row in rows)


def test_macro_f1_counts_only_classes_with_five_test_rows():
    import numpy as np

    truth = np.array(["a"] * 5 + ["b"] * 5 + ["rare"] * 2)
    predicted = np.array(["a"] * 5 + ["b"] * 5 + ["a"] * 2)
    # "rare" (2 rows) is left out; a has 5 right + 2 false positives.
    assert evaluation.macro_f1(truth, predicted) == pytest.approx((2 * 5 / (2 * 5 + 2) + 1.0) / 2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dataset", "ata", "--data-dir", "/nonexistent/dir"], "is not a directory"),
        (["--dataset", "ata"], "--data-dir is required"),
        (["--dataset", "ata", "--data-dir", "{tmp}", "--field", "category"], "Unknown field"),
        (["--dataset", "endava", "--data-dir", "{tmp}"], "is missing"),
        (["--dataset", "ata", "--data-dir", "{tmp}", "--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_it_explains_bad_arguments(tmp_path, arguments, message, settings):
    settings.AI_TRIAGE_DATA_DIR = ""
    write_ata(tmp_path, rows_per_group=5)
    arguments = [argument.replace("{tmp}", str(tmp_path)) for argument in arguments]
    with pytest.raises(CommandError, match=message):
        call_command("ai_evaluate", *arguments)


def test_it_refuses_an_unknown_dataset():
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("ai_evaluate", "--dataset", "nope", "--data-dir", "/tmp")


def test_it_names_a_missing_column(tmp_path):
    write_ata(tmp_path, rows_per_group=5)
    path = tmp_path / "ata_input_data.csv"
    content = path.read_text().replace("Assignment group", "Group", 1)
    path.write_text(content)
    with pytest.raises(CommandError, match="lacks the column"):
        call_command("ai_evaluate", "--dataset", "ata", "--data-dir", str(tmp_path))


def test_it_names_a_row_without_split(tmp_path):
    write_ata(tmp_path, rows_per_group=5)
    path = tmp_path / "ata_input_data.splits.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(CommandError, match="has no split"):
        call_command("ai_evaluate", "--dataset", "ata", "--data-dir", str(tmp_path))


def test_the_fast_metrics_agree_with_scikit_learn():
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, top_k_accuracy_score

    rng = np.random.default_rng(1)
    classes = np.array(["a", "b", "c", "d", "e"])
    truth = classes[rng.integers(0, 5, 300)]
    probabilities = rng.dirichlet(np.ones(5), 300)
    predicted = classes[probabilities.argmax(axis=1)]
    figures = evaluation.scores(probabilities, truth, classes)
    assert figures["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert figures["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert figures["weighted_f1"] == pytest.approx(f1_score(truth, predicted, average="weighted"))
    assert figures["top3_accuracy"] == pytest.approx(
        top_k_accuracy_score(truth, probabilities, k=3, labels=classes)
    )


def test_folds_are_grouped_by_the_published_split_key(tmp_path):
    import hashlib

    expected = hashlib.sha1(b"vpn down\x1fbody text").hexdigest()[:16]  # noqa: S324 - the data README's key
    assert evaluation.split_key("VPN  Down", "Body\ntext") == expected
    write_ata(tmp_path)
    path = tmp_path / "ata_input_data.csv"
    with path.open(newline="") as handle:
        records = list(csv.reader(handle))
    # A0002 and A0003 (both train) become the same ticket, written in another case: one group.
    records[4][1:3] = [records[3][1].upper(), records[3][2]]
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(records)
    rows = evaluation.load_rows("ata", tmp_path)
    assert rows[2].group == rows[3].group != rows[4].group
    stages = []
    evaluation.evaluate_dataset("ata", tmp_path, on_fit=lambda stage, ids: stages.append((stage, set(ids))))
    held_together = [(rows[2].row_id in ids) == (rows[3].row_id in ids) for _stage, ids in stages[:5]]
    assert all(held_together)

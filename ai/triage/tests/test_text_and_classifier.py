"""The text cleaning and the classifier, without the database."""

import numpy as np
import pytest

from ai.triage.classifier import (
    ClassifierConfig,
    Member,
    TextClassifier,
    TopLabelCalibrator,
    choose_threshold,
    expected_calibration_error,
    tune_blend,
)
from ai.triage.text import clean_body, language_of, repair_mojibake, ticket_text

NETWORK = ["vpn tunnel down", "cannot reach vpn gateway", "wifi keeps dropping", "network switch port dead",
           "vpn client error 809", "wifi access point offline", "firewall blocks vpn", "network cable unplugged"]
PRINTING = ["printer jammed on floor 3", "toner empty in printer", "printer queue stuck", "cannot print pdf",
            "printer offline again", "print job disappears", "replace toner cartridge", "printer paper jam"]


def toy_rows():
    texts = [ticket_text(t, "") for t in NETWORK + PRINTING]
    titles = NETWORK + PRINTING
    labels = ["network"] * len(NETWORK) + ["printing"] * len(PRINTING)
    return texts, titles, labels


def test_it_drops_mail_headers_personal_addresses_and_signatures():
    body = ("\n\nreceived from: abcdefgh.ijklmnop@gmail.com\n\nhello team,\nmy vpn does not connect.\n"
            "best regards\nJohn Smith\nSenior Engineer")
    cleaned = clean_body(body)
    assert "abcdefgh" not in cleaned
    assert "vpn does not connect" in cleaned
    assert "Senior Engineer" not in cleaned


def test_it_keeps_the_name_of_a_system_sender():
    cleaned = clean_body("received from: monitoring_tool@company.com\njob failed")
    assert "job failed" in cleaned
    assert "monitoring_tool" in cleaned
    assert "abcdefgh" not in clean_body("received from: abcdefgh.ijklmnop@gmail.com\njob failed")
    assert "ccperson" not in clean_body("cc: ccperson@example.com\nvpn down")  # other header lines go


def test_it_repairs_latin1_mojibake_and_marks_german():
    assert repair_mojibake("drucker fÃ¼r halle") == "drucker für halle"
    text = ticket_text("drucker funktioniert nicht", "bitte um hilfe, der drucker ist kaputt")
    assert text.endswith("zzlangde")
    assert language_of("the printer is broken") == "en"


def test_it_replaces_numbers_and_adds_the_ticket_type():
    text = ticket_text("Job 4711 failed at 08/13/16", "", ticket_type="service_request")
    assert "4711" not in text
    assert text.endswith("zztypeservice_request")


def test_it_learns_and_explains_a_toy_problem():
    texts, titles, labels = toy_rows()
    keys = [f"INC-{i:06d}" for i in range(len(texts))]
    classifier = TextClassifier().fit(texts, titles, labels, keys=keys)
    query = ticket_text("vpn gateway unreachable", "")
    probabilities = classifier.predict_proba([query], ["vpn gateway unreachable"])
    assert probabilities.shape == (1, 2)
    assert classifier.classes_[probabilities.argmax()] == "network"
    assert probabilities.sum() == pytest.approx(1.0)
    neighbours = classifier.neighbours(query, k=2)
    assert neighbours[0][0] in keys[: len(NETWORK)]
    assert "vpn" in classifier.decisive_terms(query, "network")


def test_it_handles_a_single_class():
    classifier = TextClassifier().fit(["a b", "a c"], ["a", "a"], ["x", "x"])
    assert classifier.predict_proba(["a"], ["a"]).tolist() == [[1.0]]


def test_it_refuses_to_fit_nothing():
    with pytest.raises(ValueError, match="Nothing to train on"):
        TextClassifier().fit([], [], [])


def test_the_blend_tuner_prefers_the_member_that_is_right_on_held_out_rows():
    texts, titles, labels = toy_rows()
    config = ClassifierConfig(members=[Member("svm", class_weight_power=0.0), Member("memory")])
    classifier = TextClassifier(config).fit(texts, titles, labels)
    held_texts = [ticket_text("vpn down for everybody", ""), ticket_text("toner low", "")]
    held_labels = ["network", "printing"]

    def objective(probabilities, targets, classes):
        accuracy = float(np.mean(classes[probabilities.argmax(axis=1)] == np.array(held_labels)))
        return accuracy, {"accuracy": accuracy}

    choice = tune_blend(classifier, held_texts, ["vpn down for everybody", "toner low"], held_labels, objective)
    weights = {member.kind: member.weight for member in choice.members}
    # The exact-text memory knows none of these texts; the SVM must carry the blend.
    assert weights["svm"] == 1.0
    assert choice.report["accuracy"] == 1.0


def test_calibration_maps_scores_to_observed_accuracy():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.3, 1.0, 2000)
    # The raw scores are over-confident: the true chance of being right is score - 0.2.
    correct = rng.uniform(0, 1, 2000) < (scores - 0.2)
    calibrator = TopLabelCalibrator().fit(scores, correct)
    calibrated = calibrator.transform(scores)
    assert expected_calibration_error(calibrated, correct) < expected_calibration_error(scores, correct)
    assert calibrator.transform(np.array([0.9]))[0] == pytest.approx(0.7, abs=0.08)


def test_the_threshold_is_the_lowest_confidence_reaching_the_target_precision():
    confidence = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.5, 0.4, 0.3])
    correct = np.array([1, 1, 1, 1, 1, 0, 1, 0])
    assert choose_threshold(confidence, correct, target=0.95, min_rows=3) == 0.95
    assert choose_threshold(confidence, correct, target=0.95, min_rows=6) == 1.01  # never reached with 6 rows


def test_a_pickled_classifier_predicts_the_same_in_half_the_space():
    import pickle

    texts, titles, labels = toy_rows()
    classifier = TextClassifier().fit(texts, titles, labels)
    restored = pickle.loads(pickle.dumps(classifier))  # noqa: S301 - our own bytes
    assert next(iter(restored.svms_.values())).coef_.dtype == np.float32
    assert next(iter(classifier.svms_.values())).coef_.dtype == np.float64  # the live model is untouched
    query = [ticket_text("printer toner empty", "")]
    assert np.allclose(restored.predict_proba(query, ["printer toner empty"]),
                       classifier.predict_proba(query, ["printer toner empty"]), atol=1e-3)

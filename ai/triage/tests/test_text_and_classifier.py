"""The text cleaning and the classifier, without the database."""

import numpy as np
import pytest

from ai.triage.classifier import (
    CONSERVATIVE_Z,
    ClassifierConfig,
    Member,
    TextClassifier,
    TopLabelCalibrator,
    choose_threshold,
    expected_calibration_error,
    tune_blend,
    wilson_lower_bound,
)
from ai.triage.text import clean_body, language_of, repair_mojibake, ticket_text

NETWORK = [
    "vpn tunnel down",
    "cannot reach vpn gateway",
    "wifi keeps dropping",
    "network switch port dead",
    "vpn client error 809",
    "wifi access point offline",
    "firewall blocks vpn",
    "network cable unplugged",
]
PRINTING = [
    "printer jammed on floor 3",
    "toner empty in printer",
    "printer queue stuck",
    "cannot print pdf",
    "printer offline again",
    "print job disappears",
    "replace toner cartridge",
    "printer paper jam",
]


def toy_rows():
    texts = [ticket_text(t, "") for t in NETWORK + PRINTING]
    titles = NETWORK + PRINTING
    labels = ["network"] * len(NETWORK) + ["printing"] * len(PRINTING)
    return texts, titles, labels


def test_it_drops_mail_headers_personal_addresses_and_signatures():
    body = (
        "\n\nreceived from: abcdefgh.ijklmnop@gmail.com\n\nhello team,\nmy vpn does not connect.\n"
        "best regards\nJohn Smith\nSenior Engineer"
    )
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
    held_labels = np.array(["network", "printing"])
    probabilities = classifier.member_probabilities_by_temperature(
        held_texts, ["vpn down for everybody", "toner low"], (2.0, 5.0)
    )

    def objective(blended):
        accuracy = float(np.mean(classifier.classes_[blended.argmax(axis=1)] == held_labels))
        return accuracy, {"accuracy": accuracy}

    choice = tune_blend(probabilities, config.members, objective)
    weights = {member.kind: member.weight for member in choice.members}
    # The exact-text memory knows none of these texts; the SVM must carry the blend.
    assert weights["svm"] == 1.0
    assert choice.report["accuracy"] == 1.0
    assert choice.temperature in (2.0, 5.0)


def test_probabilities_by_temperature_only_sharpen_the_svms():
    texts, titles, labels = toy_rows()
    config = ClassifierConfig(members=[Member("svm"), Member("knn", k=3, space="char"), Member("nb")])
    classifier = TextClassifier(config).fit(texts, titles, labels)
    query = [ticket_text("vpn gateway down", "")]
    by_temperature = classifier.member_probabilities_by_temperature(query, ["vpn gateway down"], (1.0, 20.0))
    svm = config.members[0].name
    assert by_temperature[20.0][svm].max() > by_temperature[1.0][svm].max()
    for name in (config.members[1].name, config.members[2].name):
        assert np.allclose(by_temperature[1.0][name], by_temperature[20.0][name])
    direct = classifier.member_probabilities(query, ["vpn gateway down"], temperature=20.0)
    assert np.allclose(direct[svm], by_temperature[20.0][svm])
    assert classifier.classes_[by_temperature[1.0][config.members[2].name].argmax()] == "network"


def _toy_embeddings(texts):
    """Two directions, one per topic, as a sentence model would place them."""
    vectors = np.array(
        [
            [1.0, 0.1, 0.0] if ("vpn" in t or "network" in t or "wifi" in t) else [0.1, 1.0, 0.0]
            for t in texts
        ],
        dtype=np.float32,
    )
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_embedding_members_vote_in_embedding_space_and_need_the_vectors():
    texts, titles, labels = toy_rows()
    config = ClassifierConfig(
        members=[Member("svm"), Member("knn", k=3, space="embedding", similarity_power=6)],
        embedding_weight=1.0,
    )
    assert config.needs_embeddings
    with pytest.raises(ValueError, match="uses text embeddings"):
        TextClassifier(config).fit(texts, titles, labels)
    classifier = TextClassifier(config).fit(texts, titles, labels, embeddings=_toy_embeddings(texts))
    query = [ticket_text("wifi unusable", "")]
    with pytest.raises(ValueError, match="uses text embeddings"):
        classifier.predict_proba(query, ["wifi unusable"])
    with pytest.raises(ValueError, match="2 embeddings for 1 texts"):
        classifier.predict_proba(query, ["wifi unusable"], embeddings=_toy_embeddings(query * 2))
    members = classifier.member_probabilities(query, ["wifi unusable"], embeddings=_toy_embeddings(query))
    knn = members[config.members[1].name][0]
    assert classifier.classes_[knn.argmax()] == "network"
    assert knn.max() > 0.99  # similarity ** 6: the far topic's votes all but vanish
    # The SVMs saw the embedding columns: their weights span the TF-IDF blocks and 3 more.
    svm = next(iter(classifier.svms_.values()))
    tfidf_width = sum(
        v.transform(["x"]).shape[1] for v in (classifier.word_, classifier.title_, classifier.char_)
    )
    assert svm.coef_.shape[1] == tfidf_width + 3


def test_a_model_pickled_before_the_new_members_still_loads():
    import pickle

    texts, titles, labels = toy_rows()
    classifier = TextClassifier(ClassifierConfig(members=[Member("svm")])).fit(texts, titles, labels)
    state = classifier.__getstate__()
    del state["nbs_"], state["train_embeddings_"]
    old = TextClassifier.__new__(TextClassifier)
    old.__setstate__(pickle.loads(pickle.dumps(state)))  # noqa: S301 - our own bytes
    assert old.predict_proba([ticket_text("toner low", "")], ["toner low"]).shape == (1, 2)


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


def test_the_conservative_threshold_wants_the_precision_above_target_with_confidence():
    rng = np.random.default_rng(4)
    confidence = np.sort(rng.uniform(0.5, 1.0, 4000))[::-1]
    # Right with a probability equal to the confidence: rows above 0.95 are right ~97.5%.
    correct = rng.uniform(0, 1, 4000) < confidence
    plain = choose_threshold(confidence, correct, target=0.95)
    careful = choose_threshold(confidence, correct, target=0.95, z=CONSERVATIVE_Z)
    assert careful > plain
    covered = confidence >= careful
    assert correct[covered].mean() > 0.95
    assert wilson_lower_bound(correct[covered].sum(), covered.sum(), CONSERVATIVE_Z) >= 0.95
    # Five right answers out of five are not enough evidence for 95%.
    assert (
        choose_threshold(np.array([0.99] * 5), np.ones(5), target=0.95, min_rows=1, z=CONSERVATIVE_Z) == 1.01
    )


def test_the_wilson_bound_is_below_the_observed_proportion_and_tightens_with_rows():
    small = wilson_lower_bound(19, 20, CONSERVATIVE_Z)
    large = wilson_lower_bound(1900, 2000, CONSERVATIVE_Z)
    assert small < large < 0.95
    assert large == pytest.approx(0.9437, abs=0.002)


def test_a_pickled_classifier_predicts_the_same_in_half_the_space():
    import pickle

    texts, titles, labels = toy_rows()
    classifier = TextClassifier().fit(texts, titles, labels)
    restored = pickle.loads(pickle.dumps(classifier))  # noqa: S301 - our own bytes
    assert next(iter(restored.svms_.values())).coef_.dtype == np.float32
    assert next(iter(classifier.svms_.values())).coef_.dtype == np.float64  # the live model is untouched
    query = [ticket_text("printer toner empty", "")]
    assert np.allclose(
        restored.predict_proba(query, ["printer toner empty"]),
        classifier.predict_proba(query, ["printer toner empty"]),
        atol=1e-3,
    )

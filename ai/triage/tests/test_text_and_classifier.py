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


def test_the_members_are_named_by_their_settings():
    from ai.triage.classifier import Member

    assert Member("svm", class_weight_power=0.5, c=2).name == "svm(power=0.5,C=2)"
    assert Member("knn", k=5, space="char").name == "knn(char,k=5)"
    assert Member("knn", k=5, space="embedding", similarity_power=6).name == "knn(embedding,k=5,p=6)"
    assert Member("nb", alpha=0.3).name == "nb(alpha=0.3)"
    assert Member("memory").name == "memory"
    default = Member("svm")
    assert (default.weight, default.class_weight_power, default.c, default.k) == (1.0, 0.0, 0.5, 10)
    assert (default.space, default.similarity_power, default.alpha) == ("word", 1.0, 0.1)


def test_the_default_method_is_the_one_documented():
    config = ClassifierConfig()
    assert [member.name for member in config.members] == [
        "svm(power=0,C=0.5)",
        "svm(power=1,C=0.5)",
        "knn(char,k=10)",
    ]
    assert [member.weight for member in config.members] == [1.0, 1.0, 0.5]
    assert (config.temperature, config.char_ngrams, config.char_max_features) == (5.0, True, 150_000)
    assert (config.title_features, config.word_max_features, config.word_min_df) == (True, None, 1)
    assert (config.title_max_features, config.embedding_weight, config.needs_embeddings) == (None, 0.0, False)
    # A k-NN vote in embedding space needs the vectors, unless its weight is nil.
    knn = Member("knn", space="embedding")
    assert ClassifierConfig(members=[knn]).needs_embeddings
    assert not ClassifierConfig(members=[Member("knn", 0.0, space="embedding")]).needs_embeddings
    assert not ClassifierConfig(members=[Member("knn", space="char")]).needs_embeddings


def test_softmax_fingerprints_and_row_normalising():
    from ai.triage.classifier import _row_normalise, softmax, text_fingerprint

    probabilities = softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]), temperature=1.0)
    assert np.allclose(probabilities, [[0.25, 0.75], [0.5, 0.5]])
    assert softmax(np.array([[0.0, np.log(3.0)]]), temperature=2.0)[0, 1] == pytest.approx(0.9)
    assert text_fingerprint("vpn  down\n") == text_fingerprint("vpn down") != text_fingerprint("vpn up")
    assert len(text_fingerprint("vpn down")) == 16
    assert _row_normalise(np.array([[1.0, 3.0], [0.0, 0.0]])).tolist() == [[0.25, 0.75], [0.0, 0.0]]


def test_the_blend_is_the_weighted_mean_of_the_members_that_vote():
    from ai.triage.classifier import blend

    members = [Member("svm", 3.0), Member("memory", 1.0), Member("nb", 0.0)]
    probabilities = {
        "svm(power=0,C=0.5)": np.array([[1.0, 0.0]]),
        "memory": np.array([[0.0, 1.0]]),
        "nb(alpha=0.1)": np.array([[0.0, 1.0]]),
    }
    assert blend(probabilities, members).tolist() == [[0.75, 0.25]]
    assert blend(probabilities, [members[0], Member("knn")]).tolist() == [[1.0, 0.0]]  # knn gave nothing
    with pytest.raises(ValueError, match="no member with a positive weight"):
        blend(probabilities, [members[2]])


def test_the_memory_recalls_exact_texts_and_the_neighbours_their_keys():
    texts, titles, labels = toy_rows()
    keys = [f"INC-{i:06d}" for i in range(len(texts))]
    config = ClassifierConfig(members=[Member("memory")])
    classifier = TextClassifier(config).fit(texts, titles, labels, keys=keys)
    probabilities = classifier.predict_proba([texts[0], texts[-1], "zzz"], ["", "", ""])
    assert probabilities.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    neighbours = classifier.neighbours(texts[0], k=1)
    assert [(key, label) for key, label, _similarity in neighbours] == [(keys[0], "network")]
    assert neighbours[0][2] == pytest.approx(1.0)
    assert len(classifier.neighbours(texts[0], k=3)) == 3
    assert classifier.neighbours("qwerty", k=3) == []  # nothing similar enough
    assert TextClassifier().neighbours("vpn") == []  # not fitted


def test_the_decisive_terms_are_few_distinct_words_for_the_label():
    texts, titles, labels = toy_rows()
    classifier = TextClassifier().fit(texts, titles, labels)
    query = ticket_text("vpn gateway down, vpn client error on the wifi network", "")
    terms = classifier.decisive_terms(query, "network", n=2)
    assert len(terms) == 2 and "vpn" in terms
    assert all(a not in b for a in terms for b in terms if a != b)
    assert classifier.decisive_terms(query, "printing", n=3) != terms
    assert classifier.decisive_terms(query, "hardware") == []
    assert TextClassifier().decisive_terms(query, "network") == []


def test_the_calibrator_needs_ten_rows_and_both_outcomes():
    scores = np.linspace(0.5, 1.0, 20)
    assert TopLabelCalibrator().fit(scores[:9], np.arange(9) % 2).isotonic is None
    assert TopLabelCalibrator().fit(scores, np.ones(20)).isotonic is None
    assert TopLabelCalibrator().fit(scores, np.zeros(20)).transform(np.array([0.7])).tolist() == [0.7]
    fitted = TopLabelCalibrator().fit(scores[:10], np.arange(10) % 2)
    assert fitted.isotonic is not None and fitted.rows == 10


def test_the_calibration_error_of_known_bins():
    confidence = np.array([0.95, 0.95, 0.15, 0.15])
    correct = np.array([1, 0, 0, 0])
    # Bin 9: said 0.95, right half the time; bin 1: said 0.15, never right.
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.5 * 0.45 + 0.5 * 0.15)
    assert expected_calibration_error(np.array([1.0]), np.array([1])) == 0.0  # 1.0 falls in the last bin
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_the_threshold_never_cuts_between_equal_confidences():
    confidence = np.array([0.9, 0.8, 0.8, 0.7])
    correct = np.array([1, 1, 0, 0])
    # 0.9 alone is right, but the first cut of two rows would split the two 0.8s: not taken.
    assert choose_threshold(confidence, correct, target=1.0, min_rows=1) == 0.9
    assert choose_threshold(confidence, correct, target=1.0, min_rows=2) == 1.01
    assert choose_threshold(confidence, correct, target=2 / 3, min_rows=2) == 0.8
    assert choose_threshold(np.array([0.9, 0.8]), np.array([1, 1]), target=1.0, min_rows=2) == 0.8


def test_the_wilson_bound_of_known_counts():
    assert wilson_lower_bound(np.array(8), np.array(10), 1.96) == pytest.approx(0.4902, abs=1e-4)
    assert wilson_lower_bound(np.array(0), np.array(0), 1.96) == pytest.approx(0.0)


def test_the_tuned_weights_are_scaled_to_a_top_of_one():
    members = [Member("svm"), Member("memory")]
    probabilities = {
        1.0: {"svm(power=0,C=0.5)": np.array([[0.6, 0.4]]), "memory": np.array([[0.0, 1.0]])},
    }

    def objective(blended):
        # Best when the first class gets 0.4: svm weight a, memory weight b, 0.6a/(a+b) = 0.4.
        score = -abs(float(blended[0, 0]) - 0.4)
        return score, {"score": score}

    choice = tune_blend(probabilities, members, objective, weights=(0.0, 0.5, 1.0), rounds=4, starts=2)
    assert [member.weight for member in choice.members] == [1.0, 0.5]
    assert choice.temperature == 1.0
    assert choice.score == pytest.approx(0.0)


def test_the_tuner_may_change_the_temperature_alone():
    members = [Member("svm"), Member("memory")]
    probabilities = {
        1.0: {"svm(power=0,C=0.5)": np.array([[0.6, 0.4]]), "memory": np.array([[0.6, 0.4]])},
        5.0: {"svm(power=0,C=0.5)": np.array([[0.8, 0.2]]), "memory": np.array([[0.2, 0.8]])},
    }

    def objective(blended):
        # Only the equal blend at 5.0 gives the first class 0.5; no single weight change does.
        score = -abs(float(blended[0, 0]) - 0.5)
        return score, {"score": score}

    choice = tune_blend(probabilities, members, objective, weights=(0.0, 0.5, 1.0), starts=1)
    assert (choice.temperature, [m.weight for m in choice.members]) == (5.0, [1.0, 1.0])
    assert choice.score == pytest.approx(0.0)


def test_the_tuner_ignores_gains_within_its_tolerance():
    members = [Member("svm"), Member("memory")]
    probabilities = {1.0: {"svm(power=0,C=0.5)": np.array([[1.0, 0.0]]), "memory": np.array([[0.0, 1.0]])}}

    def objective(blended):
        score = 0.0 if blended[0, 0] == 0.5 else 1e-9  # the equal blend, or a gain of 1e-9 at most
        return score, {"score": score}

    for starts in (1, 3):
        choice = tune_blend(probabilities, members, objective, weights=(0.0, 0.5, 1.0), starts=starts)
        assert [m.weight for m in choice.members] == [1.0, 1.0]


def test_the_features_are_the_documented_n_grams():
    import inspect

    texts, titles, labels = toy_rows()
    classifier = TextClassifier().fit(texts, titles, labels)
    word, title, char = classifier.word_, classifier.title_, classifier.char_
    assert (word.ngram_range, word.min_df, word.sublinear_tf, word.dtype) == ((1, 2), 1, True, np.float32)
    assert (title.ngram_range, title.token_pattern) == ((1, 2), word.token_pattern)
    assert (char.analyzer, char.ngram_range, char.min_df, char.max_features) == (
        "char_wb",
        (2, 5),
        2,
        150_000,
    )
    assert "vp" in char.vocabulary_  # a two-letter piece of "vpn"
    defaults = inspect.signature(tune_blend).parameters
    assert defaults["weights"].default == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert (defaults["rounds"].default, defaults["starts"].default) == (4, 3)


def test_a_one_neighbour_vote_goes_to_the_nearest_row():
    texts, titles, labels = toy_rows()
    for space in ("word", "char"):
        config = ClassifierConfig(members=[Member("knn", k=1, space=space)])
        classifier = TextClassifier(config).fit(texts, titles, labels)
        query = [ticket_text("toner empty in the printer", ""), ticket_text("vpn gateway down", "")]
        assert classifier.predict_proba(query, ["", ""]).tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_the_threshold_defaults_to_95_percent_over_at_least_20_rows():
    confidence = np.linspace(0.99, 0.80, 40)
    correct = np.ones(40)
    correct[20:] = 0  # right above 0.89, wrong below
    correct[1] = 0  # one miss among the first 20: 95 % exactly
    assert choose_threshold(confidence, correct) == pytest.approx(confidence[19])
    assert choose_threshold(confidence[:19], np.ones(19)) == 1.01  # 19 rows are too few, even all right


def test_it_keeps_only_the_estimators_its_members_use():
    texts, titles, labels = toy_rows()
    classifier = TextClassifier().fit(texts, titles, labels)
    assert sorted(classifier.svms_) == ["svm(power=0,C=0.5)", "svm(power=1,C=0.5)"]
    assert classifier.nbs_ == {}
    config = ClassifierConfig(members=[Member("nb"), Member("knn", space="word")])
    only_nb = TextClassifier(config).fit(texts, titles, labels)
    assert (list(only_nb.nbs_), only_nb.svms_, only_nb.train_char_) == (["nb(alpha=0.1)"], {}, None)


def test_a_k_nn_member_of_k_0_still_asks_one_neighbour():
    texts, titles, labels = toy_rows()
    config = ClassifierConfig(members=[Member("knn", k=0, space="word")])
    classifier = TextClassifier(config).fit(texts, titles, labels)
    assert classifier.predict_proba([texts[0]], [""]).tolist() == [[1.0, 0.0]]

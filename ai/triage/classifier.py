"""The triage classifier: linear SVMs and nearest-neighbour votes on word and character
TF-IDF, blended, with top-label calibration of the confidence.

Pure scikit-learn and numpy, no Django: ``ai_evaluate`` (public datasets), ``ai_train`` (the
organisation's own tickets) and ``POST /api/ai/classify/`` all go through ``TextClassifier``.

Method (chosen by cross-validated measurement on the public datasets; docs/triage.md):

* features: word 1–2-grams of the whole text, word 1–2-grams of the title alone (the title
  is the densest evidence), character 2–5-grams inside words (typos, German compounds,
  product codes such as ``job_scheduler``), all sublinear TF-IDF, fitted once per training;
  optionally the text's sentence embedding (MiniLM), appended with ``embedding_weight``;
* members: linear SVMs on those features with class weights ``(n / (k·n_c)) ** power``
  (power 0 favours accuracy, 1 rare classes, i.e. macro-F1), their margins turned into
  probabilities by a softmax; cosine k-NN votes over the training tickets in character or
  embedding space (which also give the evidence shown to agents: "like INC-000123");
  complement naive Bayes on the words; a memory of exact (normalised) texts;
* the blend: a weighted mean of the members' probabilities; ``tune_blend`` picks the
  weights and the softmax temperature on held-out (out-of-fold) rows;
* calibration: ``TopLabelCalibrator`` maps the blend's top probability to the observed
  probability of being right (isotonic regression on held-out rows), so a stated 0.9 is
  right about 9 times in 10; ``choose_threshold`` picks the lowest confidence whose
  held-out precision reaches the target (0.95 by default), conservatively: the lower end
  of the precision's 90% interval must reach it.
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

WORD_PATTERN = r"(?u)\b\w+\b"


@dataclass
class Member:
    """One voter of the blend: ``kind`` is ``svm``, ``knn``, ``nb`` or ``memory``."""

    kind: str
    weight: float = 1.0
    class_weight_power: float = 0.0  # svm
    c: float = 0.5  # svm
    k: int = 10  # knn
    space: str = "word"  # knn: "word", "char" or "embedding"
    similarity_power: float = 1.0  # knn: a neighbour votes with similarity ** power
    alpha: float = 0.1  # nb: additive smoothing

    @property
    def name(self) -> str:
        if self.kind == "svm":
            return f"svm(power={self.class_weight_power:g},C={self.c:g})"
        if self.kind == "knn":
            power = f",p={self.similarity_power:g}" if self.similarity_power != 1 else ""
            return f"knn({self.space},k={self.k}{power})"
        if self.kind == "nb":
            return f"nb(alpha={self.alpha:g})"
        return self.kind


@dataclass
class ClassifierConfig:
    members: list[Member] = field(
        default_factory=lambda: [
            Member("svm", 1.0, class_weight_power=0.0),
            Member("svm", 1.0, class_weight_power=1.0),
            Member("knn", 0.5, k=10, space="char"),
        ]
    )
    temperature: float = 5.0
    char_ngrams: bool = True
    char_max_features: int = 150_000
    title_features: bool = True
    # Caps keep the stored model small in the product (None: every n-gram seen).
    word_max_features: int | None = None
    word_min_df: int = 1
    title_max_features: int | None = None
    # Sentence embeddings of the text (MiniLM by default) appended to the SVMs' features with
    # this weight (0: none). A model that uses embeddings must be handed them to fit and predict.
    embedding_weight: float = 0.0

    @property
    def needs_embeddings(self) -> bool:
        return self.embedding_weight > 0 or any(
            m.kind == "knn" and m.space == "embedding" and m.weight > 0 for m in self.members
        )


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    scaled = scores * temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def text_fingerprint(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:16]  # noqa: S324 - a key, not security


def _row_normalise(matrix: np.ndarray) -> np.ndarray:
    sums = matrix.sum(axis=1, keepdims=True)
    sums[sums == 0] = 1
    return matrix / sums


@dataclass
class TextClassifier:
    """Fit on (text, title, label) rows; ``predict_proba`` gives blended probabilities."""

    config: ClassifierConfig = field(default_factory=ClassifierConfig)

    def __post_init__(self) -> None:
        self.classes_: np.ndarray = np.array([])
        self.word_: TfidfVectorizer | None = None
        self.title_: TfidfVectorizer | None = None
        self.char_: TfidfVectorizer | None = None
        self.svms_: dict[str, LinearSVC] = {}
        self.train_word_: sparse.csr_matrix | None = None
        self.train_char_: sparse.csr_matrix | None = None
        self.train_embeddings_: np.ndarray | None = None
        self.embedding_dimensions_: int = 0
        self.nbs_: dict[str, ComplementNB] = {}
        self.train_targets_: np.ndarray = np.array([], dtype=int)
        self.train_keys_: list[object] = []
        self.memory_: dict[str, Counter] = {}

    # --- features -----------------------------------------------------------------------
    def _vectoriser(self, **options: object) -> TfidfVectorizer:
        return TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **options)

    def _fit_features(self, texts: Sequence[str], titles: Sequence[str]) -> dict[str, sparse.csr_matrix]:
        config = self.config
        self.word_ = self._vectoriser(
            ngram_range=(1, 2),
            token_pattern=WORD_PATTERN,
            max_features=config.word_max_features,
            min_df=config.word_min_df,
        )
        blocks = {"word": self.word_.fit_transform(texts)}
        if config.title_features:
            self.title_ = self._vectoriser(
                ngram_range=(1, 2), token_pattern=WORD_PATTERN, max_features=config.title_max_features
            )
            blocks["title"] = self.title_.fit_transform(titles)
        if self.config.char_ngrams:
            self.char_ = self._vectoriser(
                analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=self.config.char_max_features
            )
            blocks["char"] = self.char_.fit_transform(texts)
        return blocks

    def _features(self, texts: Sequence[str], titles: Sequence[str]) -> dict[str, sparse.csr_matrix]:
        assert self.word_ is not None, "fit() first"
        blocks = {"word": self.word_.transform(texts)}
        if self.title_ is not None:
            blocks["title"] = self.title_.transform(titles)
        if self.char_ is not None:
            blocks["char"] = self.char_.transform(texts)
        return blocks

    def _stack(
        self, blocks: dict[str, sparse.csr_matrix], embeddings: np.ndarray | None = None
    ) -> sparse.csr_matrix:
        parts = list(blocks.values())
        if self.config.embedding_weight > 0:
            parts.append(
                sparse.csr_matrix(self._checked(embeddings, parts[0].shape[0]) * self.config.embedding_weight)
            )
        return sparse.hstack(parts, format="csr")

    def _checked(self, embeddings: np.ndarray | None, rows: int) -> np.ndarray:
        if embeddings is None:
            raise ValueError("This model uses text embeddings: pass them to fit and predict.")
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.shape[0] != rows:
            raise ValueError(f"{embeddings.shape[0]} embeddings for {rows} texts.")
        return embeddings

    # --- fit ----------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        titles: Sequence[str],
        labels: Sequence[object],
        keys: Sequence[object] | None = None,
        embeddings: np.ndarray | None = None,
    ) -> TextClassifier:
        """``keys`` name the training rows (ticket numbers, dataset row ids) for the evidence;
        ``embeddings`` (one normalised vector per text) are needed when the config uses them."""
        labels_array = np.asarray([str(label) for label in labels])
        if len(labels_array) == 0:
            raise ValueError("Nothing to train on.")
        self.classes_ = np.unique(labels_array)
        # The estimators see class indices: scikit-learn reads labels such as "4" as integers
        # in class_weight, and indices keep every member's columns in the order of classes_.
        targets = np.searchsorted(self.classes_, labels_array)
        self.train_targets_ = targets
        self.train_keys_ = list(keys) if keys is not None else list(range(len(labels_array)))
        blocks = self._fit_features(texts, titles)
        self.train_word_ = normalize(blocks["word"])
        # The character matrix of the training rows is large: kept only for a k-NN member on it.
        needs_char = any(m.kind == "knn" and m.space == "char" for m in self.config.members)
        self.train_char_ = normalize(blocks["char"]) if "char" in blocks and needs_char else None
        needs_vectors = any(m.kind == "knn" and m.space == "embedding" for m in self.config.members)
        if self.config.needs_embeddings:
            embeddings = self._checked(embeddings, len(labels_array))
            self.embedding_dimensions_ = int(embeddings.shape[1])
        # Half precision: the vectors of the training rows are kept for the k-NN vote only.
        self.train_embeddings_ = (
            np.asarray(normalize(embeddings), dtype=np.float16) if needs_vectors else None
        )
        memory: dict[str, Counter] = defaultdict(Counter)
        for text, target in zip(texts, targets, strict=True):
            memory[text_fingerprint(text)][int(target)] += 1
        self.memory_ = dict(memory)
        if len(self.classes_) < 2:
            return self
        features = self._stack(blocks, embeddings)
        counts = np.bincount(targets, minlength=len(self.classes_))
        for member in self.config.members:
            if member.kind == "nb" and member.name not in self.nbs_:
                self.nbs_[member.name] = ComplementNB(alpha=member.alpha).fit(
                    self._nb_features(blocks), targets
                )
            if member.kind != "svm" or member.name in self.svms_:
                continue
            weights = {
                index: (len(targets) / (len(counts) * count)) ** member.class_weight_power
                for index, count in enumerate(counts)
            }
            self.svms_[member.name] = LinearSVC(C=member.c, class_weight=weights, random_state=0).fit(
                features, targets
            )
        return self

    # --- predict ------------------------------------------------------------------------
    @staticmethod
    def _nb_features(blocks: dict[str, sparse.csr_matrix]) -> sparse.csr_matrix:
        return sparse.hstack([blocks[name] for name in ("word", "title") if name in blocks], format="csr")

    def member_probabilities(
        self,
        texts: Sequence[str],
        titles: Sequence[str],
        temperature: float | None = None,
        embeddings: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Each member's probabilities per class (columns: ``classes_``)."""
        temperature = self.config.temperature if temperature is None else temperature
        return self.member_probabilities_by_temperature(texts, titles, [temperature], embeddings)[temperature]

    def member_probabilities_by_temperature(
        self,
        texts: Sequence[str],
        titles: Sequence[str],
        temperatures: Sequence[float],
        embeddings: np.ndarray | None = None,
    ) -> dict[float, dict[str, np.ndarray]]:
        """``member_probabilities`` at several softmax temperatures; every member runs once
        (the temperature only turns the SVMs' margins into probabilities)."""
        n, width = len(texts), len(self.classes_)
        if width == 1:
            ones = {member.name: np.ones((n, 1)) for member in self.config.members}
            return {temperature: ones for temperature in temperatures}
        if self.config.needs_embeddings:
            embeddings = self._checked(embeddings, n)
        blocks = self._features(texts, titles)
        features = None
        margins: dict[str, np.ndarray] = {}
        fixed: dict[str, np.ndarray] = {}
        for member in self.config.members:
            if member.name in margins or member.name in fixed:
                continue
            if member.kind == "svm":
                if features is None:
                    features = self._stack(blocks, embeddings)
                margins[member.name] = self.svm_margins(member.name, features)
            elif member.kind == "knn":
                fixed[member.name] = self._knn(blocks, member, embeddings)
            elif member.kind == "nb":
                fixed[member.name] = self.nbs_[member.name].predict_proba(self._nb_features(blocks))
            elif member.kind == "memory":
                fixed[member.name] = self._memory(texts)
        return {
            temperature: {**fixed, **{name: softmax(m, temperature) for name, m in margins.items()}}
            for temperature in temperatures
        }

    def svm_margins(self, name: str, features: sparse.csr_matrix) -> np.ndarray:
        margins = self.svms_[name].decision_function(features)
        if margins.ndim == 1:  # two classes: one column, for the second class
            margins = np.column_stack([-margins, margins])
        return margins

    def predict_proba(
        self, texts: Sequence[str], titles: Sequence[str], embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        probabilities = self.member_probabilities(texts, titles, embeddings=embeddings)
        return blend(probabilities, self.config.members)

    def _knn(
        self, blocks: dict[str, sparse.csr_matrix], member: Member, embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        if member.space == "embedding" and self.train_embeddings_ is not None:
            query = normalize(self._checked(embeddings, blocks["word"].shape[0]))
            similarity = query @ self.train_embeddings_.astype(np.float32).T
        else:
            if member.space == "char" and self.train_char_ is not None:
                query, train = normalize(blocks["char"]), self.train_char_
            else:
                query, train = normalize(blocks["word"]), self.train_word_
            similarity = (query @ train.T).toarray()
        k = max(1, min(member.k, similarity.shape[1]))
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        rows = np.repeat(np.arange(similarity.shape[0]), k)
        scores = np.zeros((similarity.shape[0], len(self.classes_)))
        votes = np.maximum(similarity[rows, top.ravel()], 0) ** member.similarity_power
        np.add.at(scores, (rows, self.train_targets_[top].ravel()), votes)
        return _row_normalise(scores)

    def _memory(self, texts: Sequence[str]) -> np.ndarray:
        scores = np.zeros((len(texts), len(self.classes_)))
        for row, text in enumerate(texts):
            for target, count in self.memory_.get(text_fingerprint(text), {}).items():
                scores[row, target] = count
        return _row_normalise(scores)

    # --- evidence -----------------------------------------------------------------------
    def neighbours(self, text: str, k: int = 3) -> list[tuple[object, str, float]]:
        """The ``k`` most similar training rows by words: (key, label, cosine similarity)."""
        if self.word_ is None or self.train_word_ is None:
            return []
        vector = normalize(self.word_.transform([text]))
        similarity = (vector @ self.train_word_.T).toarray().ravel()
        order = np.argsort(-similarity)[:k]
        return [
            (self.train_keys_[i], str(self.classes_[self.train_targets_[i]]), float(similarity[i]))
            for i in order
            if similarity[i] > 0.05
        ]

    def _word_names(self) -> np.ndarray:
        # get_feature_names_out() rebuilds the whole list each call: keep it once per process.
        names = self.__dict__.get("_names_cache")
        if names is None:
            names = self.word_.get_feature_names_out()
            self.__dict__["_names_cache"] = names
        return names

    def __getstate__(self) -> dict:
        """Pickled compactly: SVM weights in half precision (restored to single on load)."""
        state = dict(self.__dict__)
        state.pop("_names_cache", None)
        compact = {}
        for name, svm in self.svms_.items():
            clone = copy.copy(svm)
            clone.coef_ = np.asarray(svm.coef_, dtype=np.float16)
            compact[name] = clone
        state["svms_"] = compact
        return state

    def __setstate__(self, state: dict) -> None:
        # Models pickled before the embedding and naive Bayes members existed load unchanged.
        state.setdefault("train_embeddings_", None)
        state.setdefault("nbs_", {})
        state.setdefault("embedding_dimensions_", 0)
        self.__dict__.update(state)
        for svm in self.svms_.values():
            svm.coef_ = np.asarray(svm.coef_, dtype=np.float32)

    def decisive_terms(self, text: str, label: str, n: int = 4) -> list[str]:
        """Words of ``text`` that pushed the SVMs most towards ``label`` (weight × TF-IDF)."""
        if not self.svms_ or self.word_ is None or label not in set(self.classes_):
            return []
        svm = next(iter(self.svms_.values()))
        index = int(np.searchsorted(self.classes_, label))
        row = (svm.coef_[0] if index == 1 else -svm.coef_[0]) if svm.coef_.shape[0] == 1 else svm.coef_[index]
        vector = self.word_.transform([text]).tocoo()
        contributions = sorted(
            ((float(row[j] * value), int(j)) for j, value in zip(vector.col, vector.data, strict=True)),
            reverse=True,
        )
        names = self._word_names()
        terms: list[str] = []
        for weight, j in contributions:
            if weight <= 0 or len(terms) >= n:
                break
            term = str(names[j])
            if term in {"0", "zzemail", "zzurl"} or term.startswith("zz"):
                continue
            if any(term in kept or kept in term for kept in terms):
                continue
            terms.append(term)
        return terms


def blend(probabilities: dict[str, np.ndarray], members: Sequence[Member]) -> np.ndarray:
    total = None
    weight_sum = 0.0
    for member in members:
        if member.weight <= 0 or member.name not in probabilities:
            continue
        part = member.weight * probabilities[member.name]
        total = part if total is None else total + part
        weight_sum += member.weight
    if total is None:
        raise ValueError("The blend has no member with a positive weight.")
    return _row_normalise(total / weight_sum)


# --- tuning on held-out rows ---------------------------------------------------------------------
@dataclass
class BlendChoice:
    members: list[Member]
    temperature: float
    score: float
    report: dict[str, float]


def tune_blend(
    probabilities: dict[float, dict[str, np.ndarray]],
    members: Sequence[Member],
    objective: Callable[[np.ndarray], tuple[float, dict[str, float]]],
    weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    rounds: int = 4,
    starts: int = 3,
) -> BlendChoice:
    """Member weights and softmax temperature that maximise ``objective`` on held-out rows.

    ``probabilities[temperature][member.name]`` are the members' probabilities for rows none
    of them was fitted on (out-of-fold or a validation split); ``objective(blended)`` returns
    (score, figures). Coordinate ascent (a full grid over seven members and five weights
    would be 78,000 blends): from the equal blend and from the ``starts`` - 1 best single
    members, change one weight (or the temperature) at a time while the score improves;
    the best end point wins.
    """
    names = [member.name for member in members]

    def run(temperature: float, combination: Sequence[float]) -> BlendChoice:
        candidate = _weighted(members, combination)
        score, report = objective(blend(probabilities[temperature], candidate))
        return BlendChoice(candidate, temperature, score, report)

    singles = sorted(
        (
            run(temperature, [1.0 if j == i else 0.0 for j in range(len(names))])
            for temperature in probabilities
            for i in range(len(names))
        ),
        key=lambda choice: -choice.score,
    )
    first = next(iter(probabilities))
    beginnings = [run(first, [1.0] * len(names)), *singles[: max(0, starts - 1)]]
    best: BlendChoice | None = None
    for current in beginnings:
        for _ in range(rounds):
            improved = False
            for temperature in probabilities:
                for i in range(len(names)):
                    for weight in weights:
                        combination = [m.weight for m in current.members]
                        combination[i] = weight
                        if max(combination) <= 0 or (
                            temperature == current.temperature
                            and combination == [m.weight for m in current.members]
                        ):
                            continue
                        candidate = run(temperature, combination)
                        if candidate.score > current.score + 1e-9:
                            current, improved = candidate, True
            if not improved:
                break
        if best is None or current.score > best.score + 1e-9:
            best = current
    assert best is not None
    top = max(member.weight for member in best.members)
    best.members = [Member(**{**asdict(m), "weight": m.weight / top}) for m in best.members]
    return best


def _weighted(members: Sequence[Member], combination: Sequence[float]) -> list[Member]:
    return [Member(**{**asdict(m), "weight": w}) for m, w in zip(members, combination, strict=True)]


# --- calibration ------------------------------------------------------------------------------
@dataclass
class TopLabelCalibrator:
    """Maps the blend's top probability to P(top label is right), fitted on held-out rows."""

    isotonic: IsotonicRegression | None = None
    rows: int = 0

    def fit(self, top_scores: np.ndarray, correct: np.ndarray) -> TopLabelCalibrator:
        top_scores = np.asarray(top_scores, dtype=float)
        correct = np.asarray(correct, dtype=float)
        self.rows = len(top_scores)
        if self.rows >= 10 and 0 < correct.mean() < 1:
            self.isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
            self.isotonic.fit(top_scores, correct)
        return self

    def transform(self, top_scores: np.ndarray) -> np.ndarray:
        top_scores = np.asarray(top_scores, dtype=float)
        if self.isotonic is None:
            return top_scores
        return np.asarray(self.isotonic.predict(top_scores), dtype=float)


def wilson_lower_bound(successes: np.ndarray, trials: np.ndarray, z: float) -> np.ndarray:
    """Lower end of the Wilson score interval of a proportion (``z`` = 1.2816: one-sided 90%)."""
    successes = np.asarray(successes, dtype=float)
    trials = np.maximum(np.asarray(trials, dtype=float), 1.0)
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (centre - spread) / (1 + z * z / trials)


# One-sided 90%: the auto threshold is set where held-out precision is above the target with
# that confidence, not merely equal to it on the rows at hand (docs/triage.md).
CONSERVATIVE_Z = 1.2816


def choose_threshold(
    confidence: np.ndarray, correct: np.ndarray, target: float = 0.95, min_rows: int = 20, z: float = 0.0
) -> float:
    """The lowest confidence whose held-out precision (rows at or above it) reaches ``target``.

    With ``z`` > 0 the precision that must reach the target is the lower end of its Wilson
    interval, so a cut that reaches the target by the luck of a few rows is not taken.
    Returns 1.01 (never auto-apply) when no cut with at least ``min_rows`` rows reaches it.
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    order = np.argsort(-confidence, kind="stable")
    ordered = confidence[order]
    hits = np.cumsum(correct[order])
    trials = np.arange(1, len(order) + 1)
    precision = wilson_lower_bound(hits, trials, z) if z > 0 else hits / trials
    best = 1.01
    for i in range(len(order)):
        # Cut only between distinct confidences: equal ones are all in or all out.
        if i + 1 < len(order) and ordered[i + 1] == ordered[i]:
            continue
        if i + 1 >= min_rows and precision[i] >= target:
            best = float(ordered[i])
    return best


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Mean |stated confidence − observed accuracy| over equal-width bins, weighted by rows."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if len(confidence) == 0:
        return 0.0
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            error += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(error)

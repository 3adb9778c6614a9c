"""Sentiment of requester messages: a small lexicon model, English and French.

Each word or phrase of the lexicon has a valence from -4 (furious) to +3 (delighted). A
negation in the three words before flips and damps it ("not happy", "pas content"), an
intensifier before it multiplies it ("very", "vraiment"), shouting (a word in capitals,
several "!") makes the message stronger. The sum is squashed into [-1, 1] like VADER:
``s / sqrt(s² + 15)``. Enough to notice an angry customer; not a mind reader.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

from ai.triage.text import language_of, repair_mojibake

LEXICON: dict[str, float] = {
    # English, negative
    "angry": -3,
    "furious": -4,
    "livid": -4,
    "annoyed": -2,
    "annoying": -2,
    "frustrated": -3,
    "frustrating": -3,
    "disappointed": -2,
    "disappointing": -2,
    "unhappy": -2,
    "upset": -2,
    "terrible": -3,
    "horrible": -3,
    "awful": -3,
    "worst": -4,
    "useless": -3,
    "ridiculous": -3,
    "unacceptable": -4,
    "outrageous": -4,
    "disgrace": -4,
    "disgraceful": -4,
    "incompetent": -4,
    "pathetic": -3,
    "nightmare": -3,
    "hate": -3,
    "fed up": -3,
    "sick of": -3,
    "waste of time": -3,
    "still not": -2,
    "still broken": -3,
    "again": -1,
    "third time": -3,
    "no one": -1,
    "nobody": -1,
    "ignored": -3,
    "ignoring": -3,
    "cancel": -2,
    "complaint": -2,
    "complain": -2,
    "lawyer": -3,
    "legal action": -4,
    "escalate": -2,
    "poor": -2,
    "bad": -2,
    "slow": -1,
    "broken": -1,
    "fail": -1,
    "failed": -1,
    "failing": -1,
    "problem": -0.5,
    "issue": -0.3,
    "error": -0.5,
    "wrong": -1,
    "lost": -1,
    "losing money": -3,
    "unusable": -3,
    "shame": -2,
    "shocking": -3,
    "sloppy": -3,
    "joke": -2,
    "nonsense": -2,
    "damn": -2,
    "wtf": -3,
    # English, positive
    "thanks": 1,
    "thank you": 1.5,
    "great": 2,
    "excellent": 3,
    "perfect": 3,
    "awesome": 3,
    "good": 1.5,
    "happy": 2,
    "pleased": 2,
    "appreciate": 2,
    "appreciated": 2,
    "helpful": 2,
    "quick": 1,
    "fast": 1,
    "resolved": 1,
    "works": 1,
    "working now": 2,
    "love": 3,
    "fantastic": 3,
    "wonderful": 3,
    "kind": 1,
    # French, negative
    "furieux": -4,
    "furieuse": -4,
    "fâché": -3,
    "fâchée": -3,
    "énervé": -3,
    "énervée": -3,
    "agacé": -2,
    "agacée": -2,
    "déçu": -2,
    "déçue": -2,
    "décevant": -2,
    "mécontent": -3,
    "mécontente": -3,
    "inacceptable": -4,
    "inadmissible": -4,
    "scandaleux": -4,
    "honteux": -3,
    "nul": -3,
    "nulle": -3,
    "lamentable": -3,
    "catastrophe": -3,
    "catastrophique": -4,
    "pire": -3,
    "ras le bol": -3,
    "marre": -3,
    "toujours pas": -2,
    "encore": -1,
    "troisième fois": -3,
    "ignoré": -3,
    "ignorée": -3,
    "personne": -1,
    "plainte": -2,
    "avocat": -3,
    "inutile": -3,
    "lent": -1,
    "panne": -1,
    "cassé": -1,
    "problème": -0.5,
    "erreur": -0.5,
    "perdu": -1,
    "incompétent": -4,
    "incompétents": -4,
    "ridicule": -3,
    "n'importe quoi": -3,
    "insupportable": -3,
    # French, positive
    "merci": 1,
    "merci beaucoup": 2,
    "super": 2,
    "parfait": 3,
    "génial": 3,
    "bien": 1,
    "content": 2,
    "contente": 2,
    "ravi": 3,
    "ravie": 3,
    "rapide": 1,
    "efficace": 2,
    "résolu": 1,
    "fonctionne": 1,
    "apprécie": 2,
    "formidable": 3,
}
NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "don't",
        "dont",
        "doesn't",
        "isn't",
        "wasn't",
        "aren't",
        "can't",
        "cannot",
        "won't",
        "without",
        "pas",
        "jamais",
        "ni",
        "sans",
        "aucun",
        "aucune",
    }
)
INTENSIFIERS = {
    "very": 1.5,
    "really": 1.4,
    "extremely": 1.8,
    "totally": 1.5,
    "completely": 1.5,
    "so": 1.3,
    "absolutely": 1.6,
    "utterly": 1.8,
    "très": 1.5,
    "vraiment": 1.4,
    "extrêmement": 1.8,
    "totalement": 1.5,
    "complètement": 1.5,
    "tellement": 1.4,
    "si": 1.2,
    "trop": 1.3,
}
# Longest phrases first, so "thank you" wins over "thank".
_PHRASES = sorted((term for term in LEXICON if " " in term), key=len, reverse=True)
_WORD = re.compile(r"[\w'’-]+", re.UNICODE)
VERY_NEGATIVE = -0.5


@dataclass
class Sentiment:
    score: float
    label: str
    language: str
    terms: list[str] = field(default_factory=list)


def label_for(score: float, very_negative: float = VERY_NEGATIVE) -> str:
    if score <= very_negative:
        return "very_negative"
    if score < -0.05:
        return "negative"
    if score > 0.05:
        return "positive"
    return "neutral"


def score_text(text: str, very_negative: float = VERY_NEGATIVE) -> Sentiment:
    raw = unicodedata.normalize("NFC", repair_mojibake(text or ""))
    language = language_of(raw)
    shouting = sum(1 for word in re.findall(r"\b[A-Z]{4,}\b", raw))
    exclamations = min(raw.count("!"), 4)
    lowered = raw.lower().replace("’", "'")
    # Phrases become one token so they are scored once.
    for phrase in _PHRASES:
        lowered = re.sub(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", phrase.replace(" ", "_"), lowered)
    tokens = _WORD.findall(lowered)
    total = 0.0
    terms: list[str] = []
    for index, token in enumerate(tokens):
        term = token.replace("_", " ")
        valence = LEXICON.get(term)
        if valence is None:
            continue
        before = tokens[max(0, index - 3) : index]
        if any(word in NEGATIONS for word in before):
            valence = -valence * 0.7
        if before and before[-1] in INTENSIFIERS:
            valence *= INTENSIFIERS[before[-1]]
        total += valence
        terms.append(term)
    if total < 0:
        total *= 1 + 0.1 * exclamations + 0.15 * min(shouting, 3)
    elif total > 0:
        total *= 1 + 0.05 * exclamations
    score = total / math.sqrt(total * total + 15) if total else 0.0
    return Sentiment(round(score, 3), label_for(score, very_negative), language, terms[:12])

"""Ticket text as the classifiers see it: cleaned, normalised, with a language marker.

Pure functions, no Django: the evaluation command, the in-product models and the tests use
the same cleaning, so what is measured is what runs.

Mail-born tickets carry noise that says nothing about the problem and, worse, leaks who
wrote it (``received from: jdoe@…``, ``to:``/``cc:`` headers, signatures, legal
disclaimers). We drop those lines, replace personal addresses and numbers by placeholders,
repair the common UTF-8-read-as-Latin-1 damage (``fÃ¼r`` → ``für``) and add a ``zzlangde``
token to German text, which in practice routes to other teams than English text.
"""

from __future__ import annotations

import re
import unicodedata

# Header and boilerplate lines of forwarded mail: what follows them is about the sender.
_HEADER_LINE = re.compile(
    r"^\s*(received from|from|to|cc|bcc|sent|date|subject|betreff|von|an|gesendet|importance|wichtigkeit)\s*:.*$",
    re.IGNORECASE | re.MULTILINE,
)
_EMAIL = re.compile(r"\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b")
# Anonymised personal addresses look like ``abcdefgh.ijklmnop``: the part before @ is a person.
_PERSONAL_LOCAL_PART = re.compile(r"^[a-z]+\.[a-z]+$")
# "received from: x@y" says who sent the mail: a person (dropped) or a system (kept, it is evidence).
_RECEIVED_FROM = re.compile(r"^\s*received from:\s*(\S+@\S+)\s*$", re.IGNORECASE | re.MULTILINE)
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_CID = re.compile(r"\[cid:[^\]]*\]|\bcid:\S+", re.IGNORECASE)
# A short closing line; the rest of the message after it is a signature.
_SIGN_OFF = re.compile(
    r"^[ \t]*(best regards|kind regards|regards|best|thanks and regards|thank you|thanks|sincerely|cheers|"
    r"mit freundlichen gr(ü|ue)(ß|ss)en|freundliche gr(ü|ue)(ß|ss)e|viele gr(ü|ue)(ß|ss)e|gruss|gruß|"
    r"cordialement|bien cordialement|merci)\b[^\n]{0,30}$",
    re.IGNORECASE | re.MULTILINE,
)
_DISCLAIMER = re.compile(
    r"(this (e-?mail|message|communication) (and any attachments )?(is|may contain|contains) confidential"
    r"|diese (e-?mail|mitteilung|nachricht) ist (einzig|vertraulich)"
    r"|select the following link to view the disclaimer).*",
    re.IGNORECASE | re.DOTALL,
)
_NUMBER = re.compile(r"\b\d[\d:/.,-]*\b")
_REPEAT = re.compile(r"([^\w\s])\1{3,}")
_SPACE = re.compile(r"\s+")
_GERMAN_WORDS = frozenset(
    [
        "und",
        "der",
        "die",
        "das",
        "nicht",
        "ist",
        "bitte",
        "ich",
        "wir",
        "mit",
        "für",
        "fur",
        "auf",
        "ein",
        "eine",
        "keine",
        "kann",
        "können",
        "konnen",
        "werden",
        "wird",
        "sich",
        "bei",
        "von",
        "zu",
        "im",
        "den",
        "dem",
        "des",
        "beim",
        "oder",
        "auch",
        "noch",
        "nach",
        "danke",
        "hallo",
        "geht",
        "funktioniert",
    ]
)
_FRENCH_WORDS = frozenset(
    [
        "le",
        "la",
        "les",
        "des",
        "une",
        "est",
        "pas",
        "je",
        "nous",
        "vous",
        "avec",
        "pour",
        "sur",
        "dans",
        "mon",
        "mes",
        "merci",
        "bonjour",
        "ne",
        "fonctionne",
        "plus",
        "ordinateur",
        "imprimante",
    ]
)


def repair_mojibake(text: str) -> str:
    """``fÃ¼r`` → ``für``: text that was UTF-8 but read as Latin-1 somewhere upstream."""
    if "Ã" not in text and "â€" not in text:
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text.replace("Ã¼", "ü").replace("Ã¶", "ö").replace("Ã¤", "ä").replace("ÃŸ", "ß")


def _email_token(match: re.Match[str]) -> str:
    local, domain = match.group(1).lower(), match.group(2).lower()
    if _PERSONAL_LOCAL_PART.match(local) or domain.startswith("gmail."):
        return " zzemail "
    # A system sender (``monitoring_tool@company.com``) is part of the problem, keep its name.
    return f" {local} "


def clean_body(text: str) -> str:
    text = repair_mojibake(text or "")
    text = _DISCLAIMER.sub(" ", text)
    text = _RECEIVED_FROM.sub(lambda match: " " + _EMAIL.sub(_email_token, match.group(1)) + " ", text)
    text = _HEADER_LINE.sub(" ", text)
    sign_off = _SIGN_OFF.search(text)
    if sign_off is not None and sign_off.start() > 0:
        text = text[: sign_off.start()]
    text = _CID.sub(" ", text)
    text = _URL.sub(" zzurl ", text)
    text = _EMAIL.sub(_email_token, text)
    return text


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    text = _NUMBER.sub(" 0 ", text)
    text = _REPEAT.sub(r"\1", text)
    return _SPACE.sub(" ", text).strip()


def language_of(text: str) -> str:
    words = re.findall(r"[a-zäöüßéèàç]+", text.lower())
    if not words:
        return "en"
    german = sum(word in _GERMAN_WORDS for word in words)
    french = sum(word in _FRENCH_WORDS for word in words)
    if german >= 2 and german >= french:
        return "de"
    if french >= 2:
        return "fr"
    return "en"


def ticket_text(title: str, body: str, *, ticket_type: str = "", max_chars: int = 2000) -> str:
    """Title and cleaned body as one string for the vectorisers (title first, body cut).

    ``ticket_type`` (incident, service_request), known when a ticket is opened, becomes a
    ``zztype…`` token: some categories only ever come as requests.
    """
    title = normalise(repair_mojibake(title or ""))
    body = normalise(clean_body(body or ""))
    if body == title or body.startswith(title + " ") and len(body) <= len(title) + 2:
        body = ""
    language = language_of(f"{title} {body}")
    marker = f" zzlang{language}" if language != "en" else ""
    if ticket_type:
        marker += " zztype" + re.sub(r"\W", "", ticket_type.lower())
    return f"{title} . {body[:max_chars]}{marker}".strip()


def title_text(title: str) -> str:
    return normalise(repair_mojibake(title or ""))

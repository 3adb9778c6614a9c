"""Cutting sources into passages small enough for the embedding model (MiniLM reads ~256 tokens).

Passages keep their Markdown list markers: the extractive smart reply recognises steps by them.
"""

from __future__ import annotations

import re

MAX_CHARS = 900
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Paragraphs grouped up to ``max_chars``; an overlong paragraph is cut at sentence ends."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", (text or "").strip()):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
            continue
        pieces.extend(_cut_long(paragraph, max_chars))
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > max_chars:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def _cut_long(paragraph: str, max_chars: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > max_chars:  # one enormous "sentence": cut it hard
            if current:
                parts.append(current)
                current = ""
            parts.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        if current and len(current) + 1 + len(sentence) > max_chars:
            parts.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        parts.append(current)
    return parts


def article_passages(body: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Sections by heading; each passage starts with its section heading for context."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in (body or "").splitlines():
        if line.strip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            sections.append((match.group(1), []))
        else:
            sections[-1][1].append(line)
    passages: list[str] = []
    for heading, lines in sections:
        text = "\n".join(lines).strip()
        if not text:
            continue
        budget = max_chars - (len(heading) + 2 if heading else 0)
        passages.extend(
            f"{heading}\n\n{chunk}" if heading else chunk for chunk in split_text(text, max(200, budget))
        )
    return passages


def ticket_passages(title: str, description: str, resolution: str, max_chars: int = MAX_CHARS) -> list[str]:
    """The problem and its resolution; the resolution is kept whole in the last passage when it fits."""
    problem = (description or "").strip()
    resolution = (resolution or "").strip()
    resolution_text = f"Resolution: {resolution}"
    if len(problem) + len(resolution_text) + 2 <= max_chars:
        return [f"{problem}\n\n{resolution_text}" if problem else resolution_text]
    return [*split_text(problem, max_chars), *split_text(resolution_text, max_chars)]


def jira_issue_passages(
    description: str,
    status: str,
    resolution: str,
    public_comments: list[tuple[str, str]],
    internal_comments: list[tuple[str, str]],
    max_chars: int = MAX_CHARS,
) -> list[tuple[str, bool]]:
    """(passage, is public) of a Jira issue: first what a customer of the project may read (the
    description, the status and resolution, the public comments), then the internal comments,
    each in passages of their own so that no passage mixes the two."""
    outcome = f"Status: {status}." if status else ""
    if resolution:
        outcome = f"{outcome} Resolution: {resolution}.".strip()
    public_text = "\n\n".join(
        part
        for part in (
            (description or "").strip(),
            outcome,
            *(f"{author or 'Comment'}: {body.strip()}" for author, body in public_comments if body.strip()),
        )
        if part
    )
    internal_text = "\n\n".join(
        f"Internal note by {author or 'an agent'}: {body.strip()}"
        for author, body in internal_comments
        if body.strip()
    )
    return [(passage, True) for passage in split_text(public_text, max_chars)] + [
        (passage, False) for passage in split_text(internal_text, max_chars)
    ]

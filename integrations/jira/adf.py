"""Atlassian Document Format ⇄ our plain text, and Jira wiki markup → plain text.

Atlassian defines no plain-text rendering; ours (the contracts' convention) is: blocks
separated by a blank line, ``hardBreak`` → newline, list items prefixed ``- `` or ``N. ``,
mention → its text, emoji → its text or short name, inlineCard → its URL, code verbatim,
marks ignored (a link optionally rendered ``text (href)``), unknown nodes → their content.

Text → ADF understands the same shapes back (blank-line paragraphs, ``- ``/``N. `` lists,
```` ``` ```` code fences, ``#`` headings, bare URLs as links), so headings, lists, code,
links and mentions survive a round trip as readable text. Text nodes are never empty.

Webhook deliveries carry descriptions and comments in Jira *wiki markup* (REST v2 shape),
not ADF: ``wiki_to_text`` renders those in the same convention.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

BLOCK_TYPES = {
    "doc",
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "listItem",
    "codeBlock",
    "blockquote",
    "rule",
    "panel",
    "table",
    "tableRow",
    "tableHeader",
    "tableCell",
    "mediaSingle",
    "mediaGroup",
    "media",
    "expand",
    "nestedExpand",
    "taskList",
    "taskItem",
    "decisionList",
    "decisionItem",
    "blockCard",
    "embedCard",
    "layoutSection",
    "layoutColumn",
    "extension",
    "bodiedExtension",
}


# --- ADF → text -----------------------------------------------------------------------------
def adf_to_text(document: Any, *, link_urls: bool = False) -> str:
    """Plain text of an ADF document (or node); never raises on unknown or malformed nodes."""
    if not isinstance(document, dict):
        return ""
    return _Renderer(link_urls).block(document).strip("\n")


class _Renderer:
    def __init__(self, link_urls: bool) -> None:
        self.link_urls = link_urls

    def children(self, node: dict) -> list[dict]:
        content = node.get("content")
        return [child for child in content if isinstance(child, dict)] if isinstance(content, list) else []

    def blocks(self, nodes: list[dict]) -> str:
        parts = [self.block(node) for node in nodes]
        return "\n\n".join(part for part in parts if part.strip())

    def block(self, node: dict) -> str:
        kind = node.get("type")
        children = self.children(node)
        if kind in ("paragraph", "heading"):
            return self.inline(children)
        if kind == "codeBlock":
            return "".join(str(child.get("text", "")) for child in children if child.get("type") == "text")
        if kind == "bulletList":
            return "\n".join(self.list_item(child, "- ") for child in children)
        if kind == "orderedList":
            attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
            try:
                start = int(attrs.get("order", 1))
            except (TypeError, ValueError):
                start = 1
            return "\n".join(
                self.list_item(child, f"{start + index}. ") for index, child in enumerate(children)
            )
        if kind in ("taskList", "decisionList"):
            return "\n".join(self.list_item(child, "- ") for child in children)
        if kind == "rule":
            return ""
        if kind == "table":
            return "\n".join(self.table_row(row) for row in children)
        if kind in ("blockCard", "embedCard"):
            attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
            return str(attrs.get("url", ""))
        if kind in ("media", "mediaSingle", "mediaGroup"):
            return ""
        if kind in ("taskItem", "decisionItem"):
            return self.inline(children)
        if not children:
            return self.inline_node(node) if kind not in BLOCK_TYPES else ""
        if any(child.get("type") in BLOCK_TYPES for child in children):
            return self.blocks(children)
        return self.inline(children)

    def list_item(self, item: dict, prefix: str) -> str:
        children = self.children(item)
        if item.get("type") in ("taskItem", "decisionItem") or not any(
            child.get("type") in BLOCK_TYPES for child in children
        ):
            return prefix + self.inline(children)
        rendered = [self.block(child) for child in children]
        rendered = [part for part in rendered if part.strip()]
        if not rendered:
            return prefix.rstrip()
        lines = "\n".join(rendered).split("\n")
        indent = " " * len(prefix)
        return "\n".join([prefix + lines[0]] + [indent + line if line else line for line in lines[1:]])

    def table_row(self, row: dict) -> str:
        return " | ".join(self.blocks(self.children(cell)).replace("\n", " ") for cell in self.children(row))

    def inline(self, nodes: list[dict]) -> str:
        return "".join(self.inline_node(node) for node in nodes)

    def inline_node(self, node: dict) -> str:
        kind = node.get("type")
        attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
        if kind == "text":
            text = str(node.get("text", ""))
            if self.link_urls:
                for mark in node.get("marks") or []:
                    if isinstance(mark, dict) and mark.get("type") == "link":
                        href = str((mark.get("attrs") or {}).get("href", ""))
                        if href and href != text:
                            return f"{text} ({href})"
            return text
        if kind == "hardBreak":
            return "\n"
        if kind == "mention":
            text = attrs.get("text") or ""
            return str(text) if text else f"@{attrs.get('id', 'someone')}"
        if kind == "emoji":
            return str(attrs.get("text") or attrs.get("shortName") or "")
        if kind == "inlineCard":
            return str(attrs.get("url", ""))
        if kind == "status":
            return str(attrs.get("text", ""))
        if kind == "date":
            try:
                return datetime.fromtimestamp(int(attrs.get("timestamp")) / 1000, tz=UTC).date().isoformat()
            except (TypeError, ValueError, OverflowError):
                return ""
        if "text" in node and isinstance(node["text"], str):
            return node["text"]
        children = self.children(node)
        if any(child.get("type") in BLOCK_TYPES for child in children):
            return self.blocks(children)
        return self.inline(children)


# --- text → ADF -----------------------------------------------------------------------------
BULLET = re.compile(r"^(?:[-*•])\s+(.*)$")
ORDERED = re.compile(r"^(\d{1,9})\.\s+(.*)$")
HEADING = re.compile(r"^(#{1,6})\s+(.+)$")
FENCE = re.compile(r"^```\s*([\w+#.-]*)\s*$")
URL = re.compile(r"https?://[^\s<>()\"']+")


def text_to_adf(text: str) -> dict:
    """An ADF document for our text (see the module docstring for what is recognised)."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    content: list[dict] = []
    paragraph: list[str] = []
    index = 0

    def flush() -> None:
        if paragraph:
            content.extend(_lines_to_blocks(paragraph))
            paragraph.clear()

    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line.strip())
        if fence:
            flush()
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            code = "\n".join(lines[index + 1 : end])
            node: dict[str, Any] = {"type": "codeBlock"}
            if fence.group(1):
                node["attrs"] = {"language": fence.group(1)}
            if code:
                node["content"] = [{"type": "text", "text": code}]
            content.append(node)
            index = end + 1
            continue
        if not line.strip():
            flush()
        else:
            paragraph.append(line.rstrip())
        index += 1
    flush()
    return {"version": 1, "type": "doc", "content": content}


def _lines_to_blocks(lines: list[str]) -> list[dict]:
    """One blank-line-separated chunk: headings, lists, and paragraphs with hard breaks."""
    blocks: list[dict] = []
    plain: list[str] = []

    def flush_plain() -> None:
        if plain:
            inline: list[dict] = []
            for position, line in enumerate(plain):
                if position:
                    inline.append({"type": "hardBreak"})
                inline.extend(inline_nodes(line))
            blocks.append({"type": "paragraph", "content": inline} if inline else {"type": "paragraph"})
            plain.clear()

    for line in lines:
        heading = HEADING.match(line) if len(lines) == 1 else None
        bullet = BULLET.match(line)
        ordered = ORDERED.match(line)
        if heading:
            flush_plain()
            nodes = inline_nodes(heading.group(2).strip())
            block = {"type": "heading", "attrs": {"level": len(heading.group(1))}}
            if nodes:
                block["content"] = nodes
            blocks.append(block)
        elif bullet or ordered:
            flush_plain()
            kind = "bulletList" if bullet else "orderedList"
            item_text = (bullet or ordered).group(1 if bullet else 2)
            item = {"type": "listItem", "content": [_paragraph(item_text)]}
            if blocks and blocks[-1]["type"] == kind and blocks[-1].get("_open"):
                blocks[-1]["content"].append(item)
            else:
                block = {"type": kind, "content": [item], "_open": True}
                if ordered:
                    block["attrs"] = {"order": int(ordered.group(1))}
                blocks.append(block)
        else:
            if blocks and blocks[-1].get("_open"):
                blocks[-1].pop("_open")
            plain.append(line)
    flush_plain()
    for block in blocks:
        block.pop("_open", None)
    return blocks


def _paragraph(text: str) -> dict:
    nodes = inline_nodes(text)
    return {"type": "paragraph", "content": nodes} if nodes else {"type": "paragraph"}


def inline_nodes(text: str) -> list[dict]:
    """Text nodes, with bare URLs as links; never an empty text node."""
    nodes: list[dict] = []
    position = 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?")
        end = match.start() + len(url)
        if match.start() > position:
            nodes.append({"type": "text", "text": text[position : match.start()]})
        nodes.append({"type": "text", "text": url, "marks": [{"type": "link", "attrs": {"href": url}}]})
        position = end
    if position < len(text):
        nodes.append({"type": "text", "text": text[position:]})
    return [node for node in nodes if node["text"]]


# --- Jira wiki markup → text ----------------------------------------------------------------
WIKI_HEADING = re.compile(r"^h[1-6]\.\s*")
WIKI_LIST = re.compile(r"^([*#-]+)\s+(.*)$")
WIKI_BLOCK = re.compile(r"^\{(code|noformat)(?::[^}]*)?\}(.*)$")
WIKI_DROP_LINE = re.compile(r"^(?:-{4,}|\{quote\}|\{panel(?::[^}]*)?\})\s*$")
WIKI_LINK = re.compile(r"\[([^\[\]|]*)\|([^\[\]]+)\]")
WIKI_MENTION = re.compile(r"\[~(?:accountid:)?([^\]]+)\]")
WIKI_BARE_LINK = re.compile(r"\[((?:https?|mailto):[^\]\s]+)\]")
WIKI_EFFECTS = [
    re.compile(r"\{\{(.+?)\}\}"),
    re.compile(r"(?<![\w*\\])\*(?=\S)(.+?)(?<=[^\s\\])\*(?![\w*])"),
    re.compile(r"(?<![\w\\])_(?=\S)(.+?)(?<=[^\s\\])_(?!\w)"),
    re.compile(r"(?<![\w\\])\?\?(?=\S)(.+?)(?<=\S)\?\?(?!\w)"),
    re.compile(r"(?<![\w\\])\+(?=\S)(.+?)(?<=\S)\+(?!\w)"),
    re.compile(r"(?<![\w\\-])-(?=[^\s-])(.+?)(?<=[^\s-])-(?![\w-])"),
    re.compile(r"(?<![\w\\])\^(?=\S)(.+?)(?<=\S)\^(?!\w)"),
]
WIKI_COLOR = re.compile(r"\{color(?::[^}]*)?\}")
WIKI_IMAGE = re.compile(r"!([^!\s|]+)(?:\|[^!]*)?!")
WIKI_ESCAPE = re.compile(r"\\([\\!*_{}\[\]#+\-^~?|()])")


def wiki_to_text(markup: str, *, mention: Callable[[str], str] | None = None) -> str:
    """Readable text of Jira wiki markup (REST v2 bodies in webhook deliveries)."""
    lines = (markup or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    counters: dict[int, int] = {}
    verbatim: str | None = None
    for line in lines:
        if verbatim is not None:
            closing = "{" + verbatim + "}"
            if closing in line:
                before = line.split(closing, 1)[0]
                if before:
                    out.append(before)
                verbatim = None
            else:
                out.append(line)
            continue
        stripped = line.strip()
        block = WIKI_BLOCK.match(stripped)
        if block:
            verbatim = block.group(1)
            rest = block.group(2)
            closing = "{" + verbatim + "}"
            if closing in rest:
                out.append(rest.split(closing, 1)[0])
                verbatim = None
            elif rest:
                out.append(rest)
            continue
        if WIKI_DROP_LINE.match(stripped):
            continue
        listing = WIKI_LIST.match(stripped)
        if listing and not (listing.group(1) == "-" and not stripped.startswith("- ")):
            marks = listing.group(1)
            depth = len(marks)
            indent = "  " * (depth - 1)
            for deeper in [level for level in counters if level > depth]:
                counters.pop(deeper)
            if marks.endswith("#"):
                counters[depth] = counters.get(depth, 0) + 1
                out.append(f"{indent}{counters[depth]}. {_wiki_inline(listing.group(2), mention)}")
            else:
                counters.pop(depth, None)
                out.append(f"{indent}- {_wiki_inline(listing.group(2), mention)}")
            continue
        counters.clear()
        if stripped.startswith("||") or (
            stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1
        ):
            cells = [cell.strip() for cell in re.split(r"\|\|?", stripped.strip("|"))]
            out.append(" | ".join(_wiki_inline(cell, mention) for cell in cells if cell))
            continue
        line = WIKI_HEADING.sub("", line)
        if line.startswith("bq. "):
            line = line[4:]
        out.append(_wiki_inline(line, mention))
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def _wiki_inline(text: str, mention: Callable[[str], str] | None) -> str:
    text = text.replace("\\\\", "\n")  # ``\\`` is a forced line break
    text = WIKI_MENTION.sub(lambda match: mention(match.group(1)) if mention else f"@{match.group(1)}", text)
    text = WIKI_LINK.sub(lambda match: _wiki_link(match.group(1), match.group(2)), text)
    text = WIKI_BARE_LINK.sub(lambda match: match.group(1), text)
    text = WIKI_IMAGE.sub(lambda match: f"[{match.group(1)}]", text)
    text = WIKI_COLOR.sub("", text)
    for pattern in WIKI_EFFECTS:
        text = pattern.sub(lambda match: match.group(1), text)
    return WIKI_ESCAPE.sub(lambda match: match.group(1), text)


def _wiki_link(label: str, target: str) -> str:
    label, target = label.strip(), target.strip()
    if target.startswith("~"):
        return label or target
    if not label or label == target:
        return target
    return f"{label} ({target})"

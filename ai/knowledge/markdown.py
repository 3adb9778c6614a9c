"""Article bodies are Markdown, rendered safely: raw HTML is escaped, unsafe link schemes refused."""

from __future__ import annotations

from functools import lru_cache

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    # "html": False escapes any HTML in the source; markdown-it refuses javascript:, vbscript:,
    # file: and data: links by itself (validateLink).
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(text: str) -> SafeString:
    return mark_safe(_renderer().render(text or ""))  # noqa: S308 - the renderer escapes its input

"""The Markdown documentation stays true to the repository: links resolve, nothing points
outside it, the code it names exists, and README.md stays short with its two commands.

No database: these tests read files only."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250

# What GitHub turns into a link even without Markdown link syntax (outside code).
BARE_URL = re.compile(r"(?i)\b(?:https?|ftp)://[^\s<>)]*|\bwww\.[a-z0-9-]+\.[^\s<>)]*")
BARE_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
HTML_LINK = re.compile(r"""(?i)\b(?:href|src)\s*=\s*["']?([^"'\s>]+)""")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# `path/to/module.py: name` or `path/to/module.py: Class.method` in backticks.
CODE_REFERENCE = re.compile(r"^([\w.-]+/[\w./-]+\.py): ([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)$")
PYTHON_PATH = re.compile(r"^[\w.-]+/[\w./-]+\.py$")  # with a folder: a bare `actions.py` names a kind of file
IDENTIFIER = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?$")


def documentation_files(root: Path = ROOT) -> list[Path]:
    files = sorted(root.glob("*.md")) + sorted((root / "docs").rglob("*.md"))
    bench = root / "bench" / "README.md"
    if bench.exists():
        files.append(bench)
    return files


@dataclass
class Document:
    path: Path
    links: list[str]  # every link target: Markdown links, autolinks, HTML href/src
    bare: list[str]  # URLs and e-mail addresses in plain text (GitHub links them)
    anchors: set[str]  # heading anchors, as GitHub makes them
    code_references: list[tuple[str, str | None]]  # (module path, name or None)
    code_blocks: list[str]


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def github_anchor(text: str, seen: dict[str, int]) -> str:
    """GitHub's heading id: lower case, punctuation dropped, spaces to hyphens, -1/-2 on repeats."""
    slug = "".join(
        char
        for char in text.strip().lower()
        if char in " -"
        or unicodedata.category(char)[0] in {"L", "M", "N"}
        or unicodedata.category(char) == "Pc"
    ).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def parse(path: Path) -> Document:
    text = path.read_text(encoding="utf-8")
    tokens = _parser().parse(text)
    document = Document(path=path, links=[], bare=[], anchors=set(), code_references=[], code_blocks=[])
    seen: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.type == "fence" or token.type == "code_block":
            document.code_blocks.append(token.content)
        elif token.type == "html_block":
            document.links += HTML_LINK.findall(token.content)
        elif token.type == "inline":
            previous = tokens[index - 1].type if index else ""
            if previous == "heading_open":
                words = "".join(
                    child.content for child in token.children or [] if child.type != "html_inline"
                )
                document.anchors.add(github_anchor(words, seen))
            _read_inline(document, token.children or [], in_table_cell=previous in {"td_open", "th_open"})
    return document


def _read_inline(document: Document, children: list, *, in_table_cell: bool) -> None:
    module: str | None = None  # in a table cell, later bare names refer to the last `module.py: name`
    in_link = False  # a link's own text is the link, checked as such
    for child in children:
        if child.type == "link_open":
            document.links.append(str(child.attrs.get("href", "")))
            in_link = True
        elif child.type == "link_close":
            in_link = False
        elif child.type == "image":
            document.links.append(str(child.attrs.get("src", "")))
        elif child.type == "html_inline":
            document.links += HTML_LINK.findall(child.content)
        elif child.type == "text" and not in_link:
            document.bare += BARE_URL.findall(child.content) + BARE_EMAIL.findall(child.content)
        elif child.type == "code_inline":
            code = child.content.strip()
            if match := CODE_REFERENCE.match(code):
                document.code_references.append((match[1], match[2]))
                module = match[1]
            elif PYTHON_PATH.match(code):
                document.code_references.append((code, None))
            elif in_table_cell and module and IDENTIFIER.match(code):
                document.code_references.append((module, code))


def link_problems(document: Document, root: Path = ROOT) -> list[str]:
    """Why each link of the document is broken or leaves the repository (empty when all is well)."""
    problems = []
    for target in document.links:
        split = urlsplit(target)
        if not target:
            problems.append("a link without a target")
            continue
        if SCHEME.match(target) or target.startswith("//"):
            problems.append(f"{target!r} points outside the repository")
            continue
        path_part, anchor = unquote(split.path), unquote(split.fragment)
        destination = (document.path.parent / path_part).resolve() if path_part else document.path
        if not destination.is_relative_to(root.resolve()):
            problems.append(f"{target!r} points outside the repository")
        elif not destination.exists():
            problems.append(f"{target!r}: no such file")
        elif anchor:
            if destination.suffix != ".md":
                problems.append(f"{target!r}: anchors are checked only in Markdown files")
            elif anchor not in parse(destination).anchors:
                problems.append(f"{target!r}: no heading with that anchor in {destination.name}")
    problems += [f"{text!r} in plain text becomes a link outside the repository" for text in document.bare]
    return problems


def _defines(source: str, name: str) -> bool:
    return bool(
        re.search(rf"^\s*(?:async\s+def|def|class)\s+{name}\b", source, re.MULTILINE)
        or re.search(rf"^{name}\s*[:=]", source, re.MULTILINE)
    )


def code_problems(document: Document, root: Path = ROOT) -> list[str]:
    """Each named module that does not exist, or does not define the name the text gives it."""
    problems = []
    for module, name in document.code_references:
        candidates = [root / module, document.path.parent / module]
        found = next((path for path in candidates if path.is_file()), None)
        if found is None:
            problems.append(f"`{module}` does not exist")
            continue
        if name is None:
            continue
        source = found.read_text(encoding="utf-8")
        if not all(_defines(source, part) for part in name.split(".")):
            problems.append(f"`{module}` defines no `{name}`")
    return problems


@pytest.mark.parametrize("path", documentation_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(path):
    assert link_problems(parse(path)) == []


@pytest.mark.parametrize("path", documentation_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_the_code_the_docs_name_exists(path):
    assert code_problems(parse(path)) == []


def test_the_docs_cover_the_expected_files():
    names = {str(path.relative_to(ROOT)) for path in documentation_files()}
    assert {"README.md", "bench/README.md", "docs/tickets.md", "docs/api.md", "docs/operations.md"} <= names


def test_the_readme_stays_short_and_keeps_its_two_commands():
    readme = ROOT / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= README_MAX_LINES
    commands = {
        line.split("#")[0].strip() for block in parse(readme).code_blocks for line in block.splitlines()
    }
    assert {"make run", "make test"} <= commands
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The checker itself: a small repository with one of each mistake, all reported."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "actions.py").write_text("def do_thing():\n    pass\n\nRULES = {}\n")
    (tmp_path / "docs" / "good.md").write_text("# Good page\n\n## A section (`x`)\n")
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n\n"
        "[fine](docs/good.md) [anchor](docs/good.md#a-section-x) [here](#title) [folder](docs/)\n"
        "[missing](docs/gone.md) [bad anchor](docs/good.md#nowhere) [web](https://example.com/x)\n"
        "[mail](mailto:someone@example.com) [escape](../outside.md) <http://auto.example>\n"
        "Plain https://bare.example and ops@example.com, but `https://in-code.example` is code.\n\n"
        "| where | code |\n|---|---|\n"
        "| ok | `app/actions.py: do_thing`, `RULES` |\n"
        "| bad | `app/actions.py: do_other`, `app/gone.py`, `app/actions.py: Thing.run` |\n\n"
        '<a href="https://html.example">x</a>\n\n'
        "```sh\nmake run\n```\n"
    )
    document = parse(page)
    problems = link_problems(document, root=tmp_path)
    assert problems == [
        "'docs/gone.md': no such file",
        "'docs/good.md#nowhere': no heading with that anchor in good.md",
        "'https://example.com/x' points outside the repository",
        "'mailto:someone@example.com' points outside the repository",
        "'../outside.md' points outside the repository",
        "'http://auto.example' points outside the repository",
        "'https://html.example' points outside the repository",
        "'https://bare.example' in plain text becomes a link outside the repository",
        "'ops@example.com' in plain text becomes a link outside the repository",
    ]
    assert code_problems(document, root=tmp_path) == [
        "`app/actions.py` defines no `do_other`",
        "`app/gone.py` does not exist",
        "`app/actions.py` defines no `Thing.run`",
    ]

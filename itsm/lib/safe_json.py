"""JSON that the rest of the system can hold, checked at the door.

PostgreSQL stores no NUL character (in text or jsonb), UTF-8 has no lone surrogate, jsonb has
no NaN or Infinity, and Python's parser and serialisers recurse once per nesting level. A body
that breaks one of these rules would pass the parser and fail later, deep in a save, as a 500.
``loads`` refuses such a body up front with a ``ValueError`` naming the problem and where it is.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Deep enough for any real document (Jira's rich text nests lists a dozen levels at most),
# far below Python's recursion limit.
MAX_DEPTH = 64

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


class UnsafeJSON(ValueError):
    """A JSON document that parses but cannot be stored or processed safely."""


def _refuse_constant(name: str) -> None:
    raise UnsafeJSON(f"{name} is not a JSON value (numbers must be finite).")


def _at(path: tuple[object, ...]) -> str:
    """`` at metadata.items[2]`` (empty for the top of the document)."""
    if not path:
        return ""
    parts = (f"[{part}]" if isinstance(part, int) else f".{str(part)[:40]}" for part in path)
    return " at " + "".join(parts).lstrip(".")


def check_text(text: str, path: tuple[object, ...] = (), *, what: str = "The text") -> None:
    found = _FORBIDDEN.search(text)
    if found is None:
        return
    character = found.group()
    if character == "\x00":
        problem = "a NUL character (\\u0000), which cannot be stored"
    else:
        problem = f"a lone surrogate (\\u{ord(character):04x}), which is not valid Unicode"
    raise UnsafeJSON(f"{what}{_at(path)} contains {problem}.")


def check_storable(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``UnsafeJSON`` if ``value`` (parsed JSON) nests deeper than ``max_depth`` or holds a
    string (key or value) with a NUL or a lone surrogate. Iterative: any depth is safe to check."""
    stack: list[tuple[Any, int, tuple[object, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            check_text(item, path)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise UnsafeJSON(f"The JSON is nested more than {max_depth} levels deep.")
        if isinstance(item, dict):
            for key, child in item.items():
                check_text(str(key), path, what="A key")
                if isinstance(child, str | dict | list):
                    stack.append((child, depth + 1, (*path, key)))
        else:
            for index, child in enumerate(item):
                if isinstance(child, str | dict | list):
                    stack.append((child, depth + 1, (*path, index)))


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses what could not be stored: ``ValueError`` with the reason."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UnsafeJSON(f"The body is not valid UTF-8 (byte {error.start}).") from None
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise UnsafeJSON(f"The JSON is nested more than {max_depth} levels deep.") from None
    check_storable(value, max_depth=max_depth)
    return value

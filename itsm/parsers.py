"""The API's JSON parser: what parses but could not be stored is a 400 naming the problem."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from itsm.lib import safe_json


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing NUL characters, lone surrogates, NaN/Infinity and nesting
    deeper than ``safe_json.MAX_DEPTH`` (``itsm.lib.safe_json.loads``)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as error:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}.") from error
        try:
            return safe_json.loads(text)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from error

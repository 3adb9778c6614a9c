"""A runbook version's JSON, parsed into typed structures, and how its values are rendered.

Parameters are typed and validated; their values come from the caller, from the ticket and
the matched item (``{ticket.number}``, ``{ci.name}``, ``{ci.host}`` …) or from defaults. A
step's command names parameters as ``{name}``; each value is shell-quoted (``shlex.quote``)
where it is put in, so a value is always one word of data to the remote shell, never code.
HTTP paths get URL-quoted values, JSON bodies get the values as JSON strings.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ValidationError

# ``{name}`` of a parameter; other braces (awk '{print $1}', JSON) are left as they are.
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,39})\}")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
PARAMETER_TYPES = ("string", "integer", "boolean", "choice", "hostname")
STEP_TYPES = ("ssh", "http", "webhook", "manual")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
MAX_STRING = 500
MAX_TIMEOUT = 3600
# What the ticket and the matched item offer to parameter sources.
SOURCES = (
    "ticket.number",
    "ticket.title",
    "ticket.service",
    "ticket.category",
    "ci.name",
    "ci.host",
    "ci.environment",
    "ci.type",
)


def _error(path: str, message: str) -> ValidationError:
    return ValidationError({path: message})


def _text(value: Any, path: str, *, limit: int = 2000, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _error(path, "Expected text.")
    value = value.strip()
    if required and not value:
        raise _error(path, "This is required.")
    if len(value) > limit:
        raise _error(path, f"At most {limit} characters.")
    return value


def _list_of_text(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _error(path, "Expected a list of text.")
    return [item.strip() for item in value if item.strip()]


# --- parameters ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    name: str
    type: str = "string"
    label: str = ""
    default: Any = None
    source: str = ""  # one of SOURCES: filled from the ticket or the item when not given
    required: bool = True
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    pattern: str = ""

    def clean(self, value: Any) -> Any:
        """The value as its type, or ValidationError naming the parameter."""
        path = f"parameters.{self.name}"
        if self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise _error(path, "Expected a whole number.")
            try:
                number = int(str(value).strip())
            except ValueError as error:
                raise _error(path, "Expected a whole number.") from error
            if self.minimum is not None and number < self.minimum:
                raise _error(path, f"At least {self.minimum}.")
            if self.maximum is not None and number > self.maximum:
                raise _error(path, f"At most {self.maximum}.")
            return number
        if self.type == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
                return value.lower() in {"true", "yes", "1"}
            raise _error(path, "Expected true or false.")
        if not isinstance(value, str):
            raise _error(path, "Expected text.")
        if "\x00" in value or "\n" in value or "\r" in value:
            raise _error(path, "Line breaks and NUL characters are not allowed.")
        if len(value) > MAX_STRING:
            raise _error(path, f"At most {MAX_STRING} characters.")
        if self.type == "choice" and value not in self.choices:
            raise _error(path, f"Use one of: {', '.join(self.choices)}.")
        if self.type == "hostname" and not is_host(value):
            raise _error(path, "Expected a host name or an IP address.")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise _error(path, f"Does not match the pattern {self.pattern}.")
        if self.required and not value.strip():
            raise _error(path, "This is required.")
        return value


def is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(HOSTNAME.match(value))
    return True


def parse_parameter(raw: Any, index: int) -> Parameter:
    path = f"parameters[{index}]"
    if not isinstance(raw, dict):
        raise _error(path, "Expected an object.")
    unknown = set(raw) - {
        "name",
        "type",
        "label",
        "default",
        "source",
        "required",
        "choices",
        "min",
        "max",
        "pattern",
    }
    if unknown:
        raise _error(path, f"Unknown keys: {', '.join(sorted(unknown))}.")
    name = _text(raw.get("name"), f"{path}.name", limit=40, required=True)
    if not NAME.match(name):
        raise _error(f"{path}.name", "Lower-case letters, digits and _, starting with a letter.")
    kind = raw.get("type", "string")
    if kind not in PARAMETER_TYPES:
        raise _error(f"{path}.type", f"Use one of: {', '.join(PARAMETER_TYPES)}.")
    source = _text(raw.get("source"), f"{path}.source", limit=40)
    if source and source not in SOURCES:
        raise _error(f"{path}.source", f"Use one of: {', '.join(SOURCES)}.")
    choices = tuple(_list_of_text(raw.get("choices"), f"{path}.choices"))
    if kind == "choice" and not choices:
        raise _error(f"{path}.choices", "A choice parameter lists its choices.")
    bounds = {}
    for key in ("min", "max"):
        if raw.get(key) is not None:
            if not isinstance(raw[key], int) or isinstance(raw[key], bool):
                raise _error(f"{path}.{key}", "Expected a whole number.")
            bounds[key] = raw[key]
    pattern = _text(raw.get("pattern"), f"{path}.pattern", limit=200)
    if pattern:
        try:
            re.compile(pattern)
        except re.error as error:
            raise _error(f"{path}.pattern", f"Not a regular expression: {error}.") from error
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise _error(f"{path}.required", "Expected true or false.")
    parameter = Parameter(
        name=name,
        type=kind,
        label=_text(raw.get("label"), f"{path}.label", limit=120),
        default=raw.get("default"),
        source=source,
        required=required,
        choices=choices,
        minimum=bounds.get("min"),
        maximum=bounds.get("max"),
        pattern=pattern,
    )
    if parameter.default is not None:
        parameter.clean(parameter.default)
    return parameter


# --- steps ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """What success looks like: an exit code, HTTP statuses, text the output has or lacks."""

    exit_code: int | None = 0
    statuses: tuple[int, ...] = ()
    contains: str = ""
    not_contains: str = ""

    def failure(self, *, exit_code: int | None, status: int | None, output: str) -> str:
        """Why the result fails this check, or "" when it passes."""
        if exit_code is not None and self.exit_code is not None and exit_code != self.exit_code:
            return f"exit code {exit_code}, expected {self.exit_code}"
        if status is not None:
            allowed = self.statuses or tuple(range(200, 300))
            if status not in allowed:
                return f"HTTP {status}, expected {', '.join(map(str, self.statuses)) or '2xx'}"
        if self.contains and self.contains not in output:
            return f"the output lacks {self.contains!r}"
        if self.not_contains and self.not_contains in output:
            return f"the output contains {self.not_contains!r}"
        return ""


@dataclass(frozen=True)
class Action:
    """One thing a step or its rollback does: a command, an HTTP request, or a webhook call."""

    command: str = ""
    method: str = "GET"
    path: str = ""
    body: Any = None
    event: str = ""


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    action: Action
    target: str = ""  # a connection's name; "" = the matched item's connection
    timeout: int = 60
    check: Check = field(default_factory=Check)
    rollback: Action | None = None
    instructions: str = ""  # manual steps

    @property
    def has_rollback(self) -> bool:
        return self.rollback is not None


def _placeholders(value: Any, path: str, names: set[str]) -> None:
    """Every ``{name}`` in ``value`` (text, or the strings of a JSON body) names a parameter."""
    if isinstance(value, list):
        for item in value:
            _placeholders(item, path, names)
    elif isinstance(value, dict):
        for item in value.values():
            _placeholders(item, path, names)
    elif isinstance(value, str):
        for name in PLACEHOLDER.findall(value):
            if name not in names:
                raise _error(path, f"{{{name}}} is not a parameter of this runbook.")


def _action(raw: Any, kind: str, path: str, names: set[str]) -> Action:
    if not isinstance(raw, dict):
        raise _error(path, "Expected an object.")
    if kind == "ssh":
        command = _text(raw.get("command"), f"{path}.command", limit=4000, required=True)
        _placeholders(command, f"{path}.command", names)
        return Action(command=command)
    if kind == "http":
        method = str(raw.get("method", "GET")).upper()
        if method not in HTTP_METHODS:
            raise _error(f"{path}.method", f"Use one of: {', '.join(HTTP_METHODS)}.")
        request_path = _text(raw.get("path"), f"{path}.path", limit=2000)
        if request_path and not request_path.startswith("/"):
            raise _error(f"{path}.path", "A path starts with /.")
        _placeholders(request_path, f"{path}.path", names)
        body = raw.get("body")
        _placeholders(body, f"{path}.body", names)
        return Action(method=method, path=request_path, body=body)
    if kind == "webhook":
        event = _text(raw.get("event"), f"{path}.event", limit=100, required=True)
        body = raw.get("body")
        _placeholders(body, f"{path}.body", names)
        return Action(event=event, body=body)
    return Action()


def parse_step(raw: Any, index: int, names: set[str]) -> Step:
    path = f"steps[{index}]"
    if not isinstance(raw, dict):
        raise _error(path, "Expected an object.")
    kind = raw.get("type")
    if kind not in STEP_TYPES:
        raise _error(f"{path}.type", f"Use one of: {', '.join(STEP_TYPES)}.")
    timeout = raw.get("timeout", 60)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= MAX_TIMEOUT:
        raise _error(f"{path}.timeout", f"Seconds, from 1 to {MAX_TIMEOUT}.")
    check_raw = raw.get("check") or {}
    if not isinstance(check_raw, dict):
        raise _error(f"{path}.check", "Expected an object.")
    exit_code = check_raw.get("exit_code", 0)
    if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
        raise _error(f"{path}.check.exit_code", "Expected a whole number or null.")
    statuses = check_raw.get("status", [])
    if isinstance(statuses, int):
        statuses = [statuses]
    if not isinstance(statuses, list) or not all(isinstance(s, int) and 100 <= s <= 599 for s in statuses):
        raise _error(f"{path}.check.status", "Expected HTTP statuses (100-599).")
    check = Check(
        exit_code=exit_code,
        statuses=tuple(statuses),
        contains=_text(check_raw.get("contains"), f"{path}.check.contains", limit=500),
        not_contains=_text(check_raw.get("not_contains"), f"{path}.check.not_contains", limit=500),
    )
    rollback_raw = raw.get("rollback")
    rollback = None
    if rollback_raw not in (None, "none"):
        if kind == "manual":
            raise _error(f"{path}.rollback", "A manual step has no rollback.")
        rollback = _action(rollback_raw, kind, f"{path}.rollback", names)
    return Step(
        name=_text(raw.get("name"), f"{path}.name", limit=120, required=True),
        type=kind,
        action=_action(raw, kind, path, names),
        target=_text(raw.get("target"), f"{path}.target", limit=100),
        timeout=timeout,
        check=check,
        rollback=rollback,
        instructions=_text(raw.get("instructions"), f"{path}.instructions", limit=2000),
    )


@dataclass(frozen=True)
class Criteria:
    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    item_types: tuple[str, ...] = ()
    services: tuple[str, ...] = ()


def parse_criteria(raw: Any) -> Criteria:
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        raise _error("match", "Expected an object.")
    unknown = set(raw) - {"categories", "keywords", "item_types", "services"}
    if unknown:
        raise _error("match", f"Unknown keys: {', '.join(sorted(unknown))}.")
    return Criteria(
        categories=tuple(value.lower() for value in _list_of_text(raw.get("categories"), "match.categories")),
        keywords=tuple(value.lower() for value in _list_of_text(raw.get("keywords"), "match.keywords")),
        item_types=tuple(_list_of_text(raw.get("item_types"), "match.item_types")),
        services=tuple(value.lower() for value in _list_of_text(raw.get("services"), "match.services")),
    )


def parse_parameters(raw: Any) -> list[Parameter]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise _error("parameters", "Expected a list.")
    parameters = [parse_parameter(item, index) for index, item in enumerate(raw)]
    names = [parameter.name for parameter in parameters]
    if len(set(names)) != len(names):
        raise _error("parameters", "Two parameters have the same name.")
    return parameters


def parse_steps(raw: Any, parameters: list[Parameter]) -> list[Step]:
    if not isinstance(raw, list) or not raw:
        raise _error("steps", "A runbook has at least one step.")
    if len(raw) > 50:
        raise _error("steps", "At most 50 steps.")
    names = {parameter.name for parameter in parameters}
    return [parse_step(item, index, names) for index, item in enumerate(raw)]


# --- rendering ---------------------------------------------------------------------------------------
def render_command(template: str, values: dict[str, Any]) -> str:
    """The command with each ``{name}`` replaced by its value, shell-quoted."""
    return PLACEHOLDER.sub(lambda match: shlex.quote(str(values[match.group(1)])), template)


def render_path(template: str, values: dict[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda match: quote(str(values[match.group(1)]), safe=""), template)


def render_body(body: Any, values: dict[str, Any]) -> Any:
    """A JSON body with placeholders: a string that is exactly ``{name}`` takes the typed value,
    others get the values as text (JSON-escaped when the body is serialised)."""
    if isinstance(body, str):
        whole = PLACEHOLDER.fullmatch(body)
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), body)
    if isinstance(body, list):
        return [render_body(item, values) for item in body]
    if isinstance(body, dict):
        return {key: render_body(value, values) for key, value in body.items()}
    return body

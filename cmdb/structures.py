"""Typed shapes of a configuration item's JSON fields, and the normalisation of its match fields.

- ``ItemAttributes``: the ``attributes`` JSON. A few well-known keys are typed (``os``,
  ``version``, ``port`` …); any other key is a lower-case identifier whose value is a scalar or
  a list of scalars.
- ``WeeklyWindow``: one entry of ``maintenance_windows`` (``{"day": "sun", "start": "02:00",
  "end": "04:00"}``; an end at or before the start runs past midnight). The text form
  ``"sun 02:00-04:00; sat 22:00-02:00"`` is read too (CSV, forms).
- Names, aliases, host names and IP addresses are normalised here, once, for storage and for
  matching (``ConfigurationItem.compute_match_keys``, stored as ``ItemKey`` rows).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from typing import Any, Literal

from django.core.exceptions import ValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticError

MAX_LIST = 50
Scalar = str | int | float | bool
ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOW_TEXT = re.compile(
    r"^\s*(?P<day>[a-z]{3})[a-z]*\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$", re.IGNORECASE
)
HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# A word of a name or of a ticket's text: letters and digits, with dots, hyphens and
# underscores inside (web01.example.com, payments-api, node.js are one word each).
WORD = re.compile(r"[^\W_](?:[\w.-]*[^\W_])?")


def _message(error: PydanticError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"] if part != "__root__")
        parts.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return "; ".join(parts)


class ItemAttributes(BaseModel):
    """Attributes of an item. Unknown keys are kept when they are simple values."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    os: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=100)
    vendor: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$")
    port: int | None = Field(default=None, ge=1, le=65535)
    cpu_cores: int | None = Field(default=None, ge=1, le=4096)
    memory_gb: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check_extra(self) -> ItemAttributes:
        extra = self.model_extra or {}
        if len(extra) + len(self.model_fields_set) > 100:
            raise ValueError("at most 100 attributes")
        for key, value in extra.items():
            if not ATTRIBUTE_KEY.match(key):
                raise ValueError(f"{key!r} is not a valid attribute name (lower-case letters, digits, _)")
            values = value if isinstance(value, list) else [value]
            if len(values) > MAX_LIST:
                raise ValueError(f"{key}: at most {MAX_LIST} values")
            for item in values:
                if not isinstance(item, Scalar):
                    raise ValueError(f"{key}: values are text, numbers or true/false (or a list of them)")
                if isinstance(item, str) and len(item) > 1000:
                    raise ValueError(f"{key}: a value is longer than 1000 characters")
        return self

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class WeeklyWindow(BaseModel):
    """A maintenance window that comes back every week."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    start: time
    end: time

    @field_validator("day", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        return value.strip().lower()[:3] if isinstance(value, str) else value

    @property
    def weekday(self) -> int:
        return DAYS.index(self.day)

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def as_json(self) -> dict[str, str]:
        return {"day": self.day, "start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}

    def __str__(self) -> str:
        return f"{self.day} {self.start:%H:%M}-{self.end:%H:%M}"


def parse_attributes(value: Any) -> ItemAttributes:
    if value in (None, ""):
        return ItemAttributes()
    if not isinstance(value, dict):
        raise ValidationError({"attributes": "Attributes are a JSON object of names and values."})
    try:
        return ItemAttributes.model_validate(value)
    except PydanticError as error:
        raise ValidationError({"attributes": _message(error)}) from error


def parse_windows(value: Any) -> list[WeeklyWindow]:
    """A list of ``{"day", "start", "end"}`` objects, or the text ``"sun 02:00-04:00; …"``."""
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        entries: list[Any] = []
        for part in (piece for piece in re.split(r"[;\n]", value) if piece.strip()):
            match = WINDOW_TEXT.match(part)
            if match is None:
                raise ValidationError(
                    {"maintenance_windows": f"{part.strip()!r}: write a window as 'sun 02:00-04:00'."}
                )
            entries.append(match.groupdict())
        value = entries
    if not isinstance(value, list):
        raise ValidationError({"maintenance_windows": "Maintenance windows are a list."})
    if len(value) > MAX_LIST:
        raise ValidationError({"maintenance_windows": f"At most {MAX_LIST} windows."})
    windows = []
    for entry in value:
        try:
            windows.append(WeeklyWindow.model_validate(entry))
        except PydanticError as error:
            raise ValidationError({"maintenance_windows": _message(error)}) from error
    return windows


# --- names, host names, addresses ----------------------------------------------------------------
def clean_name(value: Any, field: str = "name") -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise ValidationError({field: "A name is required."})
    if len(name) > 200:
        raise ValidationError({field: "A name is at most 200 characters."})
    return name


def as_list(value: Any, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = re.split(r"[;\n]", value)
    if not isinstance(value, list | tuple):
        raise ValidationError({field: "A list is expected."})
    values = [str(part).strip() for part in value if str(part).strip()]
    if len(values) > MAX_LIST:
        raise ValidationError({field: f"At most {MAX_LIST} values."})
    return values


def clean_aliases(value: Any) -> list[str]:
    seen: dict[str, str] = {}
    for alias in as_list(value, "aliases"):
        alias = clean_name(alias, "aliases")
        seen.setdefault(alias.lower(), alias)
    return list(seen.values())


def normalise_hostname(value: str) -> str | None:
    """``Web01.Example.COM.`` → ``web01.example.com``; None when it is no valid host name."""
    host = value.strip().lower().rstrip(".")
    if not host or len(host) > 253:
        return None
    labels = host.split(".")
    if not all(HOST_LABEL.match(label) for label in labels):
        return None
    if all(label.isdigit() for label in labels):
        return None  # 10.0.0.1 is an address, 2024 is a year
    return host


def clean_hostnames(value: Any) -> list[str]:
    hosts: list[str] = []
    for raw in as_list(value, "hostnames"):
        host = normalise_hostname(raw)
        if host is None:
            raise ValidationError({"hostnames": f"{raw!r} is not a valid host name."})
        if host not in hosts:
            hosts.append(host)
    return hosts


def normalise_ip(value: str) -> str | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]")).compressed
    except ValueError:
        return None


def clean_ip_addresses(value: Any) -> list[str]:
    addresses: list[str] = []
    for raw in as_list(value, "ip_addresses"):
        address = normalise_ip(raw)
        if address is None:
            raise ValidationError({"ip_addresses": f"{raw!r} is not an IPv4 or IPv6 address."})
        if address not in addresses:
            addresses.append(address)
    return addresses


def phrase_key(text: str) -> str:
    """How a name or alias is compared with a ticket's words: lower-case words, one space apart."""
    return " ".join(WORD.findall(text.lower()))


def phrase_keys(text: str) -> set[str]:
    """The keys a name or alias is found by: its words, and with ``-``/``_`` read as spaces
    (``mail-relay`` is also found written "mail relay")."""
    key = phrase_key(text)
    keys = {key}
    if "-" in key or "_" in key:
        keys.add(" ".join(WORD.findall(key.replace("-", " ").replace("_", " "))))
    return {key for key in keys if key}


SHAPE_PREFIX = "~"


def shape_key(label: str) -> str:
    """The shape of a numbered host name: ``k8s-node-3`` → ``~k8s-node-#``. A host named like
    known items (``k8s-node-4``) is worth suggesting even without a dot or a "server" before it."""
    return SHAPE_PREFIX + re.sub(r"\d+", "#", label)


def is_numbered_host(label: str) -> bool:
    return (
        len(label) >= 4
        and "." not in label
        and any(character.isdigit() for character in label)
        and any(character.isalpha() for character in label)
        and label[-1].isdigit()
    )


def is_hostlike(label: str) -> bool:
    """A short host name worth matching alone (web01, db-prod): not a plain word like ``mail``."""
    return any(character.isdigit() for character in label) or "-" in label

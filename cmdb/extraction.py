"""Which configuration items a ticket's text mentions.

Two steps:

1. ``find_mentions(fields)`` reads the text alone (no database): the words and phrases of up to
   four words (for names and aliases, compared whole and case-insensitively), host names and
   FQDNs, IPv4 and IPv6 addresses (checked with ``ipaddress``; version numbers such as
   ``10.2.3`` or ``version 1.2.3.4`` are not addresses), ``service@host`` forms, and host names
   introduced by a word such as "server" or "host". File names (``error.log``, ``foo.txt``)
   are not host names.
2. ``match(mentions)`` asks the index of item keys (``ItemKey``) once for all those keys
   (``key = ANY(…)``: one probe per key), loads the items found, and keeps the host names no
   item has as unknown hosts.

``extract(fields)`` does both: two indexed queries whatever the number of items (see
``bench/cmdb_extract.py``).
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection

from cmdb.models import ConfigurationItem, ItemKey, ItemStatus, MatchKind
from cmdb.structures import (
    SHAPE_PREFIX,
    WORD,
    is_hostlike,
    is_numbered_host,
    normalise_hostname,
    phrase_key,
    shape_key,
)

MAX_TEXT = 20_000  # characters read per field
MAX_PHRASE_WORDS = 4
# Strongest evidence first: when an item is found several ways, the best one is shown.
KIND_RANK = {
    MatchKind.IP_ADDRESS: 0,
    MatchKind.HOSTNAME: 1,
    MatchKind.SERVICE_AT_HOST: 2,
    MatchKind.NAME: 3,
    MatchKind.ALIAS: 4,
}

IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?:/\d{1,2})?(?![\w-]|\.\d)")
IPV6 = re.compile(r"(?<![\w:.%\]-])\[?([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?:%[\w.]+)?\]?(?![\w:])")
VERSION_BEFORE = re.compile(
    r"(?:\bv|\bversion|\bver\.?|\bbuild|\brelease|\brev\.?|\bkb)\s*[:=]?\s*$", re.IGNORECASE
)
EMAIL = re.compile(r"[\w.+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
SERVICE_AT_HOST = re.compile(r"(?<![\w.@+-])([A-Za-z][\w-]*)@([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)")
HOST_HINT = re.compile(
    r"\b(?:host(?:name)?|server|serveur|node|vm|machine|h[ôo]te)s?\s*[:=]?\s*"
    r"([A-Za-z][A-Za-z0-9-]*\d[A-Za-z0-9-]*)(?![\w-]|\.\w)",
    re.IGNORECASE,
)
UNIT_SUFFIXES = (".service", ".socket", ".timer")

FILE_EXTENSIONS = frozenset(
    """
    txt log logs pdf doc docx xls xlsx xlsm ppt pptx csv tsv json xml yaml yml ini cfg conf config
    toml sh bash zsh ps1 psm1 bat cmd vbs exe msi dll so dylib sys drv ko efi py pyc js mjs ts jsx
    tsx java jar war ear class rb pl pm php go rs c h cc cpp hpp cs swift kt scala lua r md rst adoc
    html htm css scss png jpg jpeg gif svg bmp ico tif tiff webp zip tar gz tgz bz2 xz 7z rar iso
    img vmdk vhd vhdx qcow2 ova ovf bak tmp old orig swp sql db sqlite dmp dump trc hprof core pem
    crt cer der key pfx p12 csr jks service socket timer mount target lock pid sock out err eml msg
    ics ldif reg inf env properties ipynb parquet avro orc mp4 mp3 wav mov avi ttf woff whl deb rpm
    apk dmg pkg bin dat cache tpl j2 twig erb vue aspx asp jsp do action cgi nupkg gradle pom lst tf
    tfvars
    """.split()  # noqa: SIM905 - a word list reads better as words
)
GENERIC_TLDS = frozenset(
    """
    com net org edu gov mil int info biz name pro io co ai app dev cloud tech online site xyz shop
    local lan corp internal intranet intra home localdomain example test invalid arpa
    """.split()  # noqa: SIM905 - a word list reads better as words
)
NOT_HOSTS = frozenset({"asp.net", "vb.net", "ado.net"})


@dataclass(frozen=True)
class Mention:
    key: str
    text: str
    field: str
    kind: str = ""  # how the text shows it: hostname, ip, service_at_host; "" for plain words


@dataclass
class Mentions:
    keys: dict[str, Mention] = field(default_factory=dict)  # first mention of each key
    hosts: dict[str, Mention] = field(default_factory=dict)  # host names that may be unknown items
    # Numbered single names (k8s-node-4) by shape: unknown hosts when items are named alike.
    shapes: dict[str, list[Mention]] = field(default_factory=dict)
    email_domains: set[str] = field(default_factory=set)

    def add(self, mention: Mention) -> None:
        previous = self.keys.get(mention.key)
        # A key seen as a host name or address keeps that reading over a plain word.
        if previous is None or (mention.kind and not previous.kind):
            self.keys[mention.key] = mention

    def add_host(self, mention: Mention) -> None:
        self.hosts.setdefault(mention.key, mention)


@dataclass(frozen=True)
class ItemMatch:
    item: ConfigurationItem
    kind: str
    text: str
    field: str
    unambiguous: bool


@dataclass(frozen=True)
class Extraction:
    items: list[ItemMatch]
    unknown_hosts: list[Mention]

    def item_names(self) -> set[str]:
        return {match.item.name for match in self.items}

    def host_names(self) -> set[str]:
        return {mention.key for mention in self.unknown_hosts}


# --- reading the text ----------------------------------------------------------------------------
def is_plausible_fqdn(host: str) -> bool:
    """A dotted name worth suggesting as an unknown host: a real-looking top-level domain,
    not a file name (``foo.txt``), an abbreviation (``e.g``) or a dotted version."""
    if host in NOT_HOSTS:
        return False
    labels = host.split(".")
    if len(labels) < 2:
        return False
    tld = labels[-1]
    if not tld.isalpha() or tld in FILE_EXTENSIONS:
        return False
    if len(tld) != 2 and tld not in GENERIC_TLDS:
        return False
    return any(len(label) >= 2 for label in labels[:-1])


def _is_version(text: str, start: int) -> bool:
    return bool(VERSION_BEFORE.search(text[max(0, start - 12) : start]))


def _addresses(text: str, field_name: str, mentions: Mentions) -> list[tuple[int, int]]:
    """IPv4 and IPv6 addresses; returns their spans so the word step skips them."""
    spans = []
    for found in IPV4.finditer(text):
        if _is_version(text, found.start()):
            spans.append(found.span())
            continue
        try:
            address = ipaddress.IPv4Address(found.group(1))
        except ValueError:
            continue
        spans.append(found.span())
        mentions.add(Mention(address.compressed, found.group(1), field_name, MatchKind.IP_ADDRESS))
    for found in IPV6.finditer(text):
        candidate = found.group(1)
        if "::" not in candidate and candidate.count(":") < 7:
            continue  # 10:30:45 is a time, 00:1a:2b:3c:4d:5e a MAC address
        if not any(character.isalnum() for character in candidate):
            continue
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        spans.append(found.span())
        mentions.add(Mention(address.compressed, candidate, field_name, MatchKind.IP_ADDRESS))
    return spans


def _words(text: str, field_name: str, mentions: Mentions, skip: list[tuple[int, int]]) -> None:
    words: list[tuple[str, int, int]] = []
    for found in WORD.finditer(text):
        start, end = found.span()
        if any(a <= start < b for a, b in skip):
            continue
        word = found.group(0).lower()
        words.append((word, start, end))
        if "." not in word:
            if is_numbered_host(word) and normalise_hostname(word):
                mention = Mention(word, found.group(0), field_name, MatchKind.UNKNOWN_HOST)
                mentions.shapes.setdefault(shape_key(word), []).append(mention)
            continue
        for suffix in UNIT_SUFFIXES:  # systemctl restart nginx.service → nginx
            if word.endswith(suffix) and len(word) > len(suffix):
                stem = word[: -len(suffix)]
                mentions.add(Mention(stem, found.group(0), field_name))
        host = normalise_hostname(word)
        if host is None or all(part.isdigit() for part in host.replace("-", "").split(".")):
            continue
        mentions.add(Mention(host, found.group(0), field_name, MatchKind.HOSTNAME))
        short = host.split(".", 1)[0]
        if is_hostlike(short):
            mentions.add(Mention(short, found.group(0), field_name, MatchKind.HOSTNAME))
        if is_plausible_fqdn(host):
            mentions.add_host(Mention(host, found.group(0), field_name, MatchKind.UNKNOWN_HOST))
    for index in range(len(words)):
        for size in range(1, MAX_PHRASE_WORDS + 1):
            if index + size > len(words):
                break
            chunk = words[index : index + size]
            key = " ".join(word for word, _, _ in chunk)
            mentions.add(Mention(key, text[chunk[0][1] : chunk[-1][2]], field_name))


def _forms(text: str, field_name: str, mentions: Mentions) -> None:
    for found in EMAIL.finditer(text):
        mentions.email_domains.add(found.group(1).lower())
    for found in SERVICE_AT_HOST.finditer(text):
        service, host_text = found.group(1), found.group(2).rstrip(".")
        host = normalise_hostname(host_text)
        if host is None:
            continue
        if "." in host:
            # john@example.com is an address, nginx@web01.example.com a service on a host: only
            # the items tell them apart (see match); remember the domain so it is not suggested.
            mentions.email_domains.add(host)
        mentions.add(Mention(phrase_key(service), found.group(0), field_name, MatchKind.SERVICE_AT_HOST))
        mentions.add(Mention(host, found.group(0), field_name, MatchKind.SERVICE_AT_HOST))
        if "." not in host and is_hostlike(host):
            mentions.add_host(Mention(host, found.group(0), field_name, MatchKind.UNKNOWN_HOST))
    for found in HOST_HINT.finditer(text):
        host = normalise_hostname(found.group(1))
        if host is not None:
            mentions.add(Mention(host, found.group(1), field_name, MatchKind.HOSTNAME))
            mentions.add_host(Mention(host, found.group(1), field_name, MatchKind.UNKNOWN_HOST))


def find_mentions(fields: dict[str, str]) -> Mentions:
    """Every way ``fields`` (name → text) may name an item, read from the text alone."""
    mentions = Mentions()
    for field_name, value in fields.items():
        text = (value or "")[:MAX_TEXT]
        if not text.strip():
            continue
        spans = _addresses(text, field_name, mentions)
        _words(text, field_name, mentions, spans)
        _forms(text, field_name, mentions)
    for domain in mentions.email_domains:
        mentions.hosts.pop(domain, None)
    return mentions


# --- matching against the items ---------------------------------------------------------------------
def _kind_for(item: ConfigurationItem, key: str, mention: Mention) -> str:
    if mention.kind == MatchKind.IP_ADDRESS:
        return MatchKind.IP_ADDRESS
    if mention.kind == MatchKind.SERVICE_AT_HOST:
        return MatchKind.SERVICE_AT_HOST
    if key == phrase_key(item.name):
        return MatchKind.NAME
    if any(key == phrase_key(alias) for alias in item.aliases):
        return MatchKind.ALIAS
    return MatchKind.HOSTNAME


def match(mentions: Mentions) -> Extraction:
    """The items ``mentions`` name (retired ones left out) and the host names no item has."""
    if not mentions.keys and not mentions.shapes:
        return Extraction(items=[], unknown_hosts=[])
    table = ItemKey._meta.db_table
    with connection.cursor() as cursor:
        # Array parameters, not one placeholder per key: a ticket with logs asks for thousands
        # of keys, and the planner reads "= ANY" as that many index probes. A shape (thousands
        # of servers may be numbered alike) only needs to exist: one probe, not every row.
        cursor.execute(
            f"SELECT key, item_id FROM {table} WHERE key = ANY(%s) "  # noqa: S608 - our table
            f"UNION ALL SELECT shape.key, NULL FROM unnest(%s::varchar[]) AS shape(key) "
            f"WHERE EXISTS (SELECT 1 FROM {table} AS known WHERE known.key = shape.key)",
            [sorted(mentions.keys), sorted(mentions.shapes)],
        )
        pairs = cursor.fetchall()
    keys_of: dict[int, list[str]] = defaultdict(list)
    owners: dict[str, set[int]] = defaultdict(set)
    sibling_shapes: set[str] = set()
    for key, item_id in pairs:
        if key.startswith(SHAPE_PREFIX):
            sibling_shapes.add(key)  # only named alike (a sibling host): not a match
            continue
        keys_of[item_id].append(key)
        owners[key].add(item_id)
    known_keys = set(owners)
    found = ConfigurationItem.objects.filter(pk__in=list(keys_of)).exclude(status=ItemStatus.RETIRED)
    matches = []
    for item in found.only("id", "name", "type", "environment", "status", "aliases", "owner_team_id"):
        keys = keys_of[item.pk]
        ranked = sorted(
            ((KIND_RANK[_kind_for(item, key, mentions.keys[key])], key) for key in keys),
            key=lambda pair: (pair[0], -len(pair[1])),
        )
        best = ranked[0][1]
        mention = mentions.keys[best]
        matches.append(
            ItemMatch(
                item=item,
                kind=_kind_for(item, best, mention),
                text=mention.text[:300],
                field=mention.field,
                unambiguous=any(len(owners[key]) == 1 for key in keys),
            )
        )
    matches.sort(key=lambda match: match.item.name.lower())
    hosts = dict(mentions.hosts)
    for shape in sibling_shapes:
        for mention in mentions.shapes[shape]:
            hosts.setdefault(mention.key, mention)
    unknown = [mention for key, mention in sorted(hosts.items()) if key not in known_keys]
    return Extraction(items=matches, unknown_hosts=unknown)


def extract(fields: dict[str, str]) -> Extraction:
    return match(find_mentions(fields))


def ticket_fields(ticket: object) -> dict[str, str]:
    """The parts of a ticket extraction reads: title, description, service and metadata["ci"]."""
    metadata = getattr(ticket, "metadata", None) or {}
    ci = metadata.get("ci", "") if isinstance(metadata, dict) else ""
    if isinstance(ci, list | tuple):
        ci = "\n".join(str(part) for part in ci)
    return {
        "title": getattr(ticket, "title", "") or "",
        "description": getattr(ticket, "description", "") or "",
        "service": getattr(ticket, "service", "") or "",
        "metadata": str(ci or ""),
    }

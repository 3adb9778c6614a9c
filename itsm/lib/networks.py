"""IP addresses and ranges: the client's address behind trusted proxies, and allowlists of CIDR ranges."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The prefix that makes two sign-ins "from the same place": a /24 for IPv4 (one site's NAT
# range), a /48 for IPv6 (one site's allocation).
IPV4_SITE_PREFIX = 24
IPV6_SITE_PREFIX = 48


def _parse_address(text: str) -> Address | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443``, ``2001:db8::1``."""
    text = text.strip()
    if text.startswith("["):  # [v6]:port
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_ip(request: HttpRequest) -> str:
    """The client's address.

    ``REMOTE_ADDR`` unless ``TRUSTED_PROXY_COUNT`` proxies are in front of us: then each of them
    appended the address it saw to ``X-Forwarded-For``, so the right-most address that none of
    them wrote (the N-th from the right) is the client's. Anything left of it was written by the
    client and is not believed.
    """
    remote = _parse_address(request.META.get("REMOTE_ADDR", "") or "")
    trusted = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted > 0 and forwarded:
        hops = [hop for hop in forwarded.split(",") if hop.strip()]
        # Fewer hops than proxies: the request reached us through part of the chain only, so
        # every hop present was written by a trusted proxy and the left-most is the client.
        candidate = hops[-trusted] if len(hops) >= trusted else hops[0] if hops else ""
        address = _parse_address(candidate)
        if address is not None:
            return str(address)
        logger.warning("Unreadable X-Forwarded-For hop %r: using REMOTE_ADDR", candidate[:60])
    return str(remote) if remote is not None else "0.0.0.0"  # noqa: S104 - "unknown", never matched


def parse_networks(text: str) -> list[Network]:
    """One range per line (``10.0.0.0/8``, ``2001:db8::/32``, or one address); ``#`` starts a comment.

    Raises ``ValidationError`` naming every line that is not a range, so the form shows them all.
    """
    networks: list[Network] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            networks.append(ipaddress.ip_network(line, strict=True))
        except ValueError:
            try:
                loose = ipaddress.ip_network(line, strict=False)
            except ValueError:
                errors.append(
                    _("Line %(number)d: “%(value)s” is not an IPv4 or IPv6 range (e.g. 10.0.0.0/8).")
                    % {"number": number, "value": line[:60]}
                )
            else:
                errors.append(
                    _("Line %(number)d: “%(value)s” has bits set after the prefix; did you mean %(network)s?")
                    % {"number": number, "value": line[:60], "network": loose}
                )
    if errors:
        raise ValidationError(errors)
    return networks


def address_allowed(address: str, networks: Iterable[Network]) -> bool:
    """Whether ``address`` lies in one of ``networks``; an empty list allows every address."""
    networks = list(networks)
    if not networks:
        return True
    parsed = _parse_address(address)
    if parsed is None:
        return False
    return any(parsed.version == network.version and parsed in network for network in networks)


def site_of(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) range of an address, to tell a new place from a known one."""
    parsed = _parse_address(address)
    if parsed is None:
        return ""
    prefix = IPV4_SITE_PREFIX if parsed.version == 4 else IPV6_SITE_PREFIX
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))

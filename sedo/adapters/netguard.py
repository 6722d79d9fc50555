"""Where HTTP invoke targets may not go: link-local and cloud metadata addresses.

A workflow author chooses the URL an ``invoke`` step calls, and sedo makes the call
from inside the deployment. Without a guard, ``http://169.254.169.254/...`` would
hand the Lambda role's credentials to whoever wrote the definition. So before each
call the URL's host is resolved and every address it resolves to is checked:

- forbidden: link-local (169.254.0.0/16, fe80::/10, where AWS, GCP and Azure serve
  instance metadata and the ECS/EKS credential endpoints), the other well-known
  metadata addresses (fd00:ec2::254, 100.100.100.200, 168.63.129.16, 192.0.0.192),
  "this host" and unspecified addresses (0.0.0.0/8, ::), multicast, broadcast and
  reserved space; IPv4 addresses embedded in IPv6 (::ffff:a.b.c.d, 64:ff9b::/96,
  2002::/16) are checked as the IPv4 address they carry;
- allowed: everything else, including loopback (so tests and ``make run`` can serve
  targets on 127.0.0.1) and private ranges (VPC services);
- ``SEDO_HTTP_ALLOW_CIDRS`` (comma-separated CIDRs) lifts the ban for those ranges,
  for a deployment that really means to call one of them.

Only ``http`` and ``https`` URLs pass. :func:`check_url` returns the addresses it
vetted: a caller that connects to one of those (rather than resolving the name
again) is also safe from DNS rebinding between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

#: Networks no invoke target may resolve to (unless allowed by configuration).
FORBIDDEN_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host
        "169.254.0.0/16",  # link-local: EC2/GCP/Azure metadata 169.254.169.254, ECS 169.254.170.2
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "168.63.129.16/32",  # Azure wire server
        "192.0.0.192/32",  # Oracle Cloud metadata
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
        "::/128",  # unspecified
        "fe80::/10",  # link-local
        "fd00:ec2::254/128",  # EC2 metadata over IPv6
        "ff00::/8",  # multicast
    )
)

ALLOWED_SCHEMES = ("http", "https")


class ForbiddenTarget(PermissionError):
    """The URL may not be called: its scheme, or an address its host resolves to."""


def parse_cidrs(text: str | Iterable[str] | None) -> tuple[IPNetwork, ...]:
    """``"10.0.0.0/8, 169.254.170.2/32"`` -> networks; ValueError naming a bad entry."""
    if text is None:
        return ()
    parts = text.split(",") if isinstance(text, str) else list(text)
    networks = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"SEDO_HTTP_ALLOW_CIDRS: {part!r} is not a CIDR range ({exc})") from None
    return tuple(networks)


def _system_resolver(host: str, port: int) -> Sequence[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


def forbidden_reason(address: str | IPAddress, allow: Iterable[IPNetwork] = ()) -> str | None:
    """Why sedo may not connect to ``address``, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
    allowed = tuple(allow)
    candidates: list[IPAddress] = [ip]
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        candidates.append(embedded)
    for candidate in candidates:
        if any(candidate.version == net.version and candidate in net for net in allowed):
            return None
    for candidate in candidates:
        for network in FORBIDDEN_NETWORKS:
            if candidate.version == network.version and candidate in network:
                return f"{ip} is in {network}, which invoke targets may not reach"
    return None


def check_url(
    url: str,
    allow: Iterable[IPNetwork] = (),
    resolve: Resolver = _system_resolver,
) -> list[str]:
    """Resolve ``url``'s host and vet every address; :class:`ForbiddenTarget` if any is forbidden.

    Returns the vetted addresses (to connect to one of them). A host that does not
    resolve raises :class:`ForbiddenTarget` too, with the resolver's reason.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ForbiddenTarget(f"{url!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise ForbiddenTarget(f"{url!r}: only http and https URLs may be invoked, not {scheme or 'no scheme'!r}")
    host = parts.hostname
    if not host:
        raise ForbiddenTarget(f"{url!r} names no host")
    if port is None:
        port = 443 if scheme == "https" else 80
    allowed = tuple(allow)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = list(dict.fromkeys(resolve(host, port)))
        except (OSError, UnicodeError) as exc:
            raise ForbiddenTarget(f"{host!r} does not resolve: {exc}") from None
        if not addresses:
            raise ForbiddenTarget(f"{host!r} does not resolve to any address")
    for address in addresses:
        reason = forbidden_reason(address, allowed)
        if reason is not None:
            shown = host if literal is not None else f"{host} ({address})"
            raise ForbiddenTarget(
                f"{shown}: {reason}; a deployment that must call it adds the range to SEDO_HTTP_ALLOW_CIDRS"
            )
    return addresses


def guard_for(settings: Any, resolve: Resolver = _system_resolver) -> Callable[[str], list[str]]:
    """The check configured by ``settings.http_allow_cidrs``, as a one-argument callable."""
    allow = parse_cidrs(getattr(settings, "http_allow_cidrs", ()) or ())

    def guard(url: str) -> list[str]:
        return check_url(url, allow, resolve)

    return guard


__all__ = ["FORBIDDEN_NETWORKS", "ForbiddenTarget", "check_url", "forbidden_reason", "guard_for", "parse_cidrs"]

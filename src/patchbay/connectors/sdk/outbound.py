"""The outbound guard: every connector's HTTP goes through one transport that refuses
private, loopback, link-local and other non-public targets unless
``PATCHBAY_OUTBOUND_ALLOW`` admits them.

The check happens where the TCP connection is opened: the transport's resolver
(``transport.py``) vets *every* address a hostname resolves to (one bad answer refuses the
whole name, so mixed DNS answers cannot sneak through), and the connection is made to a
vetted IP without resolving again (no window for DNS rebinding); IP-literal hosts are vetted
before the request. Redirects are new requests
through the same transport, so they are vetted too. TLS still uses the URL's hostname
for SNI and certificate verification. Pooled connections are reused unchecked: the guard
costs one resolution and one check per *new* connection only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import httpx

__all__ = ["OutboundBlocked", "OutboundPolicy"]

SETTING = "PATCHBAY_OUTBOUND_ALLOW"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix, RFC 6052
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_IP_LIKE = re.compile(r"[0-9a-fA-F.:/\[\]]*[:/][0-9a-fA-F.:/\[\]]*")


class OutboundBlocked(httpx.ConnectError):
    """A connector tried to reach an address the outbound policy does not admit."""

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        address: str | None = None,
        reason: str | None = None,
        request: httpx.Request | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.host = host
        self.address = address
        self.reason = reason


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address stands for, and how (mapped, 6to4, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    return None


def _non_public_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address, or None if it is one."""
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)):
        v4, how = embedded
        reason = _non_public_reason(v4)  # the IPv4 address decides where it really goes
        return None if reason is None else f"{how} {reason}"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip in _METADATA:
        return "cloud metadata address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:  # Python < 3.13 counts multicast as global
        return "multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local address"
    if ip.is_reserved:
        return "reserved address"
    if ip.is_private:
        return "private address"
    if ip in _SHARED_SPACE:
        return "shared (carrier-grade NAT) address"
    if not ip.is_global:
        return "non-global address"
    return None


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


class OutboundPolicy:
    """Which non-public targets outbound requests may reach.

    Public (global) addresses always pass. A non-public address passes only if the URL's
    hostname matches an allowed hostname entry or the address lies in an allowed network.
    """

    def __init__(
        self,
        *,
        hostnames: Iterable[str] = (),
        domains: Iterable[str] = (),
        networks: Iterable[IPNetwork] = (),
        allow_all: bool = False,
    ) -> None:
        self.allow_all = allow_all
        self.hostnames = frozenset(hostnames)  # exact matches
        self.domains = tuple(domains)  # ".example.com": any subdomain of example.com
        self.networks = tuple(networks)

    @classmethod
    def from_setting(cls, allow: str | list[str] | None) -> OutboundPolicy:
        """Parse ``PATCHBAY_OUTBOUND_ALLOW``: comma-separated hostnames, IPs and CIDRs.

        ``*`` allows everything. A hostname matches exactly (case-insensitive); a leading
        ``*.`` or ``.`` matches any subdomain (not the bare domain itself).
        """
        raw = allow.split(",") if isinstance(allow, str) else list(allow or [])
        entries = [e.strip() for e in raw if e and e.strip()]
        if "*" in entries:
            return cls(allow_all=True)
        hostnames: list[str] = []
        domains: list[str] = []
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError as exc:
                if _IP_LIKE.fullmatch(entry):  # meant as an IP or CIDR, not a hostname
                    raise ValueError(
                        f"Invalid {SETTING} entry {entry!r}: {exc} "
                        "(expected an IP address or CIDR network such as 10.0.0.0/8)"
                    ) from None
            wildcard = entry.startswith(("*.", "."))
            name = _normalise_host(entry.removeprefix("*").removeprefix("."))
            if not name.isascii():
                try:
                    name = name.encode("idna").decode("ascii")
                except UnicodeError:
                    name = ""
            if len(name) > 253 or not all(_LABEL.fullmatch(lbl) for lbl in name.split(".")):
                raise ValueError(
                    f"Invalid {SETTING} entry {entry!r}: expected a hostname "
                    "(optionally '*.domain'), an IP address, a CIDR network or '*'"
                )
            if wildcard:
                domains.append("." + name)
            else:
                hostnames.append(name)
        return cls(hostnames=hostnames, domains=domains, networks=networks)

    def check(self, host: str, address: str) -> None:
        """Raise :class:`OutboundBlocked` unless connecting to ``address`` (resolved for
        the URL hostname ``host``) is allowed."""
        if self.allow_all:
            return
        ip = _parse_ip(address)
        if ip is None:
            reason = "not an IP address"
        else:
            reason = _non_public_reason(ip)
            if reason is None or self._admits(host, ip):
                return
        name = _normalise_host(host)
        target = address if name == _normalise_host(address) else f"{host} ({address})"
        raise OutboundBlocked(
            f"Outbound request to {target} refused: {reason} (allow it with {SETTING})",
            host=host,
            address=address,
            reason=reason,
        )

    def _admits(self, host: str, ip: IPAddress) -> bool:
        name = _normalise_host(host)
        if name in self.hostnames or name.endswith(self.domains):
            return True
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)):
            candidates.append(embedded[0])
        return any(c in net for c in candidates for net in self.networks)

    def __repr__(self) -> str:
        if self.allow_all:
            return "OutboundPolicy(allow_all=True)"
        entries = [*sorted(self.hostnames), *("*" + d for d in self.domains), *self.networks]
        return f"OutboundPolicy({', '.join(map(str, entries)) or 'public only'})"

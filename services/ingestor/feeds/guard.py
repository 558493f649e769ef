"""Fetching that cannot be turned against us: which sources, addresses and redirects we follow.

* Feed sources are http(s) URLs. Local paths and ``file://`` URLs are read only inside one
  of the configured directories (`FeedSettings.local_dirs`, ``FEED_LOCAL_DIRS``).
* Connections go only to public addresses: loopback, private, link-local (cloud metadata at
  169.254.169.254 included), shared, reserved and multicast ones are refused unless
  `FeedSettings.allowed_hosts` (``FEED_ALLOWED_HOSTS``) names the address, its network or
  the host name. The check runs at connect time on the resolved addresses, and the
  connection is made to a checked address, so a name cannot resolve to one address when
  checked and to another when used; every redirect hop is checked the same way.
* A redirect may keep or upgrade the scheme (http -> https), never leave http(s) or go from
  https to http, and at most `max_redirects` are followed.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.abc import ResolveResult

from services.ingestor.feeds.model import FetchError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
WEB_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which non-public addresses the operator allowed (networks and host names)."""

    networks: tuple[IpNetwork, ...] = ()
    names: frozenset[str] = frozenset()

    @classmethod
    def from_entries(cls, entries: Sequence[str]) -> AddressPolicy:
        networks: list[IpNetwork] = []
        names: set[str] = set()
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(names))

    def allows(self, host: str, address: str) -> bool:
        if host.lower().rstrip(".") in self.names:
            return True
        ip = _plain(ipaddress.ip_address(address.split("%", 1)[0]))
        if any(ip in network for network in self.networks):
            return True
        return ip.is_global and not ip.is_multicast

    def check_literal(self, host: str) -> None:
        """Refuses an IP-literal host before any connection is tried."""
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # a name: checked when it is resolved
        if not self.allows(host, host.strip("[]")):
            raise _refused(host, host)


def _plain(ip: IpAddress) -> IpAddress:
    """An IPv4 address written as IPv6 (::ffff:127.0.0.1) is judged as the IPv4 one."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _refused(host: str, address: str) -> FetchError:
    what = host if host.strip("[]") == address else f"{host} resolves to {address}, which"
    return FetchError(
        "refused",
        f"{what} is a loopback, private, link-local or otherwise non-public address; "
        "name it in FEED_ALLOWED_HOSTS to allow it",
    )


class GuardedConnector(aiohttp.TCPConnector):
    """A connector that connects only to addresses the policy allows, checked once resolved."""

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        super().__init__(use_dns_cache=False, **kwargs)
        self._policy = policy

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Any] | None = None
    ) -> list[ResolveResult]:
        resolved = await super()._resolve_host(host, port, traces)
        allowed = [r for r in resolved if self._policy.allows(host, r["host"])]
        if not allowed:
            raise _refused(host, ", ".join(sorted({r["host"] for r in resolved})))
        return allowed


def check_web_url(url: str, policy: AddressPolicy) -> None:
    """An http(s) URL with a host; an IP-literal host must be allowed."""
    parts = _split(url)
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme.lower() not in WEB_SCHEMES or not host:
        raise FetchError("refused", f"not an http(s) URL: {url}")
    policy.check_literal(host)


def _split(url: str) -> urllib.parse.SplitResult:
    try:
        return urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise FetchError("refused", f"not a valid URL ({exc}): {url}") from exc


def check_redirect(current: str, target: str, policy: AddressPolicy) -> None:
    """A redirect may keep or upgrade its scheme; it is checked like the first URL."""
    scheme = _split(target).scheme.lower()
    if scheme not in WEB_SCHEMES:
        raise FetchError("refused", f"redirect to a {scheme or 'relative'}: URL refused: {target}")
    if urllib.parse.urlsplit(current).scheme.lower() == "https" and scheme == "http":
        raise FetchError("refused", f"redirect from https to http refused: {target}")
    check_web_url(target, policy)


def local_source(source: str, local_dirs: Sequence[Path]) -> Path | None:
    """The file a local source names, if it is inside an allowed directory; None for a URL.

    Raises `FetchError("refused")` for a local file outside them and for any other scheme.
    """
    parts = _split(source)
    scheme = parts.scheme.lower()
    if scheme in WEB_SCHEMES:
        return None
    if scheme == "file":
        path = Path(urllib.request.url2pathname(parts.path))
    elif not scheme or len(scheme) == 1:  # a path (or a Windows drive letter)
        path = Path(source)
    else:
        raise FetchError("refused", f"unsupported source scheme {scheme!r}: use http(s)")
    try:
        resolved = path.resolve()
    except (OSError, ValueError) as exc:
        raise FetchError("refused", f"not a usable path ({exc}): {source!r}") from exc
    if not any(resolved.is_relative_to(Path(d).resolve()) for d in local_dirs):
        where = ", ".join(str(d) for d in local_dirs) or "none are configured"
        raise FetchError(
            "refused",
            f"local file {path} is outside the feed directories ({where}); "
            "set FEED_LOCAL_DIRS to read local feeds",
        )
    return resolved
